"""Writing sampled settings into a TOML file (recursor.task.space): only the space's keys change."""

from __future__ import annotations

import datetime
import tomllib

import pytest

from recursor.task.space import MISSING, dumps, in_space, lookup, write_values
from recursor.task.spec import SpaceSpec

META = """\
# a research process, as a person wrote it
[ideas]
rule = "tiers"          # how the library orders its ideas
exploration = 1.0
weights = { optimizer = 2.0, "odd key" = 0.5 }

[stopping]
early_stop = true
risk = 0.02  # the stop level

[researcher]
personas = ["optimizer", "architecture"]
brief = 'auto'
notes = \"\"\"
risk = 0.5
[ideas]
\"\"\"
"""


def test_keys_outside_the_space_survive_exactly():
    out = write_values(META, {"ideas.rule": "bandit", "stopping.risk": 0.0312,
                              "researcher.brief": "compact"})
    changed = [(a, b) for a, b in zip(META.splitlines(), out.splitlines(), strict=True) if a != b]
    assert changed == [
        ('rule = "tiers"          # how the library orders its ideas',
         'rule = "bandit"          # how the library orders its ideas'),
        ("risk = 0.02  # the stop level", "risk = 0.0312  # the stop level"),
        ("brief = 'auto'", 'brief = "compact"'),
    ]
    data = tomllib.loads(out)
    assert data["researcher"]["notes"] == "risk = 0.5\n[ideas]\n"  # a string, never a key


def test_a_key_the_file_does_not_set_is_added_to_its_table_or_a_new_one():
    out = write_values(META, {"researcher.brief_ideas": 6, "search.exploration": 0.5,
                              "seed": 3})
    data, before = tomllib.loads(out), tomllib.loads(META)
    assert data["researcher"] == {**before["researcher"], "brief_ideas": 6}
    assert data["search"] == {"exploration": 0.5} and data["seed"] == 3
    # the file as it was, each new key where its table is (after the multi-line string, not
    # inside it), a new table at the end, a key of no table at the top
    assert out == ("seed = 3\n"
                   + META.replace('[ideas]\n"""\n', '[ideas]\n"""\nbrief_ideas = 6\n')
                   + "\n[search]\nexploration = 0.5\n")


def test_a_layout_the_line_edit_cannot_follow_is_written_whole_with_every_value():
    text = ('title = "x"\nstopping = { risk = 0.02, early_stop = true }\n'
            'ideas.rule = "tiers"\n[[runs]]\nwhen = 2026-01-02\nname = "a\\"b"\n')
    out = write_values(text, {"stopping.risk": 0.1, "ideas.rule": "prior"})
    data = tomllib.loads(out)
    want = tomllib.loads(text)
    want["stopping"]["risk"] = 0.1
    want["ideas"]["rule"] = "prior"
    assert data == want and data["runs"][0]["when"] == datetime.date(2026, 1, 2)


def test_a_key_under_a_value_cannot_be_set():
    with pytest.raises(ValueError, match="ideas.rule is a value, not a table"):
        write_values(META, {"ideas.rule.x": 1})


@pytest.mark.parametrize("value", [0.1 + 0.2, 1e-05, 3.0, 7, True, "quote \" and \\ and é\x7f",
                                   -0.0, 1e300])
def test_values_read_back_as_written(value):
    out = write_values("[a]\nb = 1\n", {"a.b": value})
    got = tomllib.loads(out)["a"]["b"]
    assert got == value and type(got) is type(value)


def test_dumps_keeps_tables_and_arrays_of_tables():
    data = {"a": 1, "t": {"u": {"v": [1, 2]}, "w": "x"}, "arr": [{"k": 1}, {"k": 2, "s": {"z": 0}}],
            "odd key": {"ok": True}}
    assert tomllib.loads(dumps(data)) == data


def test_values_in_the_space():
    choice = SpaceSpec(file="f.toml", key="a", choices=("x", 1, True))
    assert in_space(choice, True) is True and in_space(choice, 1) == 1
    assert in_space(choice, 1.0) is MISSING and in_space(choice, "y") is MISSING
    ranged = SpaceSpec(file="f.toml", key="a", low=0, high=10, integer=True)
    assert in_space(ranged, 3) == 3 and in_space(ranged, 3.5) is MISSING
    assert in_space(ranged, 11) is MISSING and in_space(ranged, True) is MISSING
    floats = SpaceSpec(file="f.toml", key="a", low=0.5, high=1.0)
    assert type(in_space(floats, 1)) is float
    assert lookup({"a": {"b": 1}}, "a.b") == 1 and lookup({"a": 1}, "a.b") is MISSING
