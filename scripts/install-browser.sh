#!/bin/sh
# Install Chromium, the browser the dashboard's browser tests (tests/ui) drive, when it is missing.
#
#   sh scripts/install-browser.sh
#
# Safe to run any number of times: when a Chromium is already there it only checks that it
# starts (about a second). It never fails the command that calls it: when Chromium cannot
# be installed or cannot start here, it says so in one line, and the browser tests skip with that
# reason (the rest of the suite, the dashboard's own HTTP tests included, still runs). It uses
# the system's package (Debian's `chromium`), never a browser downloaded by Playwright.
# Installing needs root or password-less sudo; nothing is ever prompted for.

say() { printf 'install-browser: %s\n' "$*"; }

fallback() {
    say "$1"
    say "the dashboard's browser tests will be skipped; everything else runs."
    exit 0
}

# where tests/ui looks for it (RECURSOR_CHROMIUM overrides)
find_browser() {
    for b in "${RECURSOR_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
        if [ -n "$b" ] && [ -x "$b" ]; then
            echo "$b"
            return 0
        fi
    done
    return 1
}

# a browser that hangs at start must not hang the command that calls this script
limit=""
if command -v timeout >/dev/null 2>&1; then
    limit="timeout 30"
fi

check() {
    if out=$($limit "$1" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --dump-dom about:blank 2>&1 >/dev/null); then
        say "ok: $("$1" --version 2>/dev/null || echo chromium) starts here ($1)."
        exit 0
    fi
    fallback "$1 is installed but does not start here (${out:+$(printf '%s' "$out" | tail -n 1)}${out:-no message})."
}

if browser=$(find_browser); then
    check "$browser"
fi

if [ "$(uname -s 2>/dev/null)" != "Linux" ]; then
    fallback "this script installs Chromium on Linux only; this is $(uname -s 2>/dev/null || echo unknown)" \
        "(set RECURSOR_CHROMIUM to a Chromium or Chrome binary to run the browser tests)."
fi

# root runs the package manager directly; otherwise only a sudo that will not ask a password
if [ "$(id -u)" = 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    as_root="sudo -n"
else
    fallback "Chromium is not installed, and installing it needs root (or password-less sudo):" \
        "ask an administrator to install the 'chromium' package."
fi

log=$(mktemp 2>/dev/null || echo /tmp/install-browser.$$)
trap 'rm -f "$log"' EXIT

install() {
    if command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        # stale package lists are the usual reason for "unable to locate package": update once
        $as_root apt-get install -y -qq --no-install-recommends chromium >"$log" 2>&1 ||
            { $as_root apt-get update -qq >>"$log" 2>&1 &&
              $as_root apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1; }
    elif command -v dnf >/dev/null 2>&1; then
        $as_root dnf install -y -q chromium >"$log" 2>&1
    elif command -v yum >/dev/null 2>&1; then
        $as_root yum install -y -q chromium >"$log" 2>&1
    elif command -v apk >/dev/null 2>&1; then
        $as_root apk add --quiet chromium >"$log" 2>&1
    elif command -v pacman >/dev/null 2>&1; then
        $as_root pacman -S --noconfirm --needed chromium >"$log" 2>&1
    elif command -v zypper >/dev/null 2>&1; then
        $as_root zypper --non-interactive --quiet install chromium >"$log" 2>&1
    else
        echo "no known package manager (apt-get, dnf, yum, apk, pacman, zypper) found" >"$log"
        return 1
    fi
}

say "Chromium is not installed; installing it..."
if install && browser=$(find_browser); then
    check "$browser"
fi
fallback "could not install Chromium: $(tail -n 1 "$log" 2>/dev/null)"
