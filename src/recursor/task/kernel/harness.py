"""The harness of the kernel tasks (read the package docstring for the folder format).

recursor starts it in the task folder with `RECURSOR_CONFIG` (see `recursor.executor.job`). It
is trusted: it never runs the candidate's code itself. In its own process it

1. draws the correctness input sets from `get_inputs()` under seeds it picks (signed where the
   problem draws from [0, 1)), for the timed shape and every second shape, and computes the
   reference's answers; the timed calls' inputs are drawn by the runner, one set per call from
   the same distribution under a seed from the OS's entropy, so that no one knows them before
   the call and a timed call cannot be told from a checked one;
2. measures what this machine can do for this problem: memcpy speed at the problem's working
   set and the peak of a large matmul (the physical bound), and the reference's own time;
3. starts `runner.py` in the sandbox (see there) with a secret that marks the runner's JSON
   lines (a line without it was written by something else in the process), reads them with its
   own clock, then compares the saved outputs with its own answers (per-dtype tolerances from
   task.toml) and re-checks the timed outputs the runner kept, a random sample chosen after
   each call, on inputs it draws again from the seeds the runner reports.

The metric is the median of (reference time / candidate time) over the timed calls, taken per
two consecutive trials (see `paired_ratios`), with a distribution-free 95% interval. Each
defence that fails is a blocking finding named `kernel.*`: correctness, second-shape,
aliasing, inputs-modified, output-type, output-memory, timed-outputs, work-after-clock,
reference-changed, runner-changed, global-state, report-forged, clock, impossible-time (and
reference-slowed, a warning).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import math
import operator
import os
import secrets
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from recursor.harness import (
    HarnessError,
    child_env,
    finding,
    harness_main,
    run_child,
)
from recursor.task.kernel.guards import draw_inputs

RUNNER = Path(__file__).with_name("runner.py")
GUARDS = Path(__file__).with_name("guards.py")  # the runner's checks, copied beside it
SAMPLED = 3  # timed calls whose outputs the harness re-checks itself (a random sample)
ONCE = ("compiled", "timing-start", "timing", "timing-end", "done")  # the runner sends each once
SLOWED = 1.5  # reference slower in the runner than here by more than this: tampering
IMPOSSIBLE = 0.5  # a call faster than this share of the physical bound cannot be real
CLOCK_SLACK = 1.05  # timed calls cannot add up to more than the time that passed
DEFAULT_TOLERANCE = {"float32": (1e-4, 1e-4), "float64": (1e-7, 1e-7), "float16": (1e-2, 1e-2),
                     "bfloat16": (2e-2, 2e-2)}


def load_reference(path: Path):
    spec = importlib.util.spec_from_file_location("_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("Model", "get_inputs", "get_init_inputs"):
        if not hasattr(module, name):
            raise HarnessError(f"reference.py defines no {name}")
    return module


def device_of(settings) -> str:
    wanted = settings.get("device", "auto")
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.FloorDiv: operator.floordiv, ast.Div: operator.truediv, ast.Pow: operator.pow}


def evaluate(expression: str, names: dict) -> float:
    """A FLOPs formula over the shape constants: numbers, names and + - * / // ** only."""
    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name) and node.id in names:
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        raise HarnessError(f"settings.flops: cannot evaluate {ast.unparse(node)!r}")
    return float(walk(ast.parse(expression, mode="eval")))


def reference_outputs(reference, constants, init_seed, inputs, device):
    for name, value in constants.items():
        setattr(reference, name, value)
    init = reference.get_init_inputs()
    torch.manual_seed(init_seed)
    model = reference.Model(*init).to(device).eval()
    with torch.no_grad():
        out = model(*[x.to(device) if isinstance(x, torch.Tensor) else x for x in inputs])
    return [t.detach().cpu() for t in (out if isinstance(out, (tuple, list)) else [out])], model


