"""Unified diffs as `git diff` writes them apply like SEARCH/REPLACE blocks."""

import subprocess

import pytest

from recursor import patch as patches
from recursor.errors import PatchApplyError, PatchFormatError

OLD = {"train.py": "".join(f"line {i}\n" for i in range(1, 30))}


def test_a_diff_made_by_git_applies_to_the_same_files(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(OLD["train.py"])
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    new = OLD["train.py"].replace("line 3\n", "line three\n").replace("line 25\n", "")
    (repo / "train.py").write_text(new)
    (repo / "extra.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "-N", "extra.py"], check=True)
    diff = subprocess.run([*git, "diff"], check=True, capture_output=True, text=True).stdout
    patch = patches.parse_any(diff)
    assert set(patch.files) == {"train.py", "extra.py"}
    assert patches.apply(patch, OLD) == {"train.py": new, "extra.py": "x = 1\n"}


def test_our_own_diffs_round_trip_and_blocks_still_parse():
    new = {"train.py": OLD["train.py"].replace("line 10\n", "line ten\nline 10.5\n")}
    diff = patches.unified_diff(OLD, new)
    assert patches.apply(patches.parse_any(diff), OLD) == new
    blocks = "train.py\n<<<<<<< SEARCH\nline 10\n=======\nline ten\n>>>>>>> REPLACE\n"
    assert patches.parse_any(blocks).edits[0].replace == "line ten\n"


def test_a_stale_diff_says_which_hunk_does_not_match():
    diff = patches.unified_diff({"train.py": "a\nb\nc\n"}, {"train.py": "a\nB\nc\n"})
    with pytest.raises(PatchApplyError, match="block 1"):
        patches.apply(patches.parse_any(diff), OLD)


def test_deleting_a_file_is_refused():
    diff = "--- a/train.py\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-x\n"
    with pytest.raises(PatchFormatError, match="deletes train.py"):
        patches.parse_any(diff)


def test_lines_that_look_like_file_headers_stay_in_their_hunk():
    # a SQL comment removed and a '++' line added show as '--- ...' and '+++ ...' in the diff
    old = {"q.py": "a = 1\n-- old comment\nb = 2\n"}
    new = {"q.py": "a = 1\n++ new line\nb = 2\n"}
    diff = patches.unified_diff(old, new)
    assert "\n--- old comment\n" in diff and "\n+++ new line\n" in diff
    assert patches.apply(patches.parse_any(diff), old) == new


def test_a_cut_off_diff_is_refused_not_half_applied():
    new = {"train.py": OLD["train.py"].replace("line 10\n", "line ten\n")}
    diff = patches.unified_diff(OLD, new)
    cut = "".join(diff.splitlines(keepends=True)[:-2])
    with pytest.raises(PatchFormatError, match="cut off"):
        patches.parse_any(cut)
