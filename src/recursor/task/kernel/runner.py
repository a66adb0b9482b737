"""The kernel harness's runner: the one process where the candidate's code runs (in the sandbox).

Started by `recursor.task.kernel.harness` as `python _runner.py JOB.json FD`. It imports the
reference (reference.py) before the candidate (solution.py), so that the candidate cannot change
what the runner holds of the reference or of the clock, then:

1. builds ModelNew (compilation happens here; its time is reported, never timed);
2. runs it on every correctness input set the harness wrote, poisoning free memory first, and
   saves the outputs for the harness to compare with its own reference answers; checks that no
   output aliases an input or an earlier output, that the inputs are unchanged, that every
   output is a plain tensor;
3. times reference and candidate interleaved (alternating which goes first) on fresh inputs for
   every call, checks every timed output against the reference's for the same inputs, saves the
   outputs of the trials the harness sampled, and watches the process's CPU time while the
   clock is stopped (work done after the clock stopped is work the timer did not see).

Everything it finds goes to the harness as JSON lines on FD; the harness timestamps them with
its own clock. Only torch and the standard library: this file runs inside the sandbox.
"""

import json
import os
import sys
import time
import weakref

CLOCK = time.perf_counter_ns  # bound before the candidate's code exists in this process
CPU = time.process_time_ns
MAIN_CPU = time.thread_time_ns
SLEEP = time.sleep
# The clock is stopped: the candidate's threads should use no CPU while the main thread waits.
# Longer than a scheduler tick (4 ms at HZ=250): a thread still running is added to the
# process's CPU clock at ticks, so a shorter gap can read nothing while it works.
IDLE_SECONDS = 0.005
QUIET_NS = 200_000  # CPU in one idle gap below which the process counts as quiet
BUSY_NS = 1_000_000  # CPU in the gaps after a call above which the candidate was still working
HIDDEN_SHARE = 0.5  # ... and above this share of the CPU the timed call itself could have used

import torch  # noqa: E402


class Report:
    def __init__(self, fd):
        self.out = os.fdopen(fd, "w", buffering=1)

    def send(self, **record):
        self.out.write(json.dumps(record) + "\n")


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    report = Report(int(sys.argv[2]))
    torch.set_num_threads(job["threads"])
    device = torch.device(job["device"])
    sys.path.insert(0, job["workspace"])
    sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[1])))
    import _reference as reference  # the harness's copy, imported before the candidate

    before = fingerprint(reference)
    t0 = time.perf_counter()
    try:
        import solution
    except Exception as err:  # the candidate's import: a compile error surfaces here
        report.send(type="error", stage="import", reason=f"{type(err).__name__}: {err}")
        raise
    if not hasattr(solution, "ModelNew"):
        report.send(type="error", stage="import", reason="solution.py defines no ModelNew")
        return 1
    models = {}

    def check_reference(when):
        changed = changed_names(before, fingerprint(reference))
        if changed:
            report.send(type="finding", check="kernel.reference-changed",
                        message=f"{when}, {', '.join(changed[:5])}"
                                f"{f' and {len(changed) - 5} more' if len(changed) > 5 else ''} "
                                "no longer what the reference was imported with: the candidate "
                                "replaced functions the reference calls")

    check_reference("after importing solution.py")

    def build(case):
        key = json.dumps(case["constants"], sort_keys=True)
        if key not in models:
            for name, value in case["constants"].items():
                setattr(reference, name, value)
            init = reference.get_init_inputs()
            torch.manual_seed(case["init_seed"])
            ref = reference.Model(*init).to(device).eval()
            torch.manual_seed(case["init_seed"])
            new = solution.ModelNew(*init).to(device).eval()
            models[key] = (ref, new)
        return models[key]

    try:
        with torch.no_grad():
            build(job["correctness"][0])
        report.send(type="compiled", seconds=round(time.perf_counter() - t0, 3))
        with torch.no_grad():
            correctness(job, build, report, device)
            timing(job, build, report, device)
        check_reference("after the timed calls")
    except Exception as err:
        report.send(type="error", stage="run", reason=f"{type(err).__name__}: {err}")
        raise
    report.send(type="done")
    return 0


def fingerprint(reference):
    """What the reference's computation goes through, by identity: its own module and Model,
    torch's functions, nn.functional, Tensor's and Module's methods. A candidate that replaces
    one of them (to slow the reference down, or to see its answer) changes an identity."""
    spaces = {"reference": reference, "Model": reference.Model, "torch": torch,
              "torch.nn.functional": torch.nn.functional, "Tensor": torch.Tensor,
              "Module": torch.nn.Module}
    return {f"{space}.{n}": v for space, obj in spaces.items()
            for n, v in list(vars(obj).items()) if callable(v)}