def compare(outputs, expected, tolerance):
    """None if every output matches; else what is wrong, for the finding."""
    if len(outputs) != len(expected):
        return f"{len(outputs)} output(s), the reference gives {len(expected)}"
    for i, (a, b) in enumerate(zip(outputs, expected, strict=True)):
        if not isinstance(a, torch.Tensor):
            return f"output {i} is not a tensor"
        if a.shape != b.shape or a.dtype != b.dtype:
            return (f"output {i} is {tuple(a.shape)} {a.dtype}, the reference's is "
                    f"{tuple(b.shape)} {b.dtype}")
        if not b.is_floating_point():
            if not torch.equal(a, b):
                return f"output {i}: {int((a != b).sum())} of {b.numel()} values differ"
            continue
        atol, rtol = tolerance.get(str(b.dtype).removeprefix("torch."), (1e-4, 1e-4))
        if not torch.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True):
            diff = (a.double() - b.double()).abs().nan_to_num(float("inf"))
            where = np.unravel_index(int(diff.argmax()), tuple(b.shape)) if b.dim() else ()
            bad = int((~torch.isclose(a, b, atol=atol, rtol=rtol, equal_nan=True)).sum())
            return (f"output {i}: {bad} of {b.numel()} values outside atol {atol:g} rtol "
                    f"{rtol:g}; max abs error {diff.max().item():.3g} at {tuple(map(int, where))} "
                    f"(got {a[where].item():.6g}, expected {b[where].item():.6g})")
    return None


def best_time(fn, repeats, device):
    best = math.inf
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter_ns()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter_ns() - t0)
    return best


