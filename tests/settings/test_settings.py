"""The settings model (recursor.settings) is the one source of `recursor run`'s options,
`recursor.run`'s keywords and RunConfig's fields, and runs stored before it still open."""

from __future__ import annotations

import dataclasses
import inspect
import json
from typing import Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

import recursor
from recursor.cli import app as cli
from recursor.errors import BudgetError, RecursorError, SettingsError
from recursor.settings import (
    SETTINGS,
    Launch,
    RunConfig,
    at_least,
    describe,
    keyword_parameters,
    keywords,
    setting,
    settings_of,
)
from recursor.settings.fields import BUDGET
from recursor.value import StopSettings

runner = CliRunner()

# `recursor run`'s options before the model: (option, its --no- form, default, repeatable)
OPTIONS_BEFORE = [
    ("--experiments", None, None, False), ("--minutes", None, None, False),
    ("--run-dir", None, None, False), ("--policy", None, "best-first", False),
    ("--workers", None, None, False), ("--seed", None, 0, False), ("--alpha", None, 0.02, False),
    ("--set", None, None, True), ("--ideas", None, None, True), ("--sandbox", None, "auto", False),
    ("--executor", None, "local", False), ("--ray-address", None, None, False),
    ("--heldout", "--no-heldout", True, False), ("--early-stop", "--no-early-stop", True, False),
    ("--stop-risk", None, 0.02, False), ("--stop-test-risk", None, 0.15, False),
    ("--stop-audit", None, 0.2, False), ("--proposer", None, "library", False),
    ("--model", None, None, True), ("--base-url", None, None, False),
    ("--context-tokens", None, None, False), ("--models-file", None, None, False),
    ("--persona", None, None, True), ("--max-cost", None, None, False),
    ("--library-share", None, 0.25, False), ("--propose-ahead", None, None, False),
    ("--agent-command", None, None, False), ("--agent-timeout", None, 900, False),
    ("--embeddings-model", None, None, False), ("--embeddings-url", None, None, False),
    ("--discoveries", "--no-discoveries", True, False), ("--discoveries-dir", None, None, False),
    ("--mlflow", None, None, False), ("--mlflow-experiment", None, None, False),
    ("--verbose", None, False, False),
]
# recursor.run's keywords before the model, with their defaults
KEYWORDS_BEFORE = dict(
    run_dir=None, experiments=None, minutes=None, policy="best-first", workers=None, seed=0,
    alpha=0.02, overrides=None, ideas=(), observer=None, proposer=None, sandbox="auto",
    heldout=True, models=(), models_file=None, base_url=None, context_tokens=None, personas=(),
    library_share=0.25, propose_ahead=None, max_repairs=2, max_cost=None, novelty=True,
    embeddings=None, agent_command=(), agent_timeout=900, executor="local", ray_address=None,
    early_stop=True, stop_risk=0.02, stop_test_risk=0.15, stop_audit=0.2, discoveries=True,
    discoveries_dir=None, mlflow=None, mlflow_experiment=None)
# what a run stored of a RunConfig() before the model: these keys, in this order (a setting
# added since comes after them)
STORED_DEFAULTS = (
    '{"experiments": 12, "minutes": null, "policy": "best-first", "workers": null, "seed": 0, '
    '"alpha": 0.02, "sandbox": "auto", "executor": "local", "ray_address": null, "heldout": true, '
    '"proposer": "library", "models": [], "personas": [], "library_share": 0.25, '
    '"max_repairs": 2, "propose_ahead": null, "max_cost": null, "novelty": true, '
    '"embeddings": null, "agent_command": [], "agent_timeout": 900, "overrides": {}, '
    '"early_stop": true, "stop_risk": 0.02, "stop_test_risk": 0.15, "stop_audit": 0.2, '
    '"discoveries": true, "discoveries_dir": null}')


def command_params(app: typer.Typer) -> dict[str, Any]:
    command = typer.main.get_command(app)
    if hasattr(command, "commands"):  # an app of several commands
        command = command.commands["run"]
    return {p.name: p for p in command.params}


