"""A researcher that is a coding agent's headless CLI: Claude Code, Codex, or any command.

The agent runs in a fresh temporary copy of the parent's files (never a node's workspace) with
the task brief as its prompt; the diff it leaves is the patch (checked to reproduce its files
when the loop applies it), its final answer the idea. Same auditor, same judge as any proposer.

`command` is an argv with placeholders: `{prompt}` (the text), `{prompt_file}` (a file holding
it, outside the copy), `{workspace}` (the copy); with no prompt placeholder the prompt goes to
stdin (Linux caps one argument at 128 KiB: use a file or stdin for very long briefs). Checked in
the vendors' documentation:

- Claude Code (docs.claude.com "Headless mode", code.claude.com "Permission modes"):
  ``claude -p {prompt} --output-format text --permission-mode acceptEdits``. `-p` prints only
  the final answer; `acceptEdits` approves file edits (and mkdir, mv, cp) but no other command:
  `--allowedTools "<tools>"` (comma- or space-separated) allows more.
- Codex (developers.openai.com/codex/noninteractive; openai/codex PRs #4583, #4752):
  ``codex exec --full-auto --skip-git-repo-check {prompt}``. It prints the final message on
  stdout, progress on stderr; `--full-auto` lets it edit (newer releases prefer `--sandbox
  workspace-write`); outside a Git repository (the copy is not one) it needs the last flag.

Environment: by default ours (the agent needs its API key and PATH) minus every `RECURSOR_*`
variable (recursor's own settings and secrets); `env=` replaces it whole, so recursor's variables
reach the agent only if passed. Nothing of the agent's reaches an experiment's environment.
Not covered: a killed recursor leaves a running agent be; a process that escapes the agent's
process group (setsid) outlives the timeout.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from recursor import patch as patches
from recursor.errors import PatchError
from recursor.executor.process import kill_group
from recursor.proposer.base import Proposal, ProposalContext, ProposalFailed
from recursor.proposer.brief import task_brief
from recursor.proposer.llm.answer import CATEGORIES  # one list of categories for every proposer
from recursor.store.records import Idea

TAIL = 4000  # characters of stdout/stderr kept per attempt
JUNK_DIRS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".ipynb_checkpoints"}
MAX_FILE_BYTES = 1 << 20  # bigger new files are outputs (checkpoints, logs), not code
_LABEL = re.compile(r"^[\s*#>_-]*(TITLE|CATEGORY|HYPOTHESIS|RATIONALE)[*_\s]*:[*_]*\s*(.*)$", re.IGNORECASE)

INSTRUCTIONS = f"""\
## Your job
The current folder holds a copy of the parent's files. Implement ONE idea that you expect to
improve the metric, by editing the editable files there in place; the changes you leave are the
patch, audited and judged on fresh seeds like every other proposal.
- Change only the editable files: create, delete or rename nothing, and remove any scratch file.
- Do not run training or the harness (no data is here; the loop runs every experiment). A quick
  syntax check is fine.
