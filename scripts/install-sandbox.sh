#!/bin/sh
# Install bubblewrap (bwrap), the sandbox recursor runs candidate programs in, when it is missing.
#
#   sh scripts/install-sandbox.sh
#
# Safe to run any number of times: when bwrap is already there it only checks that it works
# (a few milliseconds). It never fails the command that calls it: when bwrap cannot be installed
# or cannot run here, it says so in one line, and recursor falls back to a weaker sandbox
# (`unshare`: no network but the file system is shared; or `none`), which `recursor run`
# names in its log. Installing needs root or password-less sudo; nothing is ever prompted for.

say() { printf 'install-sandbox: %s\n' "$*"; }

fallback() {
    say "$1"
    say "recursor will fall back to a weaker sandbox (unshare, else none: the candidate program" \
        "can then read and write what your user can)."
    exit 0
}

# the namespaces bwrap needs may be refused even when it is installed (containers, hardened
# kernels): try the same kind of sandbox recursor asks for, on a trivial command
check() {
    if out=$(bwrap --unshare-all --die-with-parent --ro-bind / / --proc /proc --dev /dev \
        true 2>&1); then
        say "ok: $(bwrap --version 2>/dev/null || echo bwrap) works here ($(command -v bwrap))."
        exit 0
    fi
    hint="allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1;"
    hint="$hint on Ubuntu 24.04 also kernel.apparmor_restrict_unprivileged_userns=0),"
    hint="$hint or run the container with --security-opt seccomp=unconfined"
    hint="$hint --security-opt apparmor=unconfined"
    fallback "bwrap is installed but cannot create its namespaces here (${out:-no message}): $hint."
}

if [ "$(uname -s 2>/dev/null)" != "Linux" ]; then
    fallback "bubblewrap needs Linux; this is $(uname -s 2>/dev/null || echo an unknown system)."
fi

if command -v bwrap >/dev/null 2>&1; then
    check
fi

# root runs the package manager directly; otherwise only a sudo that will not ask a password
if [ "$(id -u)" = 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    as_root="sudo -n"
else
    fallback "bubblewrap is not installed, and installing it needs root (or password-less sudo):" \
        "ask an administrator to install the 'bubblewrap' package."
fi

log=$(mktemp 2>/dev/null || echo /tmp/install-sandbox.$$)
trap 'rm -f "$log"' EXIT

install() {
    if command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        # stale package lists are the usual reason for "unable to locate package": update once
        $as_root apt-get install -y -qq --no-install-recommends bubblewrap >"$log" 2>&1 ||
            { $as_root apt-get update -qq >>"$log" 2>&1 &&
              $as_root apt-get install -y -qq --no-install-recommends bubblewrap >>"$log" 2>&1; }
    elif command -v dnf >/dev/null 2>&1; then
        $as_root dnf install -y -q bubblewrap >"$log" 2>&1
    elif command -v yum >/dev/null 2>&1; then
        $as_root yum install -y -q bubblewrap >"$log" 2>&1
    elif command -v apk >/dev/null 2>&1; then
        $as_root apk add --quiet bubblewrap >"$log" 2>&1
    elif command -v pacman >/dev/null 2>&1; then
        $as_root pacman -S --noconfirm --needed bubblewrap >"$log" 2>&1
    elif command -v zypper >/dev/null 2>&1; then
        $as_root zypper --non-interactive --quiet install bubblewrap >"$log" 2>&1
    else
        echo "no known package manager (apt-get, dnf, yum, apk, pacman, zypper) found" >"$log"
        return 1
    fi
}

say "bubblewrap is not installed; installing it..."
if install && command -v bwrap >/dev/null 2>&1; then
    check
fi
fallback "could not install bubblewrap: $(tail -n 1 "$log" 2>/dev/null)"
