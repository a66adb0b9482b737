"""A process file (meta.toml): the research-process settings, typed, with the rest frozen."""

import pytest

from recursor.errors import SettingsError
from recursor.settings import RunConfig
from recursor.settings.process import DEFAULT, Process, load_process, process_of, with_process

FULL = """
[ideas]
rule = "prior"
weights = { optimizer = 2.0, schedule = 0.5 }

[search]
policy = "islands"
exploration = 0.5
descendant_credit = 1.0

[stopping]
early_stop = false
risk = 0.05
test_risk = 0.2

[researcher]
personas = ["optimizer", "systems"]
library_share = 0.5
brief = "compact"
brief_ideas = 3
"""


def write(tmp_path, text):
    path = tmp_path / "meta.toml"
    path.write_text(text)
    return path


def test_a_process_file_sets_the_run_settings_it_names(tmp_path):
    process = load_process(write(tmp_path, FULL))
    config = RunConfig(**process.keywords())
    assert (config.idea_rule, config.idea_weights) == ("prior", {"optimizer": 2.0, "schedule": 0.5})
    assert (config.policy, config.exploration, config.descendant_credit) == ("islands", 0.5, 1.0)
    assert (config.early_stop, config.stop_risk, config.stop_test_risk) == (False, 0.05, 0.2)
    assert config.personas == ("optimizer", "systems") and config.library_share == 0.5
    assert (config.brief, config.brief_ideas) == ("compact", 3)
    # written back and read again: the same process
    assert load_process(write(tmp_path, process.to_toml())) == process
    assert "idea_rule='prior'" in process.label and DEFAULT.label == "default"


def test_an_empty_file_is_the_default_process_which_is_the_default_run():
    process = process_of({})
    assert process == DEFAULT
    defaults = RunConfig()
    for name, value in process.keywords().items():
        assert getattr(defaults, name) == (tuple(value) if isinstance(value, list) else value)


@pytest.mark.parametrize("text, says", [
    ("alpha = 0.2", "alpha: frozen (the judge's level"),
    ("[stopping]\naudit = 0.0", "stopping.audit: frozen (the share of stops audited"),
    ("[stopping]\nstop_audit = 0.0", "stopping.stop_audit: frozen"),
    ("[search]\nseeds = [1]", "search.seeds: frozen"),
    ("heldout = false", "heldout: frozen"),
    ("[budget]\ntrain_tokens = 10", "budget: frozen"),
    ("tasks = ['tiny-lm']", "tasks: frozen"),
])
def test_what_judges_a_process_is_frozen(tmp_path, text, says):
    with pytest.raises(SettingsError, match=r"frozen") as err:
        load_process(write(tmp_path, text))
    assert says in str(err.value)


@pytest.mark.parametrize("text, says", [
    # weighting ideas by name would carry a task's answers into the runs that judge a process
    ("[ideas]\nrule = 'prior'\nweights = { muon = 9.0 }", "unknown idea category(s) muon"),
    ("[ideas]\nprefer = ['muon', 'context-32']", "ideas.prefer: unknown key"),
    ("[researcher]\nbrief_text = 'Try Muon first.'", "researcher.brief_text: unknown key"),
    ("[researcher]\nbrief = 'Try Muon first.'", "unknown researcher.brief 'Try Muon first.'"),
    ("[ideas]\nrule = 'by-name'", "unknown ideas.rule 'by-name'"),
    ("[researcher]\npersonas = ['muon-expert']", "unknown persona(s) muon-expert"),
    ("[search]\nexploration = -1", "search.exploration must be 0 or more"),
    ("[stopping]\nrisk = 0.9", "stopping.risk must be between 0 and 0.5"),
    ("colour = 'blue'", "colour: unknown key"),
    # a score times inf, or 0 times inf, makes the search's choices undefined
    ("[search]\nexploration = inf", "search.exploration: must be a finite number"),
    ("[ideas]\nrule = 'prior'\nweights = { optimizer = inf }",
     "ideas.weights.optimizer: must be a finite number"),
    ("[stopping]\nrisk = nan", "stopping.risk: must be a finite number"),
])
def test_a_file_that_could_carry_answers_or_breaks_a_check_is_refused(tmp_path, text, says):
    with pytest.raises(SettingsError) as err:
        load_process(write(tmp_path, text))
    assert says in str(err.value)


def test_every_problem_of_a_file_is_named_at_once(tmp_path):
    with pytest.raises(SettingsError) as err:
        load_process(write(tmp_path, "[search]\nexploration = -1\n[stopping]\nrisk = 0.9\n"))
    assert "search.exploration" in str(err.value) and "stopping.risk" in str(err.value)


def test_a_missing_or_broken_file_says_so(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_process(tmp_path / "nope.toml")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_process(write(tmp_path, "[ideas\nrule ="))


def test_a_keyword_that_contradicts_the_file_is_an_error():
    process = Process.model_validate({"stopping": {"risk": 0.05}})
    given = {"stop_risk": 0.02, "seed": 3}
    assert with_process(given, {"seed": 3}, process)["stop_risk"] == 0.05
    assert with_process(given, {"stop_risk": 0.05}, process)["stop_risk"] == 0.05  # same answer
    # at its default, as the CLI passes every option: the file's value
    assert with_process(given, {"stop_risk": 0.02}, process)["stop_risk"] == 0.05
    with pytest.raises(SettingsError, match=r"stop_risk \(0.1 given, 0.05 in the process file\)"):
        with_process(given, {"stop_risk": 0.1}, process)


def test_a_run_started_with_a_process_file_stores_its_settings(tmp_path, monkeypatch):
    import recursor
    from recursor.loop import setup

    path = tmp_path / "meta.toml"
    path.write_text("[ideas]\nrule = 'bandit'\n[stopping]\nrisk = 0.05\n")
    seen = {}

    def drive(store, observer, proposer):  # the run is created; stop before any experiment
        seen["config"] = RunConfig.from_json(store.meta()["config"])

    monkeypatch.setattr(setup, "drive", drive)
    recursor.run("tiny-lm", run_dir=tmp_path / "run", process=path, experiments=1)
    assert seen["config"].idea_rule == "bandit" and seen["config"].stop_risk == 0.05
    with pytest.raises(SettingsError, match="given both as a keyword and in the process file"):
        recursor.run("tiny-lm", run_dir=tmp_path / "other", process=path, stop_risk=0.1)
    assert not (tmp_path / "other").exists()
    # the command passes every option, set or not: those left alone yield to the file
    from typer.testing import CliRunner

    from recursor.cli import app as cli

    result = CliRunner().invoke(cli.app, ["run", "tiny-lm", "--process", str(path),
                                          "--run-dir", str(tmp_path / "cli"), "--experiments", "1"])
    assert result.exit_code == 0, result.output
    assert seen["config"].idea_rule == "bandit" and seen["config"].stop_risk == 0.05
    result = CliRunner().invoke(cli.app, ["run", "tiny-lm", "--process", str(path),
                                          "--stop-risk", "0.1", "--run-dir", str(tmp_path / "x")])
    assert result.exit_code != 0 and "given both" in result.output
    with pytest.raises(SettingsError, match="frozen"):
        path.write_text("[stopping]\naudit = 0\n")
        recursor.run("tiny-lm", run_dir=tmp_path / "third", process=path)