TORCH_DIR = os.path.dirname(torch.__file__) + os.sep


def changed_names(before, after):
    """Names bound before whose object is now another or gone (additions are not changes).
    torch replaces some of its own (torch.compile's tracer wraps Module.__init__ and
    manual_seed): a new object that is a Python function written in torch's own files is
    torch's doing, not the candidate's."""
    changed = []
    for k, v in before.items():
        new = after.get(k)
        if new is v:
            continue
        code = getattr(new, "__code__", None)
        if code is not None and code.co_filename.startswith(TORCH_DIR):
            continue
        changed.append(k)
    return sorted(changed)


def as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def plain(outputs):
    """Why an output is not a plain tensor (a subclass could defer its work past the clock)."""
    for i, t in enumerate(outputs):
        if type(t) is not torch.Tensor:
            return f"output {i} is a {type(t).__module__}.{type(t).__qualname__}, not a torch.Tensor"
        if t.layout is not torch.strided or t.is_meta:
            return f"output {i} is not a dense tensor ({t.layout}, meta={t.is_meta})"
    return None


def _span(t):
    if t.numel() == 0:
        return None
    start = t.data_ptr()
    reach = sum((s - 1) * st for s, st in zip(t.shape, t.stride(), strict=True))
    return start, start + (max(0, reach) + 1) * t.element_size()


def overlaps(t, others):
    """Whether `t`'s memory overlaps any tensor of `others` (views of a storage included)."""
    a = _span(t)
    if a is None:
        return False
    for o in others:
        b = _span(o) if isinstance(o, torch.Tensor) else None
        if b is not None and a[0] < b[1] and b[0] < a[1]:
            return True
    return False


def poison(shapes, device):
    """Fill memory of the outputs' sizes with NaN (or -1) and free it, so that memory the
    candidate allocates without writing holds poison, not an answer left behind."""
    bufs = []
    for shape, dtype in shapes:
        dtype = getattr(torch, dtype)
        t = torch.empty(shape, dtype=dtype, device=device)
        t.fill_(float("nan") if dtype.is_floating_point else -1)
        bufs.append(t)
    del bufs


def clone_inputs(inputs):
    return [x.clone() if isinstance(x, torch.Tensor) else x for x in inputs]


def same_inputs(inputs, copies):
    for x, c in zip(inputs, copies, strict=True):
        if (isinstance(x, torch.Tensor) and not torch.equal(x, c)
                and not (x.is_floating_point() and torch.equal(x.isnan(), c.isnan())
                         and torch.equal(x.nan_to_num(), c.nan_to_num()))):
            return False
    return True


def correctness(job, build, report, device):
    for case in job["correctness"]:
        _, new = build(case)
        inputs = [x.to(device) if isinstance(x, torch.Tensor) else x
                  for x in torch.load(case["inputs"], weights_only=True)]
        copies = clone_inputs(inputs)
        poison(case["output_shapes"], device)
        out = as_list(new(*inputs))
        problem = plain(out)
        if problem:
            report.send(type="finding", check="kernel.output-type", message=problem,
                        case=case["name"])
            return
        tensors = [x for x in inputs if isinstance(x, torch.Tensor)]
        for i, t in enumerate(out):
            if overlaps(t, tensors) or overlaps(t, out[:i]):
                report.send(type="finding", check="kernel.aliasing", case=case["name"],
                            message=f"output {i} shares memory with an input or another output")
        if not same_inputs(inputs, copies):
            report.send(type="finding", check="kernel.inputs-modified", case=case["name"],
                        message="the candidate changed its inputs")
        torch.save([t.detach().cpu() for t in out], case["outputs"])


def close(a, b, tolerance):
    """(ok, max abs error) of `a` against the reference `b` with (atol, rtol) per dtype."""
    if a.shape != b.shape:
        return False, float("inf")
    if a.dtype != b.dtype:
        return False, float("inf")
    if not a.is_floating_point():
        return bool(torch.equal(a, b)), 0.0
    atol, rtol = tolerance.get(str(b.dtype).removeprefix("torch."), (1e-4, 1e-4))
    ok = torch.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True)
    err = (a.double() - b.double()).abs().nan_to_num(float("inf")).max().item() if a.numel() else 0.0
    return bool(ok), err


