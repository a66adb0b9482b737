"""The kernel harness's runner: the one process where the candidate's code runs (in the sandbox).

Started by `recursor.task.kernel.harness` as `python _runner.py JOB.json FD SECRET_FD`. It reads
a secret from SECRET_FD (a pipe, then closed: the candidate never sees it) that marks every line
it reports on FD as its own, and imports the reference (reference.py) and its checks (guards.py)
before the candidate (solution.py), so that the candidate cannot change what the runner holds of
the reference, of the clock or of its checks. Then it:

1. builds ModelNew (compilation happens here; its time is reported, never timed);
2. runs it on every correctness input set the harness wrote, poisoning free memory first; checks
   that every output is a plain tensor in ordinary memory, that no output shares memory with an
   input or with any earlier output (all are kept until the last call ran), that the inputs are
   unchanged; then saves the outputs, after every call ran, for the harness to compare with its
   own reference answers;
3. times reference and candidate interleaved (alternating which goes first) on inputs drawn for
   each call under a seed from the OS's entropy (nothing the candidate could read knows them
   before the call), checks every timed output against the reference's for the same inputs,
   that the inputs are unchanged, that the previous output is still as it was returned, saves a
   random sample of timed outputs (chosen after each call, a reservoir) for the harness to check
   again, and watches the process's CPU time while the clock is stopped (work done after the
   clock stopped is work the timer did not see).

After the import and after every call of the candidate, `guards.Watch` checks that torch, the
reference, the runner's own functions and the process-wide settings are as they were.
Everything it finds goes to the harness as JSON lines on FD; the harness timestamps them with
its own clock. Only torch and the standard library: this file runs inside the sandbox.
"""

import hashlib
import json
import os
import sys
import time

CLOCK = time.perf_counter_ns  # bound before the candidate's code exists in this process
CPU = time.process_time_ns
MAIN_CPU = time.thread_time_ns
SLEEP = time.sleep
URANDOM = os.urandom
SHA256 = hashlib.sha256
# The clock is stopped: the candidate's threads should use no CPU while the main thread waits.
# Longer than a scheduler tick (4 ms at HZ=250): a thread still running is added to the
# process's CPU clock at ticks, so a shorter gap can read nothing while it works.
IDLE_SECONDS = 0.005
QUIET_NS = 200_000  # CPU in one idle gap below which the process counts as quiet
BUSY_NS = 1_000_000  # CPU in the gaps after a call above which the candidate was still working
HIDDEN_SHARE = 0.5  # ... and above this share of the CPU the timed call itself could have used

import torch  # noqa: E402

if __name__ == "__main__":  # the copy in the sandbox, beside the copy of guards.py
    import _runner_guards as guards  # noqa: I001
else:
    from recursor.task.kernel import guards


def reporter(fd, secret_fd, dumps=json.dumps):
    """The function that sends one record to the harness, each marked with the secret read
    from `secret_fd` (which is then closed). What it writes with is bound here, before the
    candidate's import, and held only by this closure."""
    chunks = []
    while chunk := os.read(secret_fd, 4096):
        chunks.append(chunk)
    os.close(secret_fd)
    secret = b"".join(chunks).decode()
    write = os.fdopen(fd, "w", buffering=1).write

    def send(**record):
        write(dumps({**record, "secret": secret}) + "\n")

    return send


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    send = reporter(int(sys.argv[2]), int(sys.argv[3]))
    torch.set_num_threads(job["threads"])
    device = torch.device(job["device"])
    sys.path.insert(0, job["workspace"])
    sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[1])))
    import _reference as reference  # the harness's copy, imported before the candidate

    # everything the runner takes from disk is read before the candidate's code exists
    inputs = {case["name"]: torch.load(case["inputs"], weights_only=True)
              for case in job["correctness"]}
    watch = guards.Watch(send, reference, runner=sys.modules[__name__])
    t0 = time.perf_counter()
    try:
        import solution
    except Exception as err:  # the candidate's import: a compile error surfaces here
        send(type="error", stage="import", reason=f"{type(err).__name__}: {err}")
        raise
    if not hasattr(solution, "ModelNew"):
        send(type="error", stage="import", reason="solution.py defines no ModelNew")
        return 1
    models = {}

    def build(case):
        key = json.dumps(case["constants"], sort_keys=True)
        if key not in models:
            for name, value in case["constants"].items():
                setattr(reference, name, value)
            init = reference.get_init_inputs()
            torch.manual_seed(case["init_seed"])
            ref = reference.Model(*init).to(device).eval()
            watch.add_model(key, ref)  # as built, before the candidate's constructor runs
            torch.manual_seed(case["init_seed"])
            new = solution.ModelNew(*init).to(device).eval()
            models[key] = (ref, new)
        return models[key]

    try:
        if watch.check("after importing solution.py"):
            with torch.no_grad():
                build(job["correctness"][0])
                ok = watch.check("after building ModelNew", grad=False)
            send(type="compiled", seconds=round(time.perf_counter() - t0, 3))
            with torch.no_grad():
                ok = ok and correctness(job, inputs, build, send, device, watch)
                ok = ok and timing(job, build, send, device, watch, reference)
            if ok:
                watch.check("after the timed calls")
    except Exception as err:
        send(type="error", stage="run", reason=f"{type(err).__name__}: {err}")
        raise
    send(type="done")
    return 0


