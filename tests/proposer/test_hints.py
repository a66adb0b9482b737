from recursor.proposer.llm.hints import lines_setting, named, unchanged_hint

C_SOURCE = """\
#include <math.h>
#define TILE_SIZE 64
static const int unroll_factor = 4;
void gelu(float *x, int n) {
    int tile_size_used = TILE_SIZE;  // not a declaration of tile_size
    for (int i = 0; i < n; i++) x[i] = x[i] * 0.5f;
}
"""

PY_SOURCE = """\
learning_rate = 1e-3
weight_decay: float = 0.1
if learning_rate == 1e-3:
    pass
def warmup_steps(total):
    return total // 10
"""


def test_prose_names_the_identifiers_code_would_use():
    names = named("Raise the learning rate and add a weight decay of 0.1 to n_embd")
    assert {"learning_rate", "weight_decay", "n_embd"} <= names
    assert "the" not in names and "raise_the" not in names


def test_assignments_definitions_and_declarations_are_found_comparisons_are_not():
    files = {"train.py": PY_SOURCE, "kernel.c": C_SOURCE}
    py = lines_setting(named("a lower learning rate, weight decay, warmup steps"), files,
                       ["train.py"])
    assert [n for _, n, _ in py] == [1, 2, 5]  # line 3 compares, it does not set
    c = lines_setting(named("a larger tile size and unroll factor"), files, ["kernel.c"])
    assert [n for _, n, _ in c] == [2, 3]


def test_a_hint_without_named_lines_still_says_what_to_do():
    message = unchanged_hint("Make it better", {"train.py": PY_SOURCE}, ["train.py"])
    assert "changes nothing" in message and "line" not in message.split("REPLACE text")[0]
    assert "The lines that set" not in message


def test_a_plain_word_points_only_at_a_constant_it_sets():
    files = {"m.py": "dropout = 0.1\nmodel = GPT()\ndata = load()\n"}
    found = lines_setting(named("Add dropout to the model's data"), files, ["m.py"])
    assert [n for _, n, _ in found] == [1]


def test_named_lines_are_shown_as_the_file_has_them_in_fences_not_as_a_listing():
    # listed as `train.py line 37: block_size = 64`, a 1.5B model copied the listing's prefix
    # into its SEARCH; fenced, a line is copied as the file has it
    from recursor.proposer.llm.hints import named_lines

    files = {"train.py": "n_layer = 4\nn_embd = 64\nn_head = 4\n\nclass A:\n    n_embd = 8\n"}
    shown = named_lines("a larger n_layer, a wider n_embd", files, ["train.py"])
    assert shown == ("train.py, lines 1-2:\n```\nn_layer = 4\nn_embd = 64\n```\n"
                     "train.py, line 6:\n```\n    n_embd = 8\n```")
