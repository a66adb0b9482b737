"""Settings drawn by Optuna's sampler (`--proposer optuna`): for programs that are settings files.

Some programs are settings, not code: the meta-research task's is a process file (`meta.toml`),
and a user's hyperparameter file may be one too. For those a well-kept optimiser over a typed
space beats a hand-written list of ideas. The task declares the space in task.toml's
`[[space]]` (keys of its editable TOML files, each with choices or a range;
recursor.task.space), and each proposal is one Optuna trial: values for every key of the space,
written into the parent's files, recorded as an idea of category "hyperparameter" whose title
names the values it changes and whose reason names the sampler and the trials behind the draw.

Nothing lives outside the run's store. On every proposal the study is built anew, in memory,
from the nodes: a node whose program holds a point of the space (its files parse and every key
holds a value the space holds) is a trial with those values as its parameters:

- measured (a finished seed of the metric): complete, its value the mean over its seeds, the
  study's direction the task's;
- stopped early before any seed finished: pruned (TPE ranks those below every measured trial);
- failed: a failed trial (TPE leaves those out);
- still running: a running trial (with the constant liar TPE counts it as bad until it ends,
  so that the next draw goes elsewhere);
- rejected before it ran (a duplicate, an auditor's block): left out, it measured nothing.

Nodes made by other proposers count too, the baseline first (`others=False` leaves them out):
a library idea that changes the settings file measures those settings as well as a draw does,
and a node that changed code beside them adds noise to the model, not a lean towards any value.
So a resumed run, or a second proposer over the same store, draws what the first would have.

The sampler is TPE (multivariate, constant liar), seeded by the proposal's seed (the run's seed
and its number of nodes): the same run state gives the same draw. Its random start is 5
trials, not Optuna's 10: a run measures tens of programs, not hundreds. A draw that gives the
parent's own values, or a program the run holds, is drawn again, up to `redraws` times; then
there is nothing left for that parent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import tomllib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from recursor import patch as patches
from recursor.discoveries.records import program_hash
from recursor.errors import PatchError, RecursorError, TaskError
from recursor.proposer.base import Proposal, ProposalContext, ProposalFailed
from recursor.store.records import Idea, Node, NodeStatus
from recursor.task.folder import Task
from recursor.task.space import MISSING, in_space, lookup, write_values
from recursor.task.spec import SpaceSpec

SAMPLERS = ("tpe", "random")
STARTUP = 5  # TPE's random start, in finished trials
REDRAWS = 32
INSTALL = "pip install 'recursor[optuna]'"


def import_optuna() -> Any:
    """Optuna, imported only when this proposer is used: an optional dependency."""
    try:
        import optuna
    except ImportError as err:
        raise RecursorError(f"the optuna proposer needs Optuna, which is not installed ({err}); "
                            f"install it with: {INSTALL}") from None
    return optuna


def require_space(task: Task) -> tuple[SpaceSpec, ...]:
    """The task's settings space; a TaskError that says what to declare when it has none."""
    if not task.spec.space:
        raise TaskError(task.name, [
            "the optuna proposer draws the settings a task declares in task.toml's [[space]] "
            "(a key of an editable TOML file with its choices or its range); this task declares "
            "none (see docs/task-folders.md, 'A settings space')"])
    return task.spec.space


def names(space: Sequence[SpaceSpec]) -> list[str]:
    """The parameters' names: the keys, with their file where the space has several files."""
    one_file = len({s.file for s in space}) == 1
    return [s.key if one_file else f"{s.file}:{s.key}" for s in space]