def checked(out, watch, send, when):
    """(the candidate's outputs as a list or None, whether they passed): the watch, then the
    outputs' type and memory, before anything reads them (a read is what a deferred computation
    waits for). Outputs in memory that is not ordinary are still returned, to be compared."""
    out = guards.as_list(out)
    if not watch.check(f"after {when}", grad=False):
        return None, False
    if problem := guards.plain(out):
        send(type="finding", check="kernel.output-type", message=problem, case=when)
        return None, False
    if problem := guards.memory_problem(out):
        send(type="finding", check="kernel.output-memory", message=problem, case=when)
        return out, False
    return out, True


def save(obj, path, send):
    """Save for the harness, and tell it the file's hash: the candidate can write to the same
    folder, and the harness compares only what the runner saved."""
    torch.save(obj, path)
    with open(path, "rb") as f:
        digest = SHA256(f.read()).hexdigest()
    send(type="saved", path=str(path), sha256=digest)


def correctness(job, loaded, build, send, device, watch):
    """Whether the candidate passed the runner's own checks here (else nothing is timed: the
    run is rejected whatever its times)."""
    kept = []  # every call's inputs and outputs, alive until the last call ran
    clean = True
    for case in job["correctness"]:
        _, new = build(case)
        if not watch.check(f"after building ModelNew for {case['name']}", grad=False):
            return False
        inputs = [x.to(device) if isinstance(x, torch.Tensor) else x for x in loaded[case["name"]]]
        copies = guards.clone_inputs(inputs)
        guards.poison(case["output_shapes"], device)
        out, clean_memory = checked(new(*inputs), watch, send, f"the call on {case['name']}")
        if out is None:
            return False
        clean = clean and clean_memory
        tensors = [x for x in inputs if isinstance(x, torch.Tensor)]
        # memory an earlier call returned is still the caller's: no allocator can give it again
        earlier = [t for _, ins, outs in kept for t in [*ins, *outs] if isinstance(t, torch.Tensor)]
        for i, t in enumerate(out):
            if shared := guards.overlaps(t, tensors) or guards.overlaps(t, out[:i]):
                send(type="finding", check="kernel.aliasing", case=case["name"],
                     message=f"output {i} shares memory with an input or another output")
            if not shared and guards.overlaps(t, earlier):
                shared = True
                send(type="finding", check="kernel.aliasing", case=case["name"],
                     message=f"output {i} shares memory with an input or output of an earlier "
                             "call, which the caller still holds")
            clean = clean and not shared
        if not guards.same_inputs(inputs, copies):
            clean = False
            send(type="finding", check="kernel.inputs-modified", case=case["name"],
                 message="the candidate changed its inputs")
        kept.append((case, inputs, out))
    # saved only now: an output that a later call wrote over is saved as it now is, wrong
    for case, _, out in kept:
        save([t.detach().cpu() for t in out], case["outputs"], send)
    return clean