def timing(job, build, report, device):
    t = job["timing"]
    ref, new = build(t)
    if t["against"] == "compiled":
        ref = torch.compile(ref)
    pool = [torch.load(path, weights_only=True) for path in t["inputs"]]
    scales = t["scales"]
    cuda = device.type == "cuda"
    flush = torch.empty(256 << 20, dtype=torch.uint8, device=device) if cuda else None

    def fresh(i):
        base = pool[i % len(pool)]
        return [(x.to(device) * scales[i] if x.is_floating_point() else x.to(device).clone())
                if isinstance(x, torch.Tensor) else x for x in base]

    def timed(fn, inputs):
        if cuda:
            flush.zero_()  # the L2 cache holds nothing of the last call
            torch.cuda.synchronize()
        start = CLOCK()
        out = fn(*inputs)
        if cuda:
            torch.cuda.synchronize()
        return CLOCK() - start, out

    busy = {True: 0, False: 0}  # calls followed by hidden work: the candidate's, the reference's
    threads = torch.get_num_threads()

    def call(fn, x, candidate):
        poison(t["output_shapes"], device)
        ns, out = timed(fn, x)
        # idle gaps until the process is quiet; the CPU it used meanwhile is work still going
        # on after the call returned. Counted after the reference's calls too: what an honest
        # call leaves (threads going to sleep) is the control the candidate's count is
        # compared with
        hidden = hidden_work()
        if hidden > max(BUSY_NS, HIDDEN_SHARE * ns * threads):
            busy[candidate] += 1
        return ns, (out if candidate else as_list(out))

    for i in range(t["warmup"]):
        x = fresh(i)
        ref(*x)
        new(*x)
    report.send(type="timing-start")
    ref_ns, new_ns, wrong, aliased = [], [], [], 0
    previous = []
    for i in range(t["warmup"], t["warmup"] + t["trials"]):
        ref_out = None
        x = fresh(i)
        tensors = [v for v in x if isinstance(v, torch.Tensor)]
        # both calls find the same state: poison freed just before each (neither pays page
        # faults the other does not), and an idle gap after each, in which the process must
        # use no CPU (only the candidate's gaps count: its work must be done when it returns).
        # The reference's answer is never in memory while the candidate runs: when the
        # reference goes first, its output is freed (and poisoned over) and the answer to
        # check against is computed again, untimed, afterwards. With the untimed candidate
        # call that ends the other kind of trial, every timed call follows a call of the other
        # function: neither profits from running right after itself (warm code, allocator).
        if i % 2 == 0:
            dr, _ = call(ref, x, False)
        dn, new_out = call(new, x, True)
        new_out = as_list(new_out)
        problem = plain(new_out)
        if problem:
            report.send(type="finding", check="kernel.output-type", message=problem,
                        case=f"timed call {i}")
            return
        if i % 2 == 1:
            dr, ref_out = call(ref, x, False)
            call(new, x, True)  # untimed: the next timed call (the reference's) follows it
        else:
            ref_out = as_list(ref(*x))
        alive = [o for o in (r() for r in previous) if o is not None]
        if any(overlaps(o, [*tensors, *alive, *ref_out]) for o in new_out):
            aliased += 1
        for o, r in zip(new_out, ref_out, strict=False):
            ok, err = close(o, r, job["tolerance"])
            if not ok:
                wrong.append((i, err))
                break
        if len(new_out) != len(ref_out):
            wrong.append((i, float("inf")))
        if i in t["sampled"]:
            torch.save({"outputs": [o.detach().cpu() for o in new_out]},
                       os.path.join(t["sampled_dir"], f"{i}.pt"))
        # the last call's outputs, watched without keeping them alive (that would make the
        # candidate's allocations differ from the reference's): one still alive at the next call
        # is held by the candidate, and sharing its memory is returning a cached answer
        previous = [weakref.ref(o) for o in new_out]
        ref_ns.append(dr)
        new_ns.append(dn)
    report.send(type="timing-end")
    report.send(type="timing", reference_ns=ref_ns, candidate_ns=new_ns,
                busy_trials=busy[True], reference_busy_trials=busy[False],
                wrong_trials=wrong[:10], n_wrong=len(wrong), aliased_trials=aliased)


def hidden_work():
    """CPU time the process uses in idle gaps after a call, until one gap is quiet.

    The main thread only sleeps in a gap (a signal handler of the candidate's that runs then is
    counted too). Under a CPU-time cap (the sandbox's RLIMIT_CPU arms a process CPU timer) the
    kernel reads the process's clock from that timer, which a running thread's time reaches
    only at ticks and switches: what the main thread did just before the gap (the call, freeing
    its output) arrived inside the gap, 2-4 ms of it (2026-12-02), and honest calls looked busy.
    Reading the thread's own clock first adds its time to the process's clock at once."""
    hidden = 0
    for _ in range(200):
        MAIN_CPU()
        c0 = CPU()
        SLEEP(IDLE_SECONDS)
        MAIN_CPU()
        used = CPU() - c0
        hidden += used
        if used <= QUIET_NS:
            break
    return hidden


if __name__ == "__main__":
    sys.exit(main())
