"""The task brief a researcher reads: what to improve, the rules, the code, and what happened.

Every researcher that is not the built-in library (an LLM through an API, a coding agent through
its CLI) gets the same brief for a parent, so that what it knows is written down in one place and
can be shown to a person (`recursor show` keeps each prompt). It holds:

- the goal, the metric and its direction, the budget, and the rules the auditor enforces
  (stated up front: a researcher that knows a seed-keyed or network-using patch is rejected
  before it runs does not waste a turn on one);
- the editable files of the parent, whole, and the names of the read-only ones;
- the lineage from the baseline to the parent: each step's idea, verdict and effect;
- what else was tried on this parent and across the run, with outcomes and reasons (failures
  quoted), so a researcher neither repeats an idea nor repeats a crash;
- ideas of the task's library not yet tried here: known directions, to build on or avoid;
- discoveries of earlier runs (recursor.discoveries): of this task, to adapt to the parent; of other
  tasks, as suggestions;
- the facts a researcher cannot guess: the hardware experiments run on (a CUDA kernel is no use
  on a machine without a GPU, and the library's GPU ideas are not shown there), which files
  exist, which may change, and whether new files may be created (`program.new_files` in
  task.toml).

A small model has a small context window: `compact=True` gives a shorter brief (the last few
entries of the history, a few library ideas, and large editable files as an outline whose bodies
are elided with `...`, which the applier's elision rule takes back), for a researcher whose
model would not fit the whole one (`Endpoint.context_tokens`). The run's `brief` setting forces
either form, `brief_ideas` caps the library ideas shown and `brief_history` the entries of what
was tried (0: none; a 1.5B model copied the titles of that list, "— running" and all, as its
own idea, and the researcher checks for repeats itself): a shape of the brief, never its
words, so that a search over research processes cannot write a task's answers into it.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence

from recursor.proposer.base import ProposalContext
from recursor.proposer.ideas import fits
from recursor.store.records import Node, NodeStatus
from recursor.task.ideas import LibraryIdea, has_cuda

RULES = """\
- Change only the editable files. The harness, the data and every other file are read-only; a
  patch that touches them is rejected before it runs.
- The program gets its data, its seed and its output paths from its command line, and nothing
  else: no network, no environment variables, no other files, no processes, no sleeping or signal
  handling, no replacing functions of torch, numpy or the standard library, no code built at run
  time (exec/eval). An auditor checks each patch for these and rejects it before it runs.
- Use the seed you are given as it is given; never branch on it or replace it.
- The budget is fixed: the same training data, the same number of threads, the same time cap.
  Extra work hidden in threads, processes or the predict step is measured and rejected.
- Predicting is one causal forward pass per window: a window's output may depend on nothing but
  its own earlier bytes (not on later bytes, nor on the other windows of the call). Predict runs
  several times, in fresh processes that find only what training saved; it returns a float32 or
  float64 array of the exact shape, finite everywhere. No embedded text or data tables.
- A change is kept only if it beats its parent on fresh seeds beyond noise; a gain on one seed
  only, on the scored text only, or with no gain at all on the held-out corpus, is rejected."""

KERNEL_RULES = """\
- Change only solution.py. reference.py, ckernel.py and the harness are read-only; a patch that
  touches them is rejected before it runs.
- ModelNew keeps Model's constructor and forward signature and returns what Model returns (same
  shapes and dtypes, fresh tensors: never an input, an earlier output or a cached answer), for
  every input the harness draws (fresh values each call, signed, and a second shape).
- Do the work inside forward, before it returns: no threads or processes left working after
  it, no lazy tensor subclasses, no changing the inputs, no touching torch's functions, hooks,
  modes or settings (threads, grad mode, denormals) or the reference, no signal handlers or
  memory-protection tricks. Compiling (ckernel.compile, load_inline, Triton) may happen at import or in
  __init__: it is not timed.
- No network, no files beyond what ckernel builds, no environment variables, no sleeping, no
  code built from strings. An auditor and the harness's defences reject each of these.
