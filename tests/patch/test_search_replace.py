import subprocess

import pytest

from recursor import patch as patches
from recursor.errors import PatchApplyError, PatchFormatError

PROGRAM = "lr = 1e-3\nbatch = 32\n\ndef f(x):\n    return x * 2\n"


def block(path, search, replace):
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def test_applies_one_block_and_leaves_input_alone():
    files = {"train.py": PROGRAM}
    out = patches.apply(patches.parse(block("train.py", "lr = 1e-3\n", "lr = 3e-3\n")), files)
    assert out["train.py"].startswith("lr = 3e-3\nbatch = 32\n")
    assert files["train.py"] == PROGRAM


def test_blocks_apply_in_order_and_inherit_the_file_name():
    text = block("train.py", "lr = 1e-3\n", "lr = 2e-3\n") + (
        "<<<<<<< SEARCH\nlr = 2e-3\n=======\nlr = 4e-3\n>>>>>>> REPLACE\n")
    out = patches.apply(patches.parse(text), {"train.py": PROGRAM})
    assert "lr = 4e-3" in out["train.py"]


def test_llm_style_fences_and_prose_are_ignored():
    text = ("Here is my change:\n\n```python\ntrain.py\n<<<<<<< SEARCH\nbatch = 32\n=======\n"
            "batch = 16\n>>>>>>> REPLACE\n```\nThat should help.")
    out = patches.apply(patches.parse(text), {"train.py": PROGRAM})
    assert "batch = 16" in out["train.py"]


def test_missing_search_text_names_block_and_shows_closest_lines():
    text = block("train.py", "lr = 1e-2\n", "lr = 3e-3\n")
    with pytest.raises(PatchApplyError) as err:
        patches.apply(patches.parse(text), {"train.py": PROGRAM})
    assert "block 1" in str(err.value) and "lr = 1e-3" in str(err.value)


def test_ambiguous_search_text_is_refused():
    files = {"a.py": "x = 1\nx = 1\n"}
    with pytest.raises(PatchApplyError, match="occurs 2 times"):
        patches.apply(patches.parse(block("a.py", "x = 1\n", "x = 2\n")), files)


def test_trailing_whitespace_is_forgiven_but_nothing_else():
    files = {"train.py": "lr = 1e-3   \nbatch = 32\n"}
    out = patches.apply(patches.parse(block("train.py", "lr = 1e-3\n", "lr = 5e-3\n")), files)
    assert out["train.py"] == "lr = 5e-3\nbatch = 32\n"
    with pytest.raises(PatchApplyError):
        patches.apply(patches.parse(block("train.py", "lr=1e-3\n", "lr = 5e-3\n")), files)


def test_unknown_file_and_new_file():
    with pytest.raises(PatchApplyError, match="no file model.py"):
        patches.apply(patches.parse(block("model.py", "a\n", "b\n")), {"train.py": PROGRAM})
    out = patches.apply(patches.parse(block("extra.py", "", "X = 1\n")), {"train.py": PROGRAM})
    assert out == {"extra.py": "X = 1\n"}


def test_markers_with_three_angle_brackets_are_markers():
    # the 1.5B model wrote `<<< SEARCH` once; with its word no line of code reads so
    text = "train.py\n<<< SEARCH\nlr = 1\n=======\nlr = 2\n>>> REPLACE\n"
    assert patches.apply(patches.parse(text), {"train.py": "lr = 1\n"}) == {"train.py": "lr = 2\n"}


def test_a_file_name_in_the_formats_angle_brackets_is_that_file():
    # the answer format's placeholder is `<file name>`: a 1.5B model wrote `<train.py>`
    for name in ("<train.py>", "`<train.py>`", "**<train.py>**"):
        out = patches.apply(patches.parse(block(name, "batch = 32\n", "batch = 16\n")),
                            {"train.py": PROGRAM})
        assert out["train.py"] == PROGRAM.replace("batch = 32", "batch = 16")
    assert patches.parse(block("<train.py>", "a\n", "b\n")).files == ("train.py",)


def test_a_file_name_written_as_a_block_of_its_own_heads_the_block_after_it():
    # as a 1.5B model wrote it: the file name in a block of its own, the real block inside it
    text = ("<<<<<<< SEARCH\ntrain.py\n=======\ntrain.py\n<<<<<<< SEARCH\nbatch = 32\n"
            "=======\nbatch = 16\n>>>>>>> REPLACE\n")
    out = patches.apply(patches.parse(text), {"train.py": PROGRAM})
    assert out["train.py"] == PROGRAM.replace("batch = 32", "batch = 16")
    # a block of code lines cut short by a new block is still refused
    with pytest.raises(PatchFormatError, match="missing '>>>>>>> REPLACE'"):
        patches.parse("train.py\n<<<<<<< SEARCH\nbatch = 32\n=======\nbatch = 16\n"
                      "<<<<<<< SEARCH\nlr = 1e-3\n=======\nlr = 2e-3\n>>>>>>> REPLACE\n")


@pytest.mark.parametrize("text, message", [
    ("just prose, no blocks", "no SEARCH/REPLACE block"),
    ("<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n", "no file name"),
    ("train.py\n<<<<<<< SEARCH\na\n=======\nb\n", "missing '>>>>>>> REPLACE'"),
])
def test_malformed_patches_say_what_is_wrong(text, message):
    with pytest.raises(PatchFormatError, match=message):
        patches.parse(text)


def test_unified_diff_applies_with_git(tmp_path):
    old = {"train.py": PROGRAM}
    new = patches.apply(patches.parse(block("train.py", "batch = 32\n", "batch = 8\n")), old)
    diff = patches.unified_diff(old, {**old, **new})
    (tmp_path / "train.py").write_text(PROGRAM)
    (tmp_path / "change.patch").write_text(diff)
    subprocess.run(["git", "apply", "change.patch"], cwd=tmp_path, check=True)
    assert (tmp_path / "train.py").read_text() == new["train.py"]
