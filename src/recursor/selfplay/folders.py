"""The task folders of a self-play round: the built-in attacker and defender tasks, each copied
with the round's opponent in its harness files.

An attacker of round r faces the defender of round r-1: its guard program becomes the attack
task's `defender/guard.py`, and the archives that defender was trained with go beside it. The
defender of round r starts from that same guard (its program) and learns from every archive so
far, added to its harness files: hashed like the harness, so no candidate can change them.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Sequence
from pathlib import Path

from recursor.task.folder import BUILTIN

ATTACK = BUILTIN / "redteam_attack"
DEFEND = BUILTIN / "redteam_defend"


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


def attack_folder(where: Path, defender: Path, archives: Sequence[Path]) -> Path:
    """The attack task of a round, at `where`: the built-in attacker facing the guard at
    `defender` (a guard.py), which was trained with `archives`."""
    folder = _fresh(ATTACK, where)
    shutil.copy(defender, folder / "defender" / "guard.py")
    names = _copy_archives(folder, archives)
    text = (folder / "task.toml").read_text()
    text = _setting(text, "defender_archives", _toml_list(names))
    (folder / "task.toml").write_text(_harness_files(text, names))
    return folder


def defend_folder(where: Path, guard: Path, archives: Sequence[Path], *,
                  match_templates: int = 0) -> Path:
    """The defend task of a round, at `where`: the built-in defender starting from the guard at
    `guard`, learning from `archives` (or, with `match_templates`, from that many curated
    templates alone: the control)."""
    folder = _fresh(DEFEND, where)
    shutil.copy(guard, folder / "guard.py")
    names = _copy_archives(folder, [] if match_templates else archives)
    text = (folder / "task.toml").read_text()
    text = _setting(text, "archives", _toml_list(names))
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