def test_every_setting_is_an_option_a_keyword_and_a_field_with_the_same_default_and_help():
    options = command_params(cli.app)
    given = inspect.signature(recursor.run).parameters
    stored = {f.name: f for f in dataclasses.fields(RunConfig)}
    launch = {f.name for f in dataclasses.fields(Launch)}
    assert len(SETTINGS) == len(stored) + len(launch) >= 34
    for s in SETTINGS:
        for flag in s.flags:
            option = options[flag.name]
            assert option.opts[0] == (flag.decls or ("--" + flag.name.replace("_", "-"),))[0]
            assert option.default == flag.default, s.name
            assert option.help == (flag.help or s.help), s.name
        assert given[s.name].default == s.api_default, s.name
        assert given[s.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert s.name in recursor.run.__doc__
        if s.stored:
            assert getattr(RunConfig(), s.name) == s.default or s.name == "experiments"
        else:
            assert s.name in launch and s.name not in stored
    # and nothing else, but the options and keywords that are not settings
    names = {s.name for s in SETTINGS}
    assert set(given) - names == {"task", "ideas", "observer"}
    assert set(options) - {f.name for s in SETTINGS for f in s.flags} == {"task", "ideas",
                                                                          "verbose"}


def test_the_command_and_the_function_keep_every_option_and_keyword_of_before():
    options = {p.opts[0]: p for p in command_params(cli.app).values()}
    for opt, negative, default, repeated in OPTIONS_BEFORE:
        assert opt in options, opt
        o = options[opt]
        assert (o.secondary_opts[0] if o.secondary_opts else None, o.default, o.multiple) == (
            negative, default, repeated), opt
    assert {"--max-repairs", "--novelty"} <= set(options)  # recursor.run alone took them before
    given = inspect.signature(recursor.run).parameters
    assert {k: given[k].default for k in KEYWORDS_BEFORE} == KEYWORDS_BEFORE


def test_the_options_turn_into_the_keywords_they_gave_before(tmp_path, monkeypatch):
    given = {}

    def run(task, **options):
        given.update(options)
        raise RecursorError("stopped here")

    monkeypatch.setattr(recursor, "run", run)
    result = runner.invoke(cli.app, [
        "run", "tiny-lm", "--set", "budget.train_tokens=40000", "--set", "seeds.noise=0",
        "--model", "openai:a", "--model", "openai:b", "--persona", "systems",
        "--agent-command", "agent -p '{prompt} here'", "--embeddings-model", "e",
        "--embeddings-url", "http://embed", "--no-heldout", "--run-dir", str(tmp_path / "r"),
        "--max-repairs", "1", "--no-novelty", "--stop-risk", "0.05"])
    assert result.exit_code == 2 and "stopped here" in result.output
    assert given["overrides"] == {"budget.train_tokens": 40000, "seeds.noise": 0}
    assert given["models"] == ["openai:a", "openai:b"] and given["personas"] == ["systems"]
    assert given["agent_command"] == ["agent", "-p", "{prompt} here"]
    assert given["embeddings"] == {"model": "e", "base_url": "http://embed"}
    assert given["heldout"] is False and given["novelty"] is False
    assert given["max_repairs"] == 1 and given["stop_risk"] == 0.05
    assert given["run_dir"] == tmp_path / "r" and given["ideas"] == ()

    given.clear()
    runner.invoke(cli.app, ["run", "tiny-lm"])
    assert (given["overrides"], given["models"], given["personas"], given["agent_command"],
            given["embeddings"], given["proposer"], given["heldout"]) == (
        {}, (), (), (), None, "library", True)

    result = runner.invoke(cli.app, ["run", "tiny-lm", "--set", "nonsense"])
    assert result.exit_code == 2 and "error:" in result.output  # reported, not a traceback


@dataclasses.dataclass(frozen=True)
class Wider(RunConfig):
    quorum: int = setting(3, BUDGET, "A setting this test adds to the model (a new one's stand-in).",
                          check=at_least(1))


def test_a_setting_added_to_the_model_alone_is_an_option_a_keyword_and_a_stored_field(
        monkeypatch):
    model = settings_of(Wider, Launch)
    (added,) = [s for s in model if s.name not in {s.name for s in SETTINGS}]
    app = typer.Typer()
    app.command("run")(cli.run_command(model))
    option = command_params(app)["quorum"]
    assert option.opts == ["--quorum"] and option.default == 3 and option.help == added.help
    given = {}

    def run(task, **options):
        given.update(options)
        raise RecursorError("stopped here")

    monkeypatch.setattr(recursor, "run", run)
    assert runner.invoke(app, ["tiny-lm", "--quorum", "5"]).exit_code == 2
    assert given["quorum"] == 5

    assert {p.name: p.default for p in keyword_parameters(model)}["quorum"] == 3
    assert "quorum: int = 3" in describe(model)
    config = Wider.from_keywords(keywords({"quorum": 5}, model))
    assert config.quorum == 5 and config.to_json()["quorum"] == 5
    assert Wider.from_json(json.loads(json.dumps(config.to_json()))) == config
    assert Wider.from_json(RunConfig().to_json()).quorum == 3  # a run from before it
    with pytest.raises(SettingsError, match=r"quorum must be at least 1 \(got 0\)"):
        Wider(quorum=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'quorum'"):
        keywords({"quorum": 5}, SETTINGS)


def stored(config: RunConfig) -> dict:
    """What a run stores of `config`, read back, for the keys runs stored before the model."""
    data = json.loads(json.dumps(config.to_json()))
    return {k: data[k] for k in json.loads(STORED_DEFAULTS)}


def test_the_stored_config_is_written_as_before_and_old_runs_open():
    before = list(json.loads(STORED_DEFAULTS).items())
    assert list(json.loads(json.dumps(RunConfig().to_json())).items())[:len(before)] == before
    # the first runs stored these keys alone; a key this version does not know is dropped
    first = {"experiments": 4, "minutes": None, "policy": "greedy", "workers": 2, "seed": 7,
             "alpha": 0.05, "overrides": {"budget.train_tokens": 16384}, "colour": "blue"}
    config = RunConfig.from_json(first)
    assert (config.experiments, config.policy, config.workers, config.seed, config.alpha,
            config.overrides) == (4, "greedy", 2, 7, 0.05, {"budget.train_tokens": 16384})
    assert stored(config) == {**json.loads(STORED_DEFAULTS), **{
        k: v for k, v in first.items() if k != "colour"}}
    # a later run, read back from JSON: lists where the config holds tuples
    later = {**json.loads(STORED_DEFAULTS), "proposer": "mixed", "personas": ["systems"],
             "models": [{"model": "gpt-4o-mini", "provider": "openai", "base_url": None}],
             "agent_command": ["agent", "-p"]}
    config = RunConfig.from_json(later)
    assert config.personas == ("systems",) and config.agent_command == ("agent", "-p")
    assert config.models == ({"model": "gpt-4o-mini", "provider": "openai", "base_url": None},)
    assert stored(config) == later


def test_a_bad_setting_names_itself_and_what_it_allows_and_is_no_budget_problem():
    with pytest.raises(SettingsError) as err:
        RunConfig(personas=("optimizer", "poet"), policy="random", proposer="oracle",
                  sandbox="docker")
    text = str(err.value)
    assert "unknown persona(s) poet; choose optimizer, architecture, systems" in text
    assert "unknown policy 'random'; choose greedy, best-first, islands or map-elites" in text
    assert "unknown proposer 'oracle'; choose library, llm, mixed, agent or optuna" in text
    assert "unknown sandbox 'docker'; choose auto, bwrap, unshare or none" in text
    assert "budget" not in text
    assert isinstance(err.value, BudgetError)  # what callers caught before
    with pytest.raises(SettingsError, match=r"minutes must be positive \(got 0\); alpha must be "
                       r"between 0 and 0.5 \(got 0.5\); stop_audit must be between 0 and 1 "
                       r"\(got 2\)"):
        RunConfig(minutes=0, alpha=0.5, stop_audit=2)
    with pytest.raises(SettingsError, match=r"workers must be at least 1 \(got 0\)"):
        RunConfig(workers=0)
    with pytest.raises(SettingsError, match=r"max_repairs must be a number \(got 'two'\)"):
        RunConfig(max_repairs="two")
    with pytest.raises(SettingsError, match="proposer agent needs the agent's command line"):
        RunConfig(proposer="agent")
    assert RunConfig(minutes=5).experiments is None  # None where None is the default: unset


def test_recursor_run_refuses_a_bad_keyword_or_value_before_making_anything(tmp_path):
    with pytest.raises(TypeError, match="run\\(\\) got an unexpected keyword argument 'persona'"):
        recursor.run("tiny-lm", run_dir=tmp_path / "a", persona=["systems"])
    with pytest.raises(SettingsError, match="unknown persona\\(s\\) poet"):
        recursor.run("tiny-lm", run_dir=tmp_path / "b", personas=["poet"])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

    result = runner.invoke(cli.app, ["run", "tiny-lm", "--run-dir", str(tmp_path / "c"),
                                     "--persona", "poet", "--executor", "dask"])
    assert result.exit_code == 2 and "unknown persona(s) poet; choose" in result.output
    assert "unknown executor 'dask'; choose local or ray" in result.output
    assert not (tmp_path / "c").exists()


def test_the_stop_rule_takes_its_levels_and_their_ranges_from_the_run_settings():
    rule = StopSettings()
    assert (rule.risk, rule.test_risk, rule.audit) == tuple(
        RunConfig().to_json()[k] for k in ("stop_risk", "stop_test_risk", "stop_audit"))
    config = RunConfig(stop_risk=0.05, stop_test_risk=0.1, stop_audit=0.5)
    assert StopSettings.of(config) == StopSettings(risk=0.05, test_risk=0.1, audit=0.5)
    with pytest.raises(ValueError, match=r"stop test risk must be between 0 and 0.5 \(got 0.5\)"):
        StopSettings(test_risk=0.5)
