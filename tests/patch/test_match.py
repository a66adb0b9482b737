"""The applier's ladder: what a careful reviewer would take, and nothing ambiguous."""

import pytest

from recursor.errors import PatchApplyError, PatchFormatError
from recursor.patch import apply_blocks, parse, parse_any

TRAIN = """\
import torch

# hyperparameters
n_layer = 4
n_head = 4
batch_size = 32  # sequences per step; one step consumes batch_size * block_size bytes
learning_rate = 1e-3
label = "a # b"  # a hash inside a string


class Block:
    def __init__(self, n):
        self.n = n
        self.scale = 1.0

    def forward(self, x):
        y = x * self.scale
        y = y + 1
        y = y * 2
        y = y - 3
        return y

    def extra(self, x):
        y = x * self.scale
        return y
"""


def block(search: str, replace: str, path: str = "train.py") -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def applied(text: str, files=None, generous: bool = True):
    """As a model's patch is applied: the whole ladder (`generous=False`: the library's way)."""
    return apply_blocks(parse_any(text), files or {"train.py": TRAIN}, generous)


def test_exact_match_is_the_first_rule():
    out = applied(block("n_layer = 4\n", "n_layer = 6\n"))
    assert out.rules == ("exact",)
    assert "n_layer = 6\nn_head = 4\n" in out.files["train.py"]


def test_a_search_line_without_its_trailing_comment_is_taken():
    # the case of a real 1.5B model: twelve answers in a row quoted the line without its comment
    out = applied(block("batch_size = 32\n", "batch_size = 64\n"))
    assert out.rules == ("comments",)
    assert out.matches[0].first_line == 6
    new = out.files["train.py"].splitlines()
    assert new[5] == "batch_size = 64" and "batch_size = 32" not in out.files["train.py"]


def test_a_hash_inside_a_string_is_not_a_comment():
    with pytest.raises(PatchApplyError):
        applied(block('label = "a\n', 'label = "c"\n'))


def test_indentation_shift_is_taken_and_the_replacement_shifted_alike():
    search = "def forward(self, x):\n    y = x * self.scale\n    y = y + 1\n"
    replace = "def forward(self, x):\n    y = x * self.scale\n    y = y + 2\n"
    out = applied(block(search, replace))
    assert out.rules == ("indentation",)
    assert "    def forward(self, x):\n        y = x * self.scale\n        y = y + 2\n" \
        in out.files["train.py"]


def test_trailing_whitespace_differences():
    out = applied(block("n_layer = 4   \nn_head = 4\t\n", "n_layer = 2\nn_head = 2\n"))
    assert out.rules == ("trailing-whitespace",)
    assert "n_layer = 2\nn_head = 2\n" in out.files["train.py"]


def test_a_missing_blank_line_or_comment_line_is_taken():
    search = "import torch\nn_layer = 4\n"  # the blank and '# hyperparameters' lines left out
    out = applied(block(search, "import torch\nn_layer = 8\n"))
    assert out.rules == ("comments",)
    assert out.files["train.py"].startswith("import torch\nn_layer = 8\nn_head = 4\n")


def test_elisions_keep_what_was_left_out():
    search = ("    def forward(self, x):\n        y = x * self.scale\n        ...\n"
              "        return y\n")
    replace = ("    def forward(self, x):\n        y = x * self.scale * 0.5\n        ...\n"
               "        return y\n")
    out = applied(block(search, replace))
    assert out.rules == ("elision",)
    text = out.files["train.py"]
    assert "y = x * self.scale * 0.5\n        y = y + 1\n        y = y * 2\n        y = y - 3\n" \
           "        return y\n\n    def extra" in text
    assert text.count("self.scale * 0.5") == 1  # extra() untouched


def test_an_elision_the_replacement_drops_is_refused():
    search = "    def forward(self, x):\n        # ... existing code ...\n        return y\n"
    with pytest.raises(PatchApplyError, match="would be lost"):
        applied(block(search, "    def forward(self, x):\n        return x\n"))