- End your final answer with these lines:
TITLE: <one line naming the change>
CATEGORY: <one of: {', '.join(CATEGORIES)}>
HYPOTHESIS: <what will happen to the metric, by about how much, and why>
RATIONALE: <the mechanism and its source; this may run over several lines>"""


class AgentError(ProposalFailed):  # a RecursorError; the loop records it and goes on
    """Every attempt of the agent failed; `attempts` says how (exit codes, output tails)."""

    def __init__(self, reason: str, attempts: Sequence[Attempt] = ()):
        super().__init__(reason)
        self.attempts = list(attempts)


@dataclass(frozen=True)
class Attempt:
    number: int
    exit_code: int | None  # None: timed out, or never started
    seconds: float
    stdout_tail: str
    stderr_tail: str
    outcome: str  # "ok", or why the attempt gave no proposal


class AgentProposer:
    def __init__(self, command: Sequence[str], name: str = "agent", timeout: float = 900,
                 env: Mapping[str, str] | None = None, max_attempts: int = 2):
        if not command:
            raise ValueError("the agent command is empty: give the agent's command line")
        if max_attempts < 1 or timeout <= 0:
            raise ValueError("max_attempts must be >= 1 and timeout > 0")
        self.command, self.name, self.timeout = list(command), name, timeout
        self.env, self.max_attempts = env, max_attempts
        self.attempts: list[Attempt] = []  # of the last `propose` call, for the caller to store
        self.prompt = ""  # the last prompt given, retry notes included

    def has_ideas_for(self, ctx: ProposalContext) -> bool:
        return True  # an agent can always try

    def propose(self, ctx: ProposalContext) -> Proposal:
        self.attempts = []
        base = task_brief(ctx) + "\n\n" + INSTRUCTIONS
        failures: list[str] = []
        for number in range(1, self.max_attempts + 1):
            self.prompt = base
            if failures:
                self.prompt += ("\n\n## Your previous attempts failed (this is a fresh copy)\n"
                                + "\n".join(f"- {f}" for f in failures))
            proposal, why = self._attempt(number, ctx)
            if proposal is not None:
                return proposal
            failures.append(f"attempt {number}: {why}")
            if self.attempts[-1].exit_code is None and why.startswith("could not start"):
                break  # a missing program stays missing
        raise AgentError(f"agent {self.name} gave no usable change in {len(self.attempts)} "
                         "attempt(s): " + "; ".join(failures), self.attempts)

    def _attempt(self, number: int, ctx: ProposalContext) -> tuple[Proposal | None, str]:
        with tempfile.TemporaryDirectory(prefix="recursor-agent-", ignore_cleanup_errors=True) as tmp:
            root = Path(tmp)
            work = root / "workspace"
            for path, text in ctx.parent_files.items():
                (work / path).parent.mkdir(parents=True, exist_ok=True)
                (work / path).write_bytes(text.encode())  # bytes: no newline translation
            prompt_file = root / "prompt.md"
            prompt_file.write_text(self.prompt, encoding="utf-8")
            argv = [part.replace("{workspace}", str(work)).replace("{prompt_file}", str(prompt_file))
                    .replace("{prompt}", self.prompt) for part in self.command]
            via_stdin = not any("{prompt}" in p or "{prompt_file}" in p for p in self.command)
            code, seconds, why = self._run(argv, work, prompt_file if via_stdin else None, root)
            out, err = (_tail(root / name, TAIL) for name in ("stdout", "stderr"))
            after, skipped = read_folder(work) if why is None else ({}, [])
            if why is None and after == dict(ctx.parent_files):
                why = "left no change to the files" + (f" (ignored: {', '.join(skipped)})" if skipped else "")
            self.attempts.append(Attempt(number, code, seconds, out, err, why or "ok"))
            if why is not None:
                detail = err.strip()[-300:] or out.strip()[-300:]
                return None, why + (f"; its output ends: {detail}" if detail and code else "")
            answer = _tail(root / "stdout", MAX_FILE_BYTES)  # all of it, within reason: labels come last
            return self._proposal(ctx, number, after, skipped, answer), "ok"

    def _run(self, argv: list[str], cwd: Path, stdin: Path | None,
             root: Path) -> tuple[int | None, float, str | None]:
        start = time.monotonic()
        env = dict(self.env) if self.env is not None else {
            k: v for k, v in os.environ.items() if not k.startswith("RECURSOR_")}
        try:
            with (open(root / "stdout", "wb") as out, open(root / "stderr", "wb") as err,
                  open(stdin if stdin else os.devnull, "rb") as inp):
                # files, not pipes: a grandchild holding a pipe open cannot make us hang
                proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=inp, stdout=out, stderr=err,
                                        start_new_session=True, close_fds=True)
        except (OSError, ValueError) as exc:  # not found, too long, a NUL byte in an argument
            return None, time.monotonic() - start, f"could not start {argv[0]}: {exc}"
        exited = _wait_unreaped(proc.pid, self.timeout)
        # the leader is not reaped yet, so its group id cannot have been reused by another process
        kill_group(proc.pid, signal.SIGKILL)  # on timeout the agent; always whatever it left running
        code = proc.wait()
        seconds = time.monotonic() - start
        if not exited:
            return None, seconds, f"timed out after {self.timeout:g} s (killed with its process group)"
        if code != 0:
            return code, seconds, f"exited with code {code}"
        return code, seconds, None

    def _proposal(self, ctx: ProposalContext, number: int, after: dict[str, str],
                  skipped: list[str], stdout: str) -> Proposal:
        editable = set(ctx.task.spec.program.editable)
        parent = ctx.parent_files
        notes = [f"written by the coding agent {self.name} ({self.command[0]}) in a copy of node "
                 f"{ctx.parent.id}'s files, attempt {number} of {self.max_attempts}"]
        outside = sorted(p for p in after if p not in editable and after[p] != parent.get(p))
        if outside:
            notes.append(f"the agent also changed {', '.join(outside)}, which ideas may not change; "
                         "kept in the patch for the auditor")
        deleted = sorted(set(parent) - set(after))
        if deleted:
            notes.append(f"the agent deleted {', '.join(deleted)}; a patch cannot delete files")
        if skipped:
            notes.append(f"not in the patch (not text, a link or over 1 MB): {', '.join(skipped)}")
        patch_text, inexact = patch_between(parent, after)
        if inexact and not deleted:
            notes.append(f"applied, the patch does not reproduce the agent's {', '.join(inexact)} exactly "
                         "(empty files, a missing final newline or unusual line breaks)")
        fields = parse_answer(stdout)
        if "TITLE" not in fields:
            notes.append("its answer has no TITLE line; the idea is its first line")
            lines = stdout.strip().splitlines()
            fields = {"TITLE": lines[0] if lines else f"change by {self.name}",
                      "HYPOTHESIS": "\n".join(lines[1:]).strip()[:2000]}
        words = re.findall(r"[a-z]+", fields.get("CATEGORY", "").lower())
        idea = Idea(title=" ".join(fields["TITLE"].split())[:100].strip("*` ") or f"change by {self.name}",
                    hypothesis=fields.get("HYPOTHESIS", "").strip(),
                    rationale=fields.get("RATIONALE", "").strip(),
                    category=words[0] if words and words[0] in CATEGORIES else "other",
                    proposer=f"agent:{self.name}", reason="; ".join(notes))
        return Proposal(idea=idea, patch_text=patch_text)


def parse_answer(stdout: str) -> dict[str, str]:
    """The labelled fields of the agent's answer; a later label wins (an echoed prompt comes first)."""
    fields: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        m = _LABEL.match(line)
        if m and not (m.group(2).startswith("<") and m.group(2).endswith(">")):  # the template
            current = m.group(1).upper()
            fields[current] = [m.group(2)]
        elif current in ("HYPOTHESIS", "RATIONALE"):
            fields[current].append(line)
    return {k: "\n".join(v).strip() for k, v in fields.items() if "\n".join(v).strip()}