- A change is kept only if its speedup over PyTorch eager beats its parent's on fresh seeds
  beyond noise, with every output within the task's tolerance."""

MAX_HISTORY = 30  # run-wide entries in the brief: enough to avoid repeats, short enough to read
COMPACT_HISTORY = 8
COMPACT_IDEAS = 6
COMPACT_DISCOVERIES = 3
OUTLINE_LINES = 160  # in a compact brief, editable files longer than this are outlined
CHARS_PER_TOKEN = 3.2  # code and Markdown under common BPE tokenizers; low, so estimates are high


def estimate_tokens(text: str) -> int:
    """A cautious token count: for deciding whether a brief fits a model's window."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def outcome(node: Node, metric: str, seeds: Sequence[int] | None = None) -> str:
    """One line: the node's status, its mean and the judge's reason."""
    mean = node.mean(metric, seeds)
    value = f", {metric} {mean:.4f}" if mean is not None else ""
    reason = (node.reason or "").replace("\n", " ")
    if len(reason) > 240:
        reason = reason[:237] + "..."
    return f"{node.status.value}{value}: {reason}" if reason else f"{node.status.value}{value}"


BRIEF_FORMS = ("auto", "full", "compact")  # the `brief` setting's choices


def task_brief(ctx: ProposalContext, compact: bool = False, ideas: int | None = None,
               history: int | None = None) -> str:
    """The brief for `ctx.parent`, as Markdown: whole, or `compact` for a small context;
    `ideas` caps the library ideas listed (default: all, or a few when compact), `history` the
    entries of what was tried (default: 30, or 8 when compact; 0: none)."""
    spec = ctx.task.spec
    metric, seeds = spec.metric.name, spec.seeds.values
    direction = "lower is better" if spec.minimize else "higher is better"
    parts = [
        f"# Task: {spec.title}",
        spec.goal.strip(),
        f"Metric: `{metric}` ({spec.metric.unit or 'no unit'}; {direction}). "
        f"Budget of every experiment: "
        + (", ".join(f"{k} = {v}" for k, v in spec.budget.items()) or "as the harness sets")
        + f"; {spec.limits.threads} thread(s), {spec.limits.memory_mb} MB.",
        _facts(ctx),
        "## Rules\n" + (KERNEL_RULES if is_kernel_task(ctx.task) else RULES),
        # what changes least comes first: a server that caches the evaluated prefix of the
        # last request (llama.cpp, hosted prompt caching) then reads only the new history
        _files(ctx, compact),
        _lineage(ctx, metric, seeds),
        _tried(ctx, metric, seeds,
               _fewest(history, COMPACT_HISTORY if compact else MAX_HISTORY)),
        # the directions last, nearest the request: a small model takes its idea from what it
        # read last (after the history, it echoed the history's titles and the task's goal)
        _discoveries(ctx, COMPACT_DISCOVERIES if compact else MAX_DISCOVERIES),
        _library(ctx, _fewest(ideas, COMPACT_IDEAS if compact else None)),
    ]
    return "\n\n".join(p for p in parts if p)


def _fewest(*caps: int | None) -> int | None:
    given = [c for c in caps if c is not None]
    return min(given) if given else None


def _facts(ctx: ProposalContext) -> str:
    spec = ctx.task.spec
    program = spec.program
    editable = writable_files(ctx)
    read_only = [f for f in program.files if f not in editable] + list(spec.harness.files)
    lines = ["## Facts: the machine and the files"]
    if has_cuda():
        lines.append("- Experiments run on this machine, which has an NVIDIA GPU.")
    else:
        lines.append(f"- Experiments run on this machine's CPU ({spec.limits.threads} "
                     f"thread(s), {spec.limits.memory_mb} MB). There is no GPU: CUDA "
                     "and GPU-only code cannot run.")
        if is_kernel_task(ctx.task):
            lines.append("- For a faster kernel, write C compiled with `ckernel.compile` (gcc, "
                         "at import; see ckernel.py below), or better vectorised PyTorch. "
                         "CUDA (.cu, load_inline with CUDA) and Triton will not run here.")
            # a small model sent ckernel's docstring example back as a layernorm's whole solution
            lines.append("- ckernel.py's example computes GELU, to show the calls: your kernel "
                         "must compute what reference.py's Model.forward computes.")
    lines.append(f"- Files that exist: {', '.join(sorted(ctx.parent_files))}.")
    lines.append(f"- You may edit: {', '.join(editable)}. Read-only (a patch touching them is "
                 f"rejected): {', '.join(read_only) or 'none'}.")
    if program.new_files:
        lines.append(f"- You may create new files matching: {', '.join(program.new_files)} "
                     "(a SEARCH/REPLACE block with an empty SEARCH creates one).")
    else:
        lines.append("- You may not create new files: put all code into the editable files.")
    return "\n".join(lines)


def writable_files(ctx: ProposalContext) -> list[str]:
    """The parent's files an idea may change: the editable ones, and new files ideas created."""
    return [f for f in ctx.parent_files if ctx.task.may_write(f)]