def test_an_elided_piece_that_fits_several_places_is_ambiguous():
    search = "        y = x * self.scale\n        ...\n        return y\n"
    with pytest.raises(PatchApplyError, match="fits 2 places"):
        applied(block(search, "        y = x\n        ...\n        return y\n"))


def test_a_misremembered_number_is_a_fuzzy_match_when_asked():
    # a library idea, or a person's diff against another version, must not fuzz
    with pytest.raises(PatchApplyError, match="not found"):
        applied(block("self.scale = 1.5\n", "self.scale = 2.0\n"), generous=False)
    out = applied(block("self.scale = 1.5\n", "self.scale = 2.0\n"))
    assert out.rules == ("fuzzy",)
    assert out.matches[0].score >= 90
    assert "        self.scale = 2.0\n" in out.files["train.py"]
    assert "1.0" not in out.files["train.py"]


def test_a_near_match_in_two_places_is_refused_not_guessed():
    text = "alpha_value = 10\nother = 0\nalpha_value = 11\n"
    with pytest.raises(PatchApplyError, match="fits 2 places"):
        applied(block("alpha_value = 12\n", "alpha_value = 13\n", "c.py"), {"c.py": text},
                generous=True)


def test_exact_duplicates_are_refused_with_their_lines():
    with pytest.raises(PatchApplyError, match=r"occurs 2 times .*lines 17, 24"):
        applied(block("        y = x * self.scale\n", "        y = x\n"))


def test_the_error_quotes_the_nearest_real_lines_and_the_block_filled_in():
    real = "    batch_size = 32  # sequences per step; one step consumes batch_size * block_size"
    code = f"import torch\n\n\ndef settings():\n{real}\n    return batch_size\n"
    with pytest.raises(PatchApplyError) as err:
        applied(block("batch_size = 16\n", "batch_size = 64\n"), {"train.py": code})
    message = str(err.value)
    assert "line 5 of train.py" in message
    assert f"```\n{real}\n```" in message
    assert "your SEARCH has 'batch_size = 16'" in message
    assert f"<<<<<<< SEARCH\n{real}\n=======\nbatch_size = 64\n>>>>>>> REPLACE" in message


def test_nothing_near_says_so():
    with pytest.raises(PatchApplyError, match="No lines of the file are close"):
        applied(block("zzzz qqqq wwww\n", "x\n"))


def test_unified_diff_with_wrong_numbers_and_counts_applies_by_content():
    # counts too large, then the model's prose
    diff = ("--- a/train.py\n+++ b/train.py\n@@ -90,7 +90,7 @@\n n_layer = 4\n-n_head = 4\n"
            "+n_head = 8\n batch_size = 32\nThis doubles the heads.\n")
    out = applied(diff)
    assert "n_layer = 4\nn_head = 8\nbatch_size = 32  # sequences" in out.files["train.py"]
    assert out.rules == ("comments",)
    # counts too small: the rest of the hunk is not dropped
    diff = ("--- a/train.py\n+++ b/train.py\n@@ -4,1 +4,1 @@\n n_layer = 4\n-n_head = 4\n"
            "+n_head = 8\n")
    assert "n_layer = 4\nn_head = 8\n" in applied(diff).files["train.py"]


def test_unified_diff_without_numbers():
    diff = "--- train.py\n+++ train.py\n@@ ... @@\n-n_layer = 4\n+n_layer = 5\n\n"
    out = applied(diff)
    assert "n_layer = 5\n" in out.files["train.py"] and out.rules == ("exact",)


def test_an_empty_loose_hunk_is_a_format_error():
    with pytest.raises(PatchFormatError):
        parse_any("--- a/train.py\n+++ b/train.py\n@@ ... @@\nplain prose\n")