class OptunaProposer:
    """Each proposal one trial of an Optuna study rebuilt from the run's nodes (see the
    module's docstring). `read_files` gives a node's program: the run's `RunStore.files`, so
    one proposer serves one run."""

    name = "optuna"

    def __init__(self, read_files: Callable[[Node], Mapping[str, str]], sampler: str = "tpe",
                 startup: int = STARTUP, redraws: int = REDRAWS, others: bool = True) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose {', '.join(SAMPLERS)}")
        self.optuna = import_optuna()
        self.read_files = read_files
        self.sampler, self.startup, self.redraws, self.others = sampler, startup, redraws, others
        # node -> (its settings at the space's keys, MISSING where unset; its program with the
        # settings files as what they say, not how they are written), None: a settings file
        # that does not parse. A node's files never change
        self._read: dict[int, tuple[dict[str, Any], str] | None] = {}

    def has_ideas_for(self, ctx: ProposalContext) -> bool:
        return self._settings(ctx.parent, require_space(ctx.task), ctx.parent_files) is not None

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        space = require_space(ctx.task)
        values = self._settings(ctx.parent, space, ctx.parent_files)
        if values is None:
            return None
        # as the space holds them: a range's 1 is its 1.0, and writing that changes nothing
        parent = {n: in_space(s, values[n]) for n, s in zip(names(space), space, strict=True)}
        dists = self.distributions(space)
        with self._quiet():
            study, told = self._study(ctx, space, dists)
            skipped = {"parent": 0, "held": 0}
            held = self._held(ctx, space)
            for _ in range(self.redraws):
                params = study.ask(dists).params
                if all(_same(params[n], parent[n]) for n in dists):
                    skipped["parent"] += 1
                    continue
                files = self._written(ctx.parent_files, space, params)
                program = {**ctx.parent_files, **files}
                if program_hash(program) in ctx.programs or \
                        _meaning(program, space) in held:
                    skipped["held"] += 1
                    continue
                break
            else:
                return None
        changed = [f"{n} {_show(values[n])} → {_show(params[n])}" for n in dists
                   if not _same(params[n], parent[n])]
        metric = ctx.task.spec.metric
        listed = ", ".join(f"{n} = {_show(v)}" for n, v in params.items())
        idea = Idea(
            title="Optuna: " + ", ".join(changed),
            hypothesis=(f"These settings give a {'lower' if ctx.task.spec.minimize else 'higher'}"
                        f" {metric.name} than node {ctx.parent.id}'s."),
            rationale=(f"Drawn by Optuna's {self._label()} over the task's space of "
                       f"{len(space)} settings, given every measured program of this run as a "
                       f"trial. The draw: {listed}."),
            source=f"Optuna {self.optuna.__version__}, {self._label()}",
            category="hyperparameter",
            proposer=self.name,
            reason=self._reason(ctx.seed, told, skipped),
        )
        return Proposal(idea=idea, patch_text=_patch(ctx.parent_files, files))

    def study(self, ctx: ProposalContext) -> Any:
        """The study the next draw for `ctx` comes from: the run's nodes as its trials."""
        space = require_space(ctx.task)
        with self._quiet():
            return self._study(ctx, space, self.distributions(space))[0]

    def distributions(self, space: Sequence[SpaceSpec]) -> dict[str, Any]:
        """Parameter name -> Optuna distribution, in the space's order."""
        d = self.optuna.distributions
        out = {}
        for name, s in zip(names(space), space, strict=True):
            if s.choices is not None:
                out[name] = d.CategoricalDistribution(list(s.choices))
            elif s.integer:
                out[name] = d.IntDistribution(int(s.low), int(s.high), log=s.log)
            else:
                out[name] = d.FloatDistribution(float(s.low), float(s.high), log=s.log)
        return out

    def point(self, node: Node, space: Sequence[SpaceSpec]) -> dict[str, Any] | None:
        """The node's settings as a point of the space (parameter name -> value), None when
        its program holds none (a file that does not parse, a key unset or out of the space)."""
        values = self._settings(node, space)
        if values is None:
            return None
        point = {n: in_space(s, values[n]) for n, s in zip(names(space), space, strict=True)}
        return None if any(v is MISSING for v in point.values()) else point

    # -- the study ---------------------------------------------------------------------------

    def _make_sampler(self, seed: int) -> Any:
        samplers = self.optuna.samplers
        seed %= 2**32  # numpy's seeds are 32 bits
        if self.sampler == "random":
            return samplers.RandomSampler(seed=seed)
        return samplers.TPESampler(seed=seed, n_startup_trials=self.startup, multivariate=True,
                                   constant_liar=True)

    def _study(self, ctx: ProposalContext, space: Sequence[SpaceSpec],
               dists: Mapping[str, Any]) -> tuple[Any, dict[str, int]]:
        """A new study with the run's nodes as its trials, and how many of each kind."""
        study = self.optuna.create_study(direction=ctx.task.spec.metric.direction,
                                         sampler=self._make_sampler(ctx.seed))
        create, state = self.optuna.trial.create_trial, self.optuna.trial.TrialState
        metric = ctx.task.spec.metric.name
        told = {"measured": 0, "stopped": 0, "failed": 0, "running": 0}
        for node in sorted(ctx.nodes, key=lambda n: n.id):
            if not self.others and (node.idea is None or node.idea.proposer != self.name):
                continue
            point = self.point(node, space)
            if point is None:
                continue
            # every finished seed, the fresh confirmation ones too: more seeds, less noise
            values = list(node.values(metric).values())
            if node.status is NodeStatus.RUNNING:
                kind, trial = "running", create(state=state.RUNNING, params=point,
                                                distributions=dict(dists))
            elif values:
                kind, trial = "measured", create(value=statistics.fmean(values), params=point,
                                                 distributions=dict(dists))
            elif node.status is NodeStatus.STOPPED_EARLY:
                kind, trial = "stopped", create(state=state.PRUNED, params=point,
                                                distributions=dict(dists))
            elif node.status is NodeStatus.FAILED:
                kind, trial = "failed", create(state=state.FAIL, params=point,
                                               distributions=dict(dists))
            else:
                continue
            study.add_trial(trial)
            told[kind] += 1
        return study, told

    def _settings(self, node: Node, space: Sequence[SpaceSpec],
                  files: Mapping[str, str] | None = None) -> dict[str, Any] | None:
        """Parameter name -> the node's value at its key (MISSING where unset); None when a
        file of the space is missing or does not parse."""
        read = self._node(node, space, files)
        return None if read is None else read[0]

    def _node(self, node: Node, space: Sequence[SpaceSpec],
              files: Mapping[str, str] | None = None) -> tuple[dict[str, Any], str] | None:
        if node.id not in self._read:
            try:
                files = files if files is not None else self.read_files(node)
                parsed = {f: tomllib.loads(files[f]) for f in {s.file for s in space}}
            except (RecursorError, KeyError, tomllib.TOMLDecodeError, OSError):
                self._read[node.id] = None
            else:
                values = {n: lookup(parsed[s.file], s.key)
                          for n, s in zip(names(space), space, strict=True)}
                self._read[node.id] = (values, _meaning(files, space, parsed))
        return self._read[node.id]

    def _held(self, ctx: ProposalContext, space: Sequence[SpaceSpec]) -> set[str]:
        """The run's programs by what their settings say: 'a' and "a" are one value, and a
        draw that writes the value a node has in other quotes is that node's program."""
        read = (self._node(n, space, ctx.parent_files if n.id == ctx.parent.id else None)
                for n in ctx.nodes if n.workspace)
        return {r[1] for r in read if r is not None}

    def _written(self, files: Mapping[str, str], space: Sequence[SpaceSpec],
                 params: Mapping[str, Any]) -> dict[str, str]:
        """The space's files with the drawn values written in."""
        out = {}
        for file in dict.fromkeys(s.file for s in space):
            mine = {s.key: params[n] for n, s in zip(names(space), space, strict=True)
                    if s.file == file}
            try:
                out[file] = write_values(files[file], mine)
            except ValueError as err:
                raise ProposalFailed(f"{file}: {err}") from None
        return out

    def _label(self) -> str:
        return ("TPE sampler (multivariate, constant liar)" if self.sampler == "tpe"
                else "random sampler")

    def _reason(self, seed: int, told: Mapping[str, int], skipped: Mapping[str, int]) -> str:
        finished = told["measured"] + told["stopped"]
        reason = (f"Optuna's {self._label()}, seed {seed % 2**32}, informed by {finished} "
                  f"finished trial(s) of this run ({told['measured']} measured, "
                  f"{told['stopped']} stopped early)")
        extra = [f"{told['failed']} failed (left out)" if told["failed"] else "",
                 f"{told['running']} running" if told["running"] else ""]
        reason += "".join(f"; {e}" for e in extra if e)
        if self.sampler == "tpe" and finished < self.startup:
            reason += f"; TPE's random start: it models the trials once {self.startup} finished"
        if skipped["parent"] or skipped["held"]:
            reason += (f"; drawn again {skipped['parent'] + skipped['held']} time(s) "
                       f"({skipped['parent']} gave the parent's values, {skipped['held']} a "
                       "program the run holds)")
        return reason

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Without Optuna's note on every study made, or its warnings about options that are
        experimental in some versions (multivariate TPE, the constant liar)."""
        logger = logging.getLogger("optuna")
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", self.optuna.exceptions.ExperimentalWarning)
                yield
        finally:
            logger.setLevel(level)


def _meaning(files: Mapping[str, str], space: Sequence[SpaceSpec],
             parsed: Mapping[str, Any] | None = None) -> str:
    """A program's hash with its settings files as the data they hold (keys sorted)."""
    parsed = parsed or {f: tomllib.loads(files[f]) for f in {s.file for s in space}}
    return program_hash({**files, **{f: json.dumps(data, sort_keys=True, default=repr)
                                     for f, data in parsed.items()}})


def _same(a: Any, b: Any) -> bool:
    # True == 1 to Python, not in a settings file
    return type(a) is type(b) and a == b


def _show(value: Any) -> str:
    if value is MISSING:
        return "(unset)"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _patch(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """Each changed file replaced whole, as SEARCH/REPLACE blocks; a unified diff where a
    line of the file would read as a block marker (a multi-line string holding '=======')."""
    blocks = []
    for name, text in new.items():
        if text != old[name]:
            blocks.append(f"{name}\n<<<<<<< SEARCH\n{_ended(old[name])}=======\n"
                          f"{_ended(text)}>>>>>>> REPLACE\n")
    text = "".join(blocks)
    want = {n: t for n, t in new.items() if t != old[n]}
    for candidate in (text, patches.unified_diff(old, new)):
        try:
            if patches.apply(patches.parse_any(candidate), old) == want:
                return candidate
        except PatchError:
            continue
    raise ProposalFailed("the drawn settings could not be written as a patch that applies")


def _ended(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"