def physical_bound(in_bytes, out_bytes, flops, device, threads):
    """The least time a call can take here (ns): moving its bytes at the memcpy speed measured
    at the same working set, or its FLOPs at the peak of a large matmul. On a CPU both are
    measured on one thread and multiplied by the threads the candidate has: generous (threads
    share the memory bus), and free of the stragglers a busy machine gives a parallel region."""
    # a copy of the call's larger side (inputs or outputs), at least 1 MiB so that the
    # copy's own overhead does not count as bandwidth
    n = min(max(in_bytes, out_bytes, 1 << 20), 256 << 20)
    src = torch.empty(n, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty(n, dtype=torch.uint8, device=device)
    scale = 1 if device == "cuda" else threads
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dst.copy_(src)  # the first copy faults the pages in
        copy_ns = best_time(lambda: dst.copy_(src), 15, device) / scale
        # the call reads `in_bytes` and writes `out_bytes`; the copy moved 2 n bytes
        bytes_ns = copy_ns * (in_bytes + out_bytes) / (2 * n)
        peak, flops_ns = {}, 0.0
        if flops:
            a = torch.randn(512, 512, device=device)
            mm_ns = best_time(lambda: a @ a, 7, device) / scale
            peak = {"gflops": round(2 * 512**3 / mm_ns, 1)}
            flops_ns = flops / (2 * 512**3 / mm_ns)
    finally:
        torch.set_num_threads(before)
    return max(bytes_ns, flops_ns), {"memcpy_gbps": round(2 * n / copy_ns, 1), **peak}


def paired_ratios(ref_ns, new_ns):
    """One speedup per two consecutive trials (one with the reference first, one with the
    candidate first): the geometric mean of their ratios, so that an advantage of going first
    or second cancels within each pair instead of splitting the ratios into two clusters."""
    ratios = [r / max(n, 1) for r, n in zip(ref_ns, new_ns, strict=True)]
    return [math.sqrt(a * b) for a, b in zip(ratios[::2], ratios[1::2], strict=False)]


def median_ci(ratios, level=0.95):
    """The median and its distribution-free interval (order statistics, binomial ranks)."""
    xs = sorted(ratios)
    n = len(xs)
    k = half_binomial_quantile((1 - level) / 2, n)  # 1-based rank of the lower end (n=30: 10)
    return statistics.median(xs), xs[max(0, k - 1)], xs[min(n - 1, n - k)]


def half_binomial_quantile(q, n):
    """The smallest k with P(Binomial(n, 1/2) <= k) >= q, exactly (scipy's binom.ppf; scipy.stats
    took 2 s of each kernel job's 11 to import, for this one number)."""
    total, cdf = 2**n, 0
    for k in range(n + 1):
        cdf += math.comb(n, k)
        if cdf / total >= q:  # int / int: no float of 2**n, which overflows past n = 1023
            return k
    return n


class Listener:
    """Reads the runner's JSON lines, stamping each with the harness's own clock. Only a line
    carrying the runner's secret is the runner's: the candidate shares its process and can
    write to the same pipe (its number is on the command line), so every other line, and a
    second line of a kind the runner sends once, is counted as forged and otherwise ignored."""

    def __init__(self, fd, secret):
        self.records: list[dict] = []
        self.forged = 0
        self._secret = secret
        self._thread = threading.Thread(target=self._read, args=(fd,), daemon=True)
        self._thread.start()

    def _read(self, fd):
        # not json_lines, which skips what does not parse: a line the candidate wrote part of
        # (a prefix before the runner's next line) is a runner's line lost, so it counts
        with os.fdopen(fd, "r", errors="replace") as pipe:
            for line in pipe:
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if not isinstance(record, dict) or record.pop("secret", None) != self._secret or (
                        record.get("type") in ONCE and self.first(record["type"])):
                    self.forged += 1
                    continue
                record["_at_ns"] = time.perf_counter_ns()
                self.records.append(record)

    def join(self):
        self._thread.join(timeout=10)

    def first(self, kind):
        return next((r for r in self.records if r.get("type") == kind), None)


def run(config, metrics):
    settings, budget, seed = config["settings"], config["budget"], config["seed"]
    evaluation = config["evaluation"]
    threads = config["limits"]["threads"]
    torch.set_num_threads(threads)
    device = device_of(settings)
    shapes = settings.get("shapes", {}).get(device) or [{}]
    tolerance = {**DEFAULT_TOLERANCE, **{k: tuple(v) for k, v in settings.get("tolerance", {}).items()}}
    reference = load_reference(Path("reference.py").resolve())
    scratch = Path(config["scratch"])
    work = scratch / "kernel"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy("reference.py", work / "_reference.py")
    shutil.copy(RUNNER, work / "_runner.py")
    shutil.copy(GUARDS, work / "_runner_guards.py")
    rng = np.random.default_rng([seed, 0x6B65726E])  # the harness's draws; the runner never sees them
    init_seed = int(rng.integers(1 << 30))

    # 1. correctness sets, the reference's answers (kept here), the timing inputs
    cases, expected = [], {}
    signed = bool(settings.get("signed", True))
    n_sets = int(settings.get("correctness_sets", 3))
    for j, constants in enumerate(shapes):
        for k in range(n_sets if j == 0 else max(1, n_sets - 1)):
            name = f"shape{j}-set{k}"
            set_seed = int(rng.integers(1 << 30))
            inputs = draw_inputs(reference, constants, set_seed, signed)
            outs, _ = reference_outputs(reference, constants, init_seed, inputs, device)
            if signed and not all(bool(t.isfinite().all()) for t in outs if t.is_floating_point()):
                # the operation needs its own domain (a log, a square root): keep the
                # problem's distribution for this problem, rather than check on NaNs
                signed = False
                inputs = draw_inputs(reference, constants, set_seed, signed)
                outs, _ = reference_outputs(reference, constants, init_seed, inputs, device)
            torch.save(inputs, work / f"{name}.in.pt")
            expected[name] = outs
            cases.append({"name": name, "constants": constants, "init_seed": init_seed,
                          "inputs": str(work / f"{name}.in.pt"),
                          "outputs": str(work / f"{name}.out.pt"), "shape_index": j,
                          "output_shapes": [(list(t.shape), str(t.dtype).removeprefix("torch."))
                                            for t in outs]})
    timed_constants = shapes[0]
    first = draw_inputs(reference, timed_constants, int(rng.integers(1 << 30)), signed)
    outs0, ref_model = reference_outputs(reference, timed_constants, init_seed, first, device)
    x0 = [x.to(device) if isinstance(x, torch.Tensor) else x for x in first]
    in_bytes = sum(x.numel() * x.element_size() for x in first if isinstance(x, torch.Tensor))
    out_bytes = sum(t.numel() * t.element_size() for t in outs0)
    trials, warmup = int(budget.get("trials", 30)), int(budget.get("warmup", 3))
    against = evaluation.get("against", "eager")
    if against == "compiled":
        warmup = max(warmup, 2)  # the first calls compile
    # 2. this machine: the physical bound and the reference's own time
    flops = evaluate(settings["flops"], timed_constants) if settings.get("flops") else 0.0
    bound_ns, machine = physical_bound(in_bytes, out_bytes, flops, device, threads)
    def reference_alone():
        with torch.no_grad():
            return best_time(lambda: ref_model(*x0), 30, device)

    ref_alone_ns = reference_alone()
    sampled_dir = work / "sampled"
    shutil.rmtree(sampled_dir, ignore_errors=True)
    sampled_dir.mkdir()

    # nothing here says what the timed calls' inputs will be, or which calls are checked again
    job = {"threads": threads, "device": device, "workspace": config["workspace"],
           "correctness": cases, "tolerance": tolerance,
           "timing": {"constants": timed_constants, "init_seed": init_seed, "against": against,
                      "signed": signed, "trials": trials, "warmup": warmup,
                      "sampled": min(SAMPLED, trials), "sampled_dir": str(sampled_dir),
                      "output_shapes": [(list(t.shape), str(t.dtype).removeprefix("torch."))
                                        for t in outs0]}}
    (work / "job.json").write_text(json.dumps(job))

    # 3. the candidate, in the sandbox
    log_path = config.get("program_log") or str(scratch / "program.log")
    env = child_env(str(scratch), threads)
    env["OMP_WAIT_POLICY"] = "PASSIVE"  # idle OpenMP threads sleep: their CPU is real work
    read_fd, write_fd = os.pipe()
    secret = secrets.token_hex(16)
    secret_fd, secret_w = os.pipe()  # read by the runner before the candidate's import
    os.write(secret_w, secret.encode())
    os.close(secret_w)
    started = time.perf_counter_ns()
    with open(log_path, "ab") as log:
        _, watch = run_child([sys.executable, str(work / "_runner.py"), str(work / "job.json"),
                              str(write_fd), str(secret_fd)], str(scratch), env,
                             float(budget.get("seconds", 240)), "the candidate", log,
                             config.get("sandbox"), (write_fd, secret_fd))
        os.close(write_fd)
        os.close(secret_fd)
        listener = Listener(read_fd, secret)
        try:
            usage = watch.wait()
        except HarnessError as err:
            listener.join()
            error = listener.first("error")
            raise HarnessError(f"{err}: {error['reason']}" if error else str(err)) from None
        listener.join()
    wall = (time.perf_counter_ns() - started) / 1e9
    # measured again after the candidate: a busy moment before it cannot lower the bound alone
    bound_after, machine_after = physical_bound(in_bytes, out_bytes, flops, device, threads)
    ref_alone_ns = min(ref_alone_ns, reference_alone())
    if bound_after < bound_ns:
        bound_ns, machine = bound_after, machine_after
    records = listener.records
    error = listener.first("error")
    if error:
        raise HarnessError(f"the candidate failed at {error['stage']}: {error['reason']}")
    compiled = listener.first("compiled")

    found = [finding(r["check"], r["message"] + (f" ({r['case']})" if r.get("case") else ""))
             for r in records if r.get("type") == "finding"]
    if listener.forged:
        found.append(finding("kernel.report-forged", f"{listener.forged} line(s) on the runner's "
                             "report pipe were not the runner's (no secret, a wrong one, a "
                             "second record of a kind sent once, or a line broken into): "
                             "something else in the process wrote to it"))
    saved = {r["path"]: r["sha256"] for r in records if r.get("type") == "saved"}
    changed = sorted(Path(p).name for p, digest in saved.items() if digest != sha256_of(p))
    if changed:
        found.append(finding("kernel.report-forged", f"{', '.join(changed)} changed after the "
                             "runner saved them: something else in the process wrote over them"))
    result = {"compile_seconds": compiled and compiled["seconds"], "wall_seconds": round(wall, 2),
              "machine": machine, "usage": usage}
    if usage.get("strays"):
        found.append(finding("budget.processes", f"the candidate left {usage['strays']} "
                             "process(es) running; they were killed", f"strays={usage['strays']}"))

    # 4. correctness, from the harness's own answers
    for case in cases:
        path = Path(case["outputs"])
        if not path.exists() or str(path) not in saved:
            if not found:
                raise HarnessError(f"the runner saved no outputs for {case['name']}")
            break
        got = torch.load(path, weights_only=True)
        problem = compare(got, expected[case["name"]], tolerance)
        if problem:
            check = "kernel.correctness" if case["shape_index"] == 0 else "kernel.second-shape"
            found.append(finding(check, f"wrong result on input set {case['name']} "
                                 f"{case['constants']}: {problem}"))
            break
    timing = listener.first("timing")
    if found or timing is None:
        if not found:
            raise HarnessError("the runner reported no timing")
        result["metrics"] = {evaluation["name"]: 0.0}
        result["findings"] = found
        return result

    # 5. the timed calls
    ref_ns, new_ns = timing["reference_ns"], timing["candidate_ns"]
    found += timed_findings(timing, trials)

    def answer(seed):
        x = draw_inputs(reference, timed_constants, seed, signed)
        return reference_outputs(reference, timed_constants, init_seed, x, device)[0]

    found += sampled_findings([Path(p) for p in saved if Path(p).parent == sampled_dir],
                              timing["seeds"], warmup, min(SAMPLED, trials), answer, tolerance)
    start, end = listener.first("timing-start"), listener.first("timing-end")
    span = (end["_at_ns"] - start["_at_ns"]) if start and end else None
    if span is not None and sum(ref_ns) + sum(new_ns) > span * CLOCK_SLACK + 20e6:
        found.append(finding("kernel.clock", f"the timed calls add up to "
                             f"{(sum(ref_ns) + sum(new_ns)) / 1e6:.1f} ms, more than the "
                             f"{span / 1e6:.1f} ms that passed on the harness's clock"))
    if against == "eager" and min(ref_ns) > SLOWED * ref_alone_ns + 2e5:
        # a warning only: a busy machine slows the runner's calls as well (the blocking checks
        # of a slowed reference are kernel.reference-changed and kernel.global-state, exact)
        found.append(finding("kernel.reference-slowed", f"the reference took at least "
                             f"{min(ref_ns) / 1e6:.2f} ms beside the candidate but "
                             f"{ref_alone_ns / 1e6:.2f} ms in the harness's own process",
                             blocking=False))
    if statistics.median(new_ns) < IMPOSSIBLE * bound_ns:
        found.append(finding("kernel.impossible-time", f"a median call of "
                             f"{statistics.median(new_ns) / 1e6:.4f} ms is faster than this "
                             f"machine can move the call's {(in_bytes + out_bytes) >> 10} KiB"
                             f"{' or do its FLOPs' if flops else ''} ({bound_ns / 1e6:.4f} ms)"))

    speedup, lo, hi = median_ci(paired_ratios(ref_ns, new_ns))
    result["metrics"] = {evaluation["name"]: speedup}
    result["timing"] = {
        "against": against, "trials": trials, "speedup_ci95": [lo, hi],
        "reference_ms": statistics.median(ref_ns) / 1e6,
        "candidate_ms": statistics.median(new_ns) / 1e6,
        "reference_alone_ms": ref_alone_ns / 1e6, "bound_ms": bound_ns / 1e6,
    }
    result["findings"] = found
    return result


def timed_findings(timing, trials):
    """The runner's counts over the timed calls, as findings."""
    found = []
    if timing["n_wrong"]:
        i, err = timing["wrong_trials"][0]
        found.append(finding("kernel.timed-outputs", f"{timing['n_wrong']} of {trials} timed "
                             f"calls gave a wrong result (first: call {i}, max abs error "
                             f"{err:.3g}): the timed kernel is not the one that passed"))
    if timing["aliased_trials"]:
        found.append(finding("kernel.aliasing", f"{timing['aliased_trials']} timed call(s) "
                             "returned memory of an input, the reference's output or the "
                             "previous call's output (which the caller still held)"))
    if timing["changed_trials"]:
        found.append(finding("kernel.aliasing", f"after {timing['changed_trials']} timed "
                             "call(s) an output returned before had changed: the candidate "
                             "wrote again into memory it had handed over (a reused buffer)"))
    if timing["modified_trials"]:
        found.append(finding("kernel.inputs-modified", f"the candidate changed its inputs in "
                             f"{timing['modified_trials']} of {trials} timed calls"))
    busy, control = timing["busy_trials"], timing.get("reference_busy_trials", 0)
    if busy > max(2, trials // 5) and busy > 2 * control + 2:
        found.append(finding("kernel.work-after-clock", f"in {busy} of {trials} timed calls "
                             "the process kept using CPU after the candidate returned (after "
                             f"{control} of the reference's): work the timer did not see"))
    return found


def sha256_of(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def sampled_findings(saved, seeds, warmup, wanted, answer, tolerance):
    """The timed outputs the runner kept (a reservoir: a random sample, chosen after each call;
    `saved`: the files the runner said it saved, unchanged since) compared whole with the
    reference's answer on inputs drawn again from the call's seed."""
    if len(saved) < wanted:
        return [finding("kernel.timed-outputs", f"the runner kept the outputs of {len(saved)} "
                        f"timed call(s), not {wanted}")]
    for path in saved:
        kept = torch.load(path, weights_only=True)
        i = int(kept["call"])
        if not 0 <= i - warmup < len(seeds):
            return [finding("kernel.timed-outputs", f"kept outputs of a call {i} that was not "
                            "timed")]
        problem = compare(kept["outputs"], answer(seeds[i - warmup]), tolerance)
        if problem:
            return [finding("kernel.timed-outputs", f"timed call {i}, re-checked by the "
                            f"harness: {problem}")]
    return []

if __name__ == "__main__":
    sys.exit(harness_main(run))