def test_c_comments_in_kernel_sources():
    src = "int n = 4; // rows\nfloat s = 0.f;\n"
    out = apply_blocks(parse(block("int n = 4;\n", "int n = 8;\n", "k.c")), {"k.c": src}, True)
    assert out.rules == ("comments",) and out.files["k.c"].startswith("int n = 8;\n")


def test_context_lines_keep_the_comments_the_quote_left_off():
    out = applied(block("n_head = 4\nbatch_size = 32\n", "n_head = 8\nbatch_size = 32\n"))
    assert out.rules == ("comments",)
    assert ("n_head = 8\nbatch_size = 32  # sequences per step; one step consumes "
            "batch_size * block_size bytes\n") in out.files["train.py"]


def test_a_file_name_inside_the_block_is_taken_as_the_file_line():
    # a 1.5B model's habit: the path as SEARCH's first line, with or without one before it
    inside = "<<<<<<< SEARCH\ntrain.py\nn_layer = 4\n=======\ntrain.py\nn_layer = 6\n>>>>>>> REPLACE\n"
    for text in (inside, "train.py\n" + inside):
        out = applied(text)
        assert out.files["train.py"].count("train.py") == 0
        assert "n_layer = 6\nn_head = 4\n" in out.files["train.py"]
    with pytest.raises(PatchFormatError, match="no file name"):
        parse("<<<<<<< SEARCH\nn_layer = 4\n=======\nn_layer = 6\n>>>>>>> REPLACE\n")
    # a line of code that looks like a name is not a path
    assert parse(block("self.n = n\n", "self.n = 2 * n\n")).edits[0].search == "self.n = n\n"


@pytest.mark.parametrize("label", ["File: train.py", "### `train.py`", "train.py:", "**train.py**"])
def test_file_lines_as_models_label_them(label):
    text = f"{label}\n<<<<<<< SEARCH\nn_layer = 4\n=======\nn_layer = 6\n>>>>>>> REPLACE\n"
    assert parse(text).edits[0].path == "train.py"


def test_an_exact_match_inside_another_line_is_not_taken():
    text = "min_lr = 1e-3\nwarmup = 10\n"
    with pytest.raises(PatchApplyError, match="not found"):
        applied(block("lr = 1e-3\n", "lr = 2e-3\n", "c.py"), {"c.py": text})
    # the line's own indentation may be left out, as models do
    out = applied(block("self.scale = 1.0\n", "self.scale = 2.0\n"))
    assert out.rules == ("exact",) and "        self.scale = 2.0\n" in out.files["train.py"]


@pytest.mark.parametrize("search", ["batch_size = 32\n", "    n_layer = 4\n", "import torch\nn_layer = 4\n"])
def test_the_library_and_a_persons_diff_are_taken_exactly(search):
    """Without `generous` only the exact and trailing-whitespace rules: a library idea's quoted
    comment is how alternatives exclude each other, and a diff made against another version
    must not land."""
    with pytest.raises(PatchApplyError, match="not found"):
        applied(block(search, "x = 1\n"), generous=False)
    assert applied(block(search, "x = 1\n")).rules  # a model's patch would be taken


def test_a_misquoted_line_the_replacement_keeps_stays_as_the_file_has_it():
    # a 1.5B model's kernel patch: SEARCH named the method 'gelu' where the file says
    # 'forward', and REPLACE kept that line; taking it as written deleted forward()
    source = ("class ModelNew(nn.Module):\n"
              "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
              "        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * "
              "(x + 0.044715 * torch.pow(x, 3.0))))\n")
    search = ("def gelu(self, x: torch.Tensor) -> torch.Tensor:\n"
              "    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * "
              "(x + 0.044715 * torch.pow(x, 3.0))))\n")
    replace = ("def gelu(self, x: torch.Tensor) -> torch.Tensor:\n"
               "    return x / (1 + torch.exp(-2 * x))\n")
    out = applied(block(search, replace, "solution.py"), {"solution.py": source})
    assert out.rules == ("fuzzy",)
    assert out.files["solution.py"] == (
        "class ModelNew(nn.Module):\n"
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
        "        return x / (1 + torch.exp(-2 * x))\n")


