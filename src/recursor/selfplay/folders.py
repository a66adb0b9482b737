"""The task folders of a self-play round: a family's built-in attacker and defender tasks, each
copied with the round's opponent in its harness files.

Two families. The guard duel: an attacker of round r faces the defender of round r-1 as a
program, its guard becoming the attack task's `defender/guard.py`, trained by the attack's
harness with the archives that defender learnt from (they go beside it). The chat family: an
attacker faces what the defender's program wrote, its fitted defence of the chat model
(`defender/defence.json`), a file the harness reads as data. Either way the defender of round r
starts from that defender's program and learns from every archive so far, added to its harness
files: hashed like the harness, so no candidate can change them.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recursor.errors import RecursorError
from recursor.task.folder import BUILTIN

ATTACK = BUILTIN / "redteam_attack"
DEFEND = BUILTIN / "redteam_defend"


@dataclass(frozen=True)
class Family:
    """A self-play family: its two built-in tasks and how a defender is handed over."""

    name: str
    attack: Path  # the attacker's built-in task folder
    defend: Path  # the defender's
    program: str  # the defender's editable program file
    faces_output: bool  # the attacker faces what the program wrote (chat), not the program
    control: bool  # the defend task can train on as many curated templates alone
    benign: str  # the defend task's metric of benign prompts flagged (or refused)
    benign_limit: str  # the settings key (or the result's) of the rate it is held to


GUARD = Family("guard", ATTACK, DEFEND, "guard.py", False, True, "benign_fpr", "fpr")
CHAT = Family("chat", BUILTIN / "redteam_chat_attack", BUILTIN / "redteam_chat_defend",
              "defence.py", True, False, "benign_refusal", "max_benign_refusal")
FAMILIES = {f.name: f for f in (GUARD, CHAT)}
DEFENCE = "defender/defence.json"  # where a chat attack task keeps the defence it faces


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise RecursorError(f"unknown self-play family {name!r}; choose {', '.join(FAMILIES)}")
    return FAMILIES[name]


def _setting(text: str, key: str, value: str) -> str:
    """`text` (a task.toml) with the [settings] line of `key` set to `value` (TOML)."""
    pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
    if not pattern.search(text):
        raise ValueError(f"the task has no setting {key}")
    return pattern.sub(lambda _: f"{key} = {value}", text, count=1)


def _harness_files(text: str, extra: Sequence[str]) -> str:
    """`text` (a task.toml) with `extra` added to its [harness] files."""
    files = tomllib.loads(text)["harness"]["files"] + list(extra)
    listed = ", ".join(f'"{f}"' for f in files)
    head, sep, rest = text.partition("\n[harness]\n")
    if not sep:
        raise ValueError("the task has no [harness] table")
    rest = re.sub(r"^files = \[[^\]]*\].*$", lambda _: f"files = [{listed}]", rest, count=1,
                  flags=re.MULTILINE)
    return head + sep + rest


def _toml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def attack_folder(where: Path, defender: Path, archives: Sequence[Path], *,
                  of: Family = GUARD) -> Path:
    """The attack task of a round, at `where`: the built-in attacker facing the guard at
    `defender` (a guard.py), which was trained with `archives`; or, in the chat family, the
    fitted defence at `defender` (a defence.json), which needs no archives."""
    folder = _fresh(of.attack, where)
    if of.faces_output:
        shutil.copy(defender, folder / DEFENCE)
        return folder
    shutil.copy(defender, folder / "defender" / "guard.py")
    names = _copy_archives(folder, archives)
    text = (folder / "task.toml").read_text()
    text = _setting(text, "defender_archives", _toml_list(names))
    (folder / "task.toml").write_text(_harness_files(text, names))
    return folder


def defend_folder(where: Path, guard: Path, archives: Sequence[Path], *,
                  match_templates: int = 0, of: Family = GUARD) -> Path:
    """The defend task of a round, at `where`: the family's built-in defender starting from the
    program at `guard`, learning from `archives` (or, with `match_templates`, from that many
    curated templates alone: the control, a guard-duel setting)."""
    if match_templates and not of.control:
        raise RecursorError(f"the {of.name} family's defender has no curated-templates control")
    folder = _fresh(of.defend, where)
    shutil.copy(guard, folder / of.program)
    names = _copy_archives(folder, [] if match_templates else archives)
    text = (folder / "task.toml").read_text()
    text = _setting(text, "archives", _toml_list(names))
    if of.control:
        text = _setting(text, "match_templates", str(int(match_templates)))
    (folder / "task.toml").write_text(_harness_files(text, names))
    return folder


def _fresh(source: Path, where: Path) -> Path:
    if where.exists():
        shutil.rmtree(where)
    shutil.copytree(source, where, ignore=shutil.ignore_patterns("__pycache__"))
    return where


def _copy_archives(folder: Path, archives: Sequence[Path]) -> list[str]:
    (folder / "archives").mkdir(exist_ok=True)
    names = []
    for path in archives:
        name = f"archives/{Path(path).name}"
        shutil.copy(path, folder / name)
        names.append(name)
    return names