def timing(job, build, send, device, watch, reference):
    t = job["timing"]
    ref, new = build(t)
    if t["against"] == "compiled":
        ref = torch.compile(ref)
        watch.rebase_models()
    clock = CLOCK  # the runner's names were last checked just now: a rebinding changes nothing
    cuda = device.type == "cuda"
    flush = torch.empty(256 << 20, dtype=torch.uint8, device=device) if cuda else None

    def fresh():
        """Inputs drawn now, from the problem's own distribution (the correctness sets'), under
        a seed from the OS's entropy: no file, pool or generator state knew them before."""
        seed = int.from_bytes(URANDOM(4), "little") >> 2
        inputs = guards.draw_inputs(reference, t["constants"], seed, t["signed"])
        return seed, [x.to(device) if isinstance(x, torch.Tensor) else x for x in inputs]

    def timed(fn, inputs):
        if cuda:
            flush.zero_()  # the L2 cache holds nothing of the last call
            torch.cuda.synchronize()
        start = clock()
        out = fn(*inputs)
        if cuda:
            torch.cuda.synchronize()
        return clock() - start, out

    busy = {True: 0, False: 0}  # calls followed by hidden work: the candidate's, the reference's
    threads = torch.get_num_threads()

    def call(fn, x, candidate):
        guards.poison(t["output_shapes"], device)
        ns, out = timed(fn, x)
        # idle gaps until the process is quiet; the CPU it used meanwhile is work still going
        # on after the call returned. Counted after the reference's calls too: what an honest
        # call leaves (threads going to sleep) is the control the candidate's count is
        # compared with
        hidden = hidden_work()
        if hidden > max(BUSY_NS, HIDDEN_SHARE * ns * threads):
            busy[candidate] += 1
        return ns, out

    for i in range(t["warmup"]):
        _, x = fresh()
        ref(*x)
        new(*x)
        if not watch.check(f"after warm-up call {i}", grad=False):
            return False
    send(type="timing-start")
    ref_ns, new_ns, seeds, wrong = [], [], [], []
    aliased = changed = modified = 0
    held = []  # the last timed outputs and their copies: alive until the next calls ran
    for i in range(t["warmup"], t["warmup"] + t["trials"]):
        seed, x = fresh()
        pristine = guards.clone_inputs(x)
        tensors = [v for v in [*x, *pristine] if isinstance(v, torch.Tensor)]
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
        new_out, ok = checked(new_out, watch, send, f"timed call {i}")
        if not ok:
            return False
        if not guards.same_inputs(x, pristine):
            # the reference answers for the inputs that were drawn, not for what the
            # candidate made of them
            modified += 1
            x = guards.clone_inputs(pristine)
        if i % 2 == 1:
            dr, ref_out = call(ref, x, False)
            ref_out = guards.as_list(ref_out)
            call(new, x, True)  # untimed: the next timed call (the reference's) follows it
            if not watch.check(f"after the untimed call {i}", grad=False):
                return False
        else:
            ref_out = guards.as_list(ref(*x))
        if any(guards.overlaps(o, [*tensors, *(h for h, _ in held), *ref_out]) for o in new_out):
            aliased += 1
        # an output returned before must still be what was returned: the caller owns it now
        if not all(guards.same(h, c) for h, c in held):
            changed += 1
        if (err := error(new_out, ref_out, job["tolerance"])) is not None:
            wrong.append((i, err))
        sample(i - t["warmup"], i, new_out, t, send)
        held = [(o, o.clone()) for o in new_out]
        ref_out = None  # the answer is not in memory while the candidate runs next
        ref_ns.append(dr)
        new_ns.append(dn)
        seeds.append(seed)
    send(type="timing-end")
    send(type="timing", reference_ns=ref_ns, candidate_ns=new_ns, seeds=seeds,
         busy_trials=busy[True], reference_busy_trials=busy[False], wrong_trials=wrong[:10],
         n_wrong=len(wrong), aliased_trials=aliased, changed_trials=changed,
         modified_trials=modified)
    return True


def error(outputs, expected, tolerance):
    """None if the outputs match the reference's; else the largest error."""
    if len(outputs) != len(expected):
        return float("inf")
    for o, r in zip(outputs, expected, strict=True):
        ok, err = guards.close(o, r, tolerance)
        if not ok:
            return err
    return None


def sample(n, call, outputs, t, send):
    """A reservoir of t["sampled"] timed calls' outputs, each kept with equal chance, decided
    after the call returned with fresh entropy: no call knows whether the harness will check
    its outputs again itself."""
    slot = n if n < t["sampled"] else int.from_bytes(URANDOM(8), "little") % (n + 1)
    if slot < t["sampled"]:
        save({"call": call, "outputs": [o.detach().cpu() for o in outputs]},
             os.path.join(t["sampled_dir"], f"{slot}.pt"), send)


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