def test_a_change_the_parent_already_has_is_named_as_such_not_suggested_again():
    # recorded from the 1.5B model: node 2 had made block_size 64 -> 32, and the model, reading
    # that lineage, sent the same change to node 2 again, quoting the value it saw in the history
    from recursor import patch as patches
    from recursor.errors import PatchApplyError

    files = {"train.py": "vocab_size = 256\nblock_size = 32  # context length in bytes\n"
                         "n_layer = 4\n"}
    again = "train.py\n<<<<<<< SEARCH\nblock_size = 64\n=======\nblock_size = 32\n>>>>>>> REPLACE\n"
    with pytest.raises(PatchApplyError) as err:
        patches.apply(patches.parse_any(again), files)
    said = str(err.value)
    assert "the file has this change already" in said and "would read" not in said
    # a real change quoted with the stale value still gets the block written out with the file's
    # own lines, ready to send back
    other = again.replace("=======\nblock_size = 32", "=======\nblock_size = 128")
    with pytest.raises(PatchApplyError) as err:
        patches.apply(patches.parse_any(other), files)
    assert "would read" in str(err.value) and "already" not in str(err.value)
    # the same change written as an attribute (`self.` at module level): still the file's own
    # line, not a block that would add the `self.` (recorded from the same model)
    selfish = again.replace("block_size = ", "self.block_size = ")
    with pytest.raises(PatchApplyError) as err:
        patches.apply(patches.parse_any(selfish), files)
    assert "the file has this change already" in str(err.value)
    # inside a class a `self.` is a change of its own, never taken for the file's line
    method = {"m.py": "class A:\n    def f(self):\n        size = 32\n        return size\n"}
    attribute = ("m.py\n<<<<<<< SEARCH\n        size = 64\n=======\n        self.size = 32\n"
                 ">>>>>>> REPLACE\n")
    with pytest.raises(PatchApplyError) as err:
        patches.apply(patches.parse_any(attribute), method)
    assert "already" not in str(err.value)


def test_a_suggested_block_at_module_level_leaves_a_misquoted_self_out():
    # recorded from the 1.5B model: SEARCH `self.block_size = 64` against a setting the block
    # cannot be placed on; the block suggested back kept REPLACE's `self.`, and the model sent
    # it, a NameError, again
    from recursor import patch as patches

    files = {"train.py": "vocab_size = 256\nblock_size = context // 2  # in bytes\n"
                         "n_layer = 4\n"}
    selfish = ("train.py\n<<<<<<< SEARCH\nself.block_size = 64\n=======\n"
               "self.block_size = 16\n>>>>>>> REPLACE\n")
    with pytest.raises(PatchApplyError) as err:
        patches.apply(patches.parse_any(selfish), files)
    said = str(err.value)
    suggested = said[said.index("would read:"):]
    assert "=======\nblock_size = 16\n>>>>>>> REPLACE" in suggested and "self." not in suggested


SETTINGS = {"train.py": "vocab_size = 256  # bytes\nn_layer = 4\nn_head = 4\nn_embd = 96\n"
                        "block_size = 32  # context length in bytes\n\n\n"
                        "def step(lr):\n    lr = 3e-4\n    return lr\n"}