def _lineage(ctx: ProposalContext, metric: str, seeds: Sequence[int]) -> str:
    steps = len([n for n in ctx.lineage if not n.is_baseline])
    lines = [f"## The parent: node {ctx.parent.id}, and how it was reached"
             + (" (these changes are in its code already: build on them, do not make them "
                "again)" if steps else "")]
    for n in ctx.lineage:
        if n.is_baseline:
            lines.append(f"- node {n.id}: the baseline, {outcome(n, metric, seeds)}")
            continue
        # no hypothesis: it tells the step's change in its old numbers ("block_size from 64
        # to 32"), which a 1.5B model quoted as SEARCH, or made again, on the parent that
        # already held it; the code above says where each step left the program
        lines.append(f"- node {n.id}: {n.title} ({n.idea.category}) — {outcome(n, metric, seeds)}")
    return "\n".join(lines)


def _tried(ctx: ProposalContext, metric: str, seeds: Sequence[int], most: int) -> str:
    if most == 0:
        return ""
    on_parent = [n for n in ctx.children(ctx.parent.id)]
    in_lineage = {n.id for n in ctx.lineage}
    elsewhere = [n for n in ctx.nodes if n.idea and n.id not in in_lineage
                 and n.parent_id != ctx.parent.id]
    lines = []
    if on_parent:
        lines.append(f"## Already tried on node {ctx.parent.id} (do not repeat these)")
        # no proposer's name: a small model copied "(llm:…:architecture) — running" into its
        # own title
        lines += [f"- node {n.id}: {n.title} — {outcome(n, metric, seeds)}"
                  for n in on_parent if n.idea]
    if elsewhere:
        shown = elsewhere[-most:]
        lines.append(f"## Tried elsewhere in this run ({len(elsewhere)}; the last {len(shown)})")
        lines += [f"- node {n.id} (on node {n.parent_id}): {n.title} — {outcome(n, metric, seeds)}"
                  for n in shown]
    failed = [n for n in [*on_parent, *elsewhere] if n.status is NodeStatus.FAILED]
    if failed:
        lines.append("Failures above quote the error: a new idea should not fail the same way.")
    return "\n".join(lines)


def untried_ideas(ctx: ProposalContext) -> list[LibraryIdea]:
    """The task library's ideas that the run has not tried and that fit the parent, in the
    library's order."""
    tried = {n.idea.key for n in ctx.nodes if n.idea and n.idea.key}
    titles = [n.idea.title for n in ctx.nodes if n.idea]
    # an idea a model took from this list has no key: its title says it was tried; an idea
    # the parent already holds in its own words (a model's `block_size = 32`) no longer applies
    # or makes a program the run has: listed, a small model proposes it again and again
    return [i for i in ctx.task.ideas if i.key not in tried and i.runs_here()
            and not _named_in(i.title, titles) and fits(i, ctx)]


def _library(ctx: ProposalContext, most: int | None) -> str:
    fresh = untried_ideas(ctx)
    if most is not None:
        fresh = fresh[:most]
    if not fresh:
        return ""
    lines = ["## Known directions from the task's idea library, not yet tried in this run"]
    lines += [f"- {i.title} ({i.category})" for i in fresh]
    return "\n".join(lines)