def patch_between(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[str, list[str]]:
    """A patch from `old` to `new`, and the files it does not reproduce exactly when applied.

    Applying trusts context, not line numbers, so a 3-line context that occurs twice in a file
    fails: wider contexts are tried, up to the whole file, then whole-file SEARCH/REPLACE blocks
    (for lines a diff cannot carry, such as a removed line starting with "-- ")."""
    changed = {p: t for p, t in new.items() if old.get(p) != t}
    longest = max((len(t.splitlines()) for t in [*old.values(), *new.values()]), default=0)
    first = patches.unified_diff(old, new)  # deletions too: they fail when applied, visibly

    def candidates() -> Iterator[str]:
        yield first
        yield from (patches.unified_diff(old, new, context=n) for n in (10, longest + 1))
        if set(old) <= set(new):  # blocks cannot delete a file, and must not hide that one was
            yield "".join(f"{p}\n<<<<<<< SEARCH\n{_nl(old.get(p, ''))}=======\n{_nl(t)}>>>>>>> REPLACE\n"
                          for p, t in changed.items())

    for text in candidates():
        if not _misses(text, old, changed):
            return text, []
    return first, _misses(first, old, changed)


def _misses(text: str, old: Mapping[str, str], changed: Mapping[str, str]) -> list[str]:
    try:
        got = patches.apply(patches.parse_any(text), old)
    except PatchError:
        return sorted(changed)
    return sorted(p for p, t in changed.items() if got.get(p) != t)


def _nl(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def read_folder(root: Path) -> tuple[dict[str, str], list[str]]:
    """The text files under `root` (caches skipped), and the files left out of a patch."""
    files: dict[str, str] = {}
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in JUNK_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if name.endswith((".pyc", ".pyo")):
                continue
            # a link could carry any file of the machine into the patch
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                skipped.append(rel)
                continue
            try:
                files[rel] = path.read_bytes().decode()
            except UnicodeDecodeError:
                skipped.append(rel)
    return files, skipped


def _wait_unreaped(pid: int, timeout: float) -> bool:
    """Whether `pid` exited within `timeout`, leaving it a zombie (WNOWAIT) so its group id stays ours."""
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _tail(path: Path, chars: int) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - chars * 4))  # UTF-8: at most 4 bytes a character
        return f.read().decode(errors="replace")[-chars:]