@pytest.mark.parametrize("search, replace, line", [
    # recorded from the 1.5B model, which quoted the value in the run's first hypothesis
    # ("from 64 to 32") against a parent that already had 32
    ("block_size = 64\n", "block_size = 16\n", "block_size = 16\n"),
    ("self.block_size = 64\n", "self.block_size = 16\n", "block_size = 16\n"),
    ("block_size = 64  # context length in bytes\n", "block_size = 8  # shorter\n",
     "block_size = 8  # shorter\n"),
])
def test_a_setting_quoted_with_an_old_value_is_that_setting(search, replace, line):
    out = applied(block(search, replace), SETTINGS)
    assert out.rules == ("stale-value",)
    assert out.files["train.py"] == SETTINGS["train.py"].replace(
        "block_size = 32  # context length in bytes\n", line)
    assert "quoted block_size = 64 for block_size = 32" in out.matches[0].describe()
    assert out.matches[0].record()["note"].startswith("SEARCH quoted")
    with pytest.raises(PatchApplyError):  # never for the library or a person's diff
        applied(block(search, replace), SETTINGS, generous=False)


def test_settings_a_stale_block_leaves_as_they_are_keep_the_files_values():
    # n_head is context the model did not change; n_embd was 64 when it read it
    out = applied(block("n_layer = 4\nn_head = 4\nn_embd = 64\n",
                        "n_layer = 8\nn_head = 4\nn_embd = 64\n"), SETTINGS)
    assert out.rules == ("stale-value",)
    assert "n_layer = 8\nn_head = 4\nn_embd = 96\n" in out.files["train.py"]
    # a block that writes the value the file has changes nothing, comment included, so the
    # researcher's no-change check sees it
    same = applied(block("block_size = 64\n", "block_size = 32\n"), SETTINGS)
    assert same.files["train.py"] == SETTINGS["train.py"]


@pytest.mark.parametrize("search, replace, code", [
    # a name set twice at the top: which one is meant is a guess
    ("n_layer = 2\n", "n_layer = 6\n", "n_layer = 4\nx = 1\nn_layer = 8\n"),
    # set to something that is not a constant: the quote is not a setting's old value
    ("n_layer = 2\n", "n_layer = 6\n", "n_layer = depth()\n"),
    # inside a function, not the module's setting
    ("lr = 1e-3\n", "lr = 1e-2\n", "def step():\n    lr = 3e-4\n    return lr\n"),
    # the names are not on consecutive lines: the lines between would be lost
    ("n_layer = 2\nn_embd = 32\n", "n_layer = 6\nn_embd = 48\n",
     "n_layer = 4\nn_head = 4\nn_embd = 96\n"),
    # a comparison, an augmented assignment: not settings
    ("n_layer == 2\n", "n_layer == 6\n", "n_layer == 48\n"),
    ("n_layer += 2\n", "n_layer += 6\n", "n_layer += 48\n"),
])
def test_a_stale_value_is_read_only_where_one_place_is_meant(search, replace, code):
    with pytest.raises(PatchApplyError):
        applied(block(search, replace), {"train.py": code})


@pytest.mark.parametrize("search, replace, line", [
    # both recorded from the 1.5B model: a setting at the top of train.py quoted as an attribute
    ("self.n_layer = 4\n", "self.n_layer = 2\n", "n_layer = 2\n"),
    ("self.batch_size = 32\n", "self.batch_size = 16\n", "batch_size = 16\n"),
])
def test_a_module_setting_quoted_as_an_attribute_is_the_setting(search, replace, line):
    out = applied(block(search, replace))
    assert out.rules == ("module-self",)
    new = out.files["train.py"]
    assert f"\n{line}" in new and "self.n_layer" not in new and "self.batch_size" not in new
    assert "        self.n = n\n" in new  # the class's own attributes are not touched
    # never for the library or a person's diff, and never inside a class: there `self.` is real
    with pytest.raises(PatchApplyError):
        applied(block(search, replace), generous=False)
    inside = applied(block("self.scale = 1.0\n", "self.scale = 2.0\n"))
    assert inside.rules == ("exact",) and "        self.scale = 2.0\n" in inside.files[
        "train.py"]
    code = {"train.py": "class A:\n    n_head = 4\n"}  # a class attribute is not the module's
    with pytest.raises(PatchApplyError):
        applied(block("self.n_head = 4\n", "self.n_head = 8\n"), code)