MAX_DISCOVERIES = 12  # per section: the brief stays readable with a large library


def _named_in(title: str, titles: Sequence[str]) -> bool:
    from rapidfuzz import fuzz, utils

    # words without their punctuation: "Shorter context" names "Shorter context: block_size 32"
    return any(fuzz.token_set_ratio(title, t, processor=utils.default_process) >= 85
               for t in titles)


def _discoveries(ctx: ProposalContext, most: int) -> str:
    """What earlier runs proved, from the discovery library: for this task, steps to reapply or
    adapt to this parent; for other tasks, suggestions."""
    tried = {n.idea.key for n in ctx.nodes if n.idea and n.idea.key}
    past = [d for d in ctx.past_discoveries if f"discovery:{d.id}" not in tried]
    lines = []
    if past:
        lines.append("## Proven in earlier runs of this task (the discovery library), not yet "
                     "tried here: adapt them to this parent")
        lines += [f"- {d.title} ({d.category}): {_effect(d)}" for d in past[:most]]
    if ctx.other_discoveries:
        lines.append("## Proven on other tasks (suggestions: what worked there may work here)")
        lines += [f"- {d.title} ({d.category}; task {d.task}): {_effect(d)}"
                  for d in ctx.other_discoveries[-most:]]
    return "\n".join(lines)


def _effect(d) -> str:
    v = d.evidence.get("verdict", {})
    if v.get("effect") is None:
        return "accepted"
    pct = f" ({v['effect_pct']:+.2f}%)" if v.get("effect_pct") is not None else ""
    return f"{v['effect']:+.4g} {d.metric} better{pct} over its parent, p={v.get('p_value', 0):.2g}"


def _files(ctx: ProposalContext, compact: bool = False) -> str:
    spec = ctx.task.spec
    editable = writable_files(ctx)
    read_only = [f for f in spec.program.files if f not in editable] + list(spec.harness.files)
    lines = [f"## The parent's code (node {ctx.parent.id})",
             f"Editable: {', '.join(editable)}. Read-only: {', '.join(read_only) or 'none'}."]
    for name in editable:
        text = ctx.parent_files[name].rstrip()
        if compact and name.endswith(".py") and text.count("\n") >= OUTLINE_LINES:
            lines.append(f"### {name} (outline: the bodies of functions and classes are elided "
                         "with '...'; quote the lines you change exactly, and keep '...' lines "
                         f"in SEARCH and REPLACE alike for what you skip)\n```\n{outline(text)}\n```")
            continue
        lines.append(f"### {name}\n```\n{text}\n```")
    for name in read_only:  # a read-only helper the program may import: how to use it
        doc = _docstring(ctx.parent_files.get(name, "")) if name.endswith(".py") else None
        if doc:
            lines.append(f"### {name} (read-only; its documentation)\n{doc}")
    return "\n".join(lines)


def is_kernel_task(task) -> bool:  # a Task; untyped to keep this module free of task imports
    return "recursor.task.kernel.harness" in task.spec.harness.command


def outline(source: str) -> str:
    """`source` with the bodies of its functions elided: module-level code (imports,
    hyperparameters) whole, each def with its signature, docstring line and `...`."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.splitlines()
    drop: set[int] = set()
    marks: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            keep = first.end_lineno if (isinstance(first, ast.Expr) and isinstance(
                getattr(first, "value", None), ast.Constant)) else node.body[0].lineno - 1
            start, end = keep + 1, node.end_lineno
            if end - start >= 2:
                indent = " " * first.col_offset
                marks[start] = f"{indent}..."
                drop.update(range(start, end + 1))
    out = []
    for i, line in enumerate(lines, start=1):
        if i in marks:
            out.append(marks[i])
        if i not in drop:
            out.append(line)
    return "\n".join(out)


def _docstring(source: str) -> str | None:
    try:
        return ast.get_docstring(ast.parse(source))
    except (SyntaxError, ValueError):
        return None
