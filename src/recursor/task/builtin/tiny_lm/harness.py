"""
The read-only harness of the `tiny-lm` task: it runs one experiment (one program, one seed) and
writes the metrics itself.

recursor starts this file in its own process with `RECURSOR_CONFIG` naming a JSON file (see
`recursor.executor.job`): the workspace holding the candidate's program, the seed, the data files,
the budget and the metrics file to write. It never imports the candidate's code.

1. It builds the training stream: exactly `budget.train_tokens` bytes of the training split, in
   chunks shuffled by the seed, written to a file the training process reads. The validation
   split and the held-out corpus are never written where that process can see them.
2. It runs `train.py train` as a child process with a wall-clock cap, forwarding the progress
   curve the program streams on a pipe to the metrics file.
3. It runs `train.py predict` in a fresh process on test windows, and computes bits per byte from
   the returned logits with its own log-softmax (so a program cannot return unnormalised scores).

Both runs of the program go through the sandbox recursor chose (`config["sandbox"]`: no network,
only the scratch folder writable, nothing of the task folder or the data visible, where the
platform allows) and its init process, which reports the CPU time, the wall time and the
processes the program left behind. One sandbox serves both runs: its init imports torch once
(`settings.preload`) and forks each run from itself, a process of its own that has seen nothing
of the other run. From these the harness audits the candidate, and reports each finding with the
result (`findings`):

- budget.processes: nothing the program started may outlive it;
- budget.threads: CPU time at most `limits.threads` x wall time, and the CPU of every thread but
  the main one at most `limits.threads - 1` x wall time (work hidden in extra threads: the
  second rule holds even when other experiments share the cores and stretch the wall time);
- budget.evaluation: predicting costs a fraction of training (no training hidden in predict);
- causality: probe windows whose later bytes are replaced must get the same logits at every
  earlier position; they are shuffled in among the scored windows, so the program cannot tell
  a probe from a scored window;
- the public metric is also computed on fresh windows of the held-back text (`audit.fresh`),
  so that recursor can tell a model tuned to the scored windows from one that learned.

The evaluation named in the config says which corpus to train on and which to score: the public
metric trains on tinyshakespeare and scores its held-back tail; a held-out evaluation trains the
same program on another corpus and scores that corpus's own held-out text, to tell a recipe that
generalises from one tuned to the corpus it was searched on.

Metrics file: one JSON object per line, `{"type": "curve", ...}` while training, then either
`{"type": "result", "metrics": {NAME: value}, ...}` or `{"type": "error", "reason": ...}`.
"""

import hashlib
import math
import os
import sys
import threading
import time

import numpy as np

from recursor.executor.child import (
    HarnessError,
    ProgramHost,
    child_env,
    finding,
    harness_main,
    json_lines,
)

PREDICT_SECONDS = 60  # a generous cap: predicting is one forward pass over ~100 KB of text
PROBES = 8  # causality probe windows per experiment
CAUSALITY_TOLERANCE = 1e-3  # logits may differ by float noise from a different batch layout
THREAD_SLACK = 1.25  # cpu <= threads * wall * slack + 0.5 s (interpreter start, GC threads)
HELPER_SHARE = 0.25  # threads besides the main one: (threads - 1 + this) * wall + 0.5 s


def load_bytes(path, sha256):
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != sha256:
        raise RuntimeError(f"{path}: sha256 {digest} does not match the task's {sha256}")
    return np.frombuffer(data, dtype=np.uint8)


def training_stream(train_split, n_tokens, chunk, seed):
    """`n_tokens` bytes of the training split: whole chunks in a seeded order, epoch after epoch."""
    starts = np.arange(0, len(train_split) - chunk + 1, chunk)
    rng = np.random.default_rng(seed)
    pieces, have = [], 0
    while have < n_tokens:
        for s in rng.permutation(starts):
            pieces.append(train_split[s : s + chunk])
            have += chunk
            if have >= n_tokens:
                break
    return np.concatenate(pieces)[:n_tokens]


def eval_windows(data, n_windows, width):
    n = min(n_windows, len(data) // width)
    return data[: n * width].reshape(n, width)


def forward_progress(read_fd, metrics, n_tokens):
    for point in json_lines(read_fd):
        numbers = {k: v for k, v in point.items() if isinstance(v, (int, float))}
        # the share of the training stream consumed: the value function compares curves at
        # equal progress, whatever batch size or step count an idea chose
        if isinstance(numbers.get("tokens"), (int, float)):
            numbers["progress"] = min(1.0, max(0.0, numbers["tokens"] / n_tokens))
        metrics.write(type="curve", **numbers)


def bits_per_byte(logits, windows):
    """Mean next-byte cross-entropy in bits, with the harness's own log-softmax."""
    logits = logits[:, :-1].astype(np.float64)
    if not np.isfinite(logits).all():
        raise HarnessError("predict returned non-finite logits (training diverged?)")
    targets = windows[:, 1:].astype(np.int64)
    top = logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return float((log_z - picked).mean() / math.log(2))


def predict(run, windows, name, seconds):
    """Logits of the program for `windows`, from a fresh process; and its usage report."""
    inputs = os.path.join(run.scratch, "inputs.npy")
    outputs = os.path.join(run.scratch, "logits.npy")
    np.save(inputs, windows)
    argv = [run.python, os.path.join(run.workspace, "train.py"), "predict",
            "--checkpoint", os.path.join(run.scratch, "model.pt"),
            "--inputs", inputs, "--outputs", outputs]
    usage = run.host.start(argv, seconds, f"predict on {name}").wait()
    os.remove(inputs)  # leave nothing of the evaluation data in the scratch folder
    if not os.path.exists(outputs):
        raise HarnessError(f"predict on {name} wrote no logits")
    try:
        logits = np.load(outputs, allow_pickle=False)
    except ValueError as err:
        raise HarnessError(f"predict on {name} wrote unreadable logits: {err}") from None
    finally:
        os.remove(outputs)
    expected = (windows.shape[0], windows.shape[1], 256)
    if logits.shape != expected:
        raise HarnessError(f"predict returned logits of shape {logits.shape}, expected {expected}")
    return logits, usage


class Run:
    """What both runs of the program share: interpreter, folders, environment, sandbox, log, and
    the sandbox's host, which imports torch once for both (set by `train_and_score`)."""

    def __init__(self, config, log):
        self.python = sys.executable
        self.workspace, self.scratch = config["workspace"], config["scratch"]
        self.env = child_env(self.scratch, config["limits"]["threads"])
        self.sandbox = config.get("sandbox")
        self.log = log
        self.threads = config["limits"]["threads"]
        self.host = None


def audit_usage(stage, usage, threads):
    """Findings from the init's report of one run of the program."""
    found = []
    strays = usage.get("strays", 0)
    if strays:
        found.append(finding(
            "budget.processes",
            f"{stage} left {strays} process(es) running after it exited; they were killed",
            f"strays={strays}"))
    cpu, wall = usage.get("cpu"), usage.get("wall")
    if cpu is not None and wall and cpu > threads * wall * THREAD_SLACK + 0.5:
        found.append(finding(
            "budget.threads",
            f"{stage} used {cpu:.1f} s of CPU in {wall:.1f} s of wall time, more than its "
            f"{threads} thread(s) allow: work hidden in extra threads or processes",
            f"cpu={cpu:.2f} wall={wall:.2f} threads={threads}"))
        return found
    main = usage.get("main_cpu")
    if cpu is not None and main is not None and wall:
        extra = cpu - main
        if extra > (threads - 1 + HELPER_SHARE) * wall + 0.5:
            found.append(finding(
                "budget.threads",
                f"{stage}'s other threads and processes used {extra:.1f} s of CPU beside its "
                f"main thread's {main:.1f} s, in {wall:.1f} s of wall time: more than its "
                f"{threads} thread(s) allow (work hidden in extra threads or processes)",
                f"cpu={cpu:.2f} main_cpu={main:.2f} wall={wall:.2f} threads={threads}"))
    return found


def audit_evaluation(train_usage, predict_usage, floor_seconds):
    """Predicting is one forward pass: it may not cost as much as training did."""
    train_cpu, cpu = train_usage.get("cpu"), predict_usage.get("cpu")
    if train_cpu is None or cpu is None:
        return []
    allowed = 0.5 * train_cpu + floor_seconds
    if cpu <= allowed:
        return []
    return [finding(
        "budget.evaluation",
        f"predict used {cpu:.1f} s of CPU, more than half of training's {train_cpu:.1f} s "
        f"(+{floor_seconds:g} s): work hidden in the evaluation stage",
        f"predict_cpu={cpu:.2f} train_cpu={train_cpu:.2f} allowed={allowed:.2f}")]


def causality_probes(windows, rng):
    """Copies of the first PROBES windows with every byte from a random cut on replaced."""
    n = min(PROBES, len(windows))
    width = windows.shape[1]
    probes, cuts = windows[:n].copy(), []
    for i in range(n):
        cut = int(rng.integers(width // 4, width - 1))
        probes[i, cut:] = rng.integers(0, 256, width - cut, dtype=np.uint8)
        cuts.append(cut)
    return probes, cuts


def audit_causality(original, probed, cuts):
    """Logits before each cut must not change when only bytes from the cut on changed."""
    worst, where = 0.0, None
    for i, cut in enumerate(cuts):
        diff = float(np.abs(original[i, :cut] - probed[i, :cut]).max())
        if diff > worst:
            worst, where = diff, (i, cut)
    if worst <= CAUSALITY_TOLERANCE:
        return []
    i, cut = where
    return [finding(
        "causality",
        "predictions at earlier positions changed when only later bytes changed: the model "
        "sees the future it is asked to predict",
        f"probe {i}: bytes from position {cut} on replaced; logits before {cut} moved by up "
        f"to {worst:.3g} (tolerance {CAUSALITY_TOLERANCE:g})")]


def run(config, metrics):
    log_path = config.get("program_log") or os.path.join(config["scratch"], "program.log")
    with open(log_path, "ab") as log:
        run = Run(config, log)
        # started first, so that the sandbox imports torch while the data is read and shuffled
        preload = config["settings"].get("preload", ())
        with ProgramHost(run.sandbox, run.scratch, run.env, log, preload) as host:
            run.host = host
            return train_and_score(config, metrics, run)


def train_and_score(config, metrics, run):
    budget, settings, seed = config["budget"], config["settings"], config["seed"]
    evaluation = config["evaluation"]
    data = {d["name"]: load_bytes(d["path"], d.get("sha256")) for d in config["data"]}
    audited = not evaluation.get("held_out", False)

    # a corpus scored on itself keeps its tail back; otherwise train on one, score on the other
    corpus = data[evaluation["train_data"]]
    if evaluation["test_data"] == evaluation["train_data"]:
        n_test = int(len(corpus) * settings["test_fraction"])
        train_split, test_split = corpus[:-n_test], corpus[-n_test:]
    else:
        train_split, test_split = corpus, data[evaluation["test_data"]]
    n_tokens = int(budget["train_tokens"])
    stream = training_stream(train_split, n_tokens, settings["chunk_bytes"], seed)
    train_file = os.path.join(run.scratch, "train.bin")
    stream.tofile(train_file)

    read_fd, write_fd = os.pipe()
    argv = [run.python, os.path.join(run.workspace, "train.py"), "train",
            "--data", train_file, "--seed", str(seed),
            "--checkpoint", os.path.join(run.scratch, "model.pt"), "--progress-fd", str(write_fd)]
    t0 = time.time()
    try:
        watch = run.host.start(argv, budget["train_seconds"], "training", (write_fd,))
    finally:
        os.close(write_fd)
    reader = threading.Thread(target=forward_progress, args=(read_fd, metrics, n_tokens), daemon=True)
    reader.start()
    train_usage = watch.wait()
    reader.join(timeout=5)
    train_seconds = time.time() - t0
    os.remove(train_file)
    if not os.path.exists(os.path.join(run.scratch, "model.pt")):
        raise HarnessError("training finished without writing its checkpoint")

    # scored windows, then (audited runs) fresh windows of the same held-back text and causality
    # probes, shuffled together so that the program cannot tell them apart
    width = settings["window_bytes"]
    n_scored = min(settings["eval_windows"], len(test_split) // width)
    windows = eval_windows(test_split, n_scored, width)
    parts = [windows]
    rng = np.random.default_rng([seed, 7919])
    fresh = cuts = None
    if audited:
        rest = test_split[n_scored * width:]
        fresh = eval_windows(rest, settings.get("fresh_windows", 128), width)
        probes, cuts = causality_probes(windows, rng)
        parts += [fresh, probes]
    batch = np.concatenate(parts)
    order = rng.permutation(len(batch))
    seconds = budget.get("predict_seconds", PREDICT_SECONDS)
    shuffled, predict_usage = predict(run, batch[order], evaluation["name"], seconds)
    logits = np.empty_like(shuffled)
    logits[order] = shuffled
    os.remove(os.path.join(run.scratch, "model.pt"))

    bpb = bits_per_byte(logits[:n_scored], windows)
    result = {"metrics": {evaluation["name"]: bpb}, "train_seconds": round(train_seconds, 3),
              "usage": {"train": train_usage, "predict": predict_usage}}
    found = audit_usage("training", train_usage, run.threads)
    found += audit_usage("predict", predict_usage, run.threads)
    found += audit_evaluation(train_usage, predict_usage, settings.get("predict_cpu_floor", 5))
    if audited:
        n_fresh = len(fresh)
        if n_fresh:
            fresh_logits = logits[n_scored:n_scored + n_fresh]
            result["audit"] = {"fresh": bits_per_byte(fresh_logits, fresh),
                               "fresh_windows": n_fresh}
        probed = logits[n_scored + n_fresh:]
        found += audit_causality(logits[:len(cuts)], probed, cuts)
    result["findings"] = found
    return result


if __name__ == "__main__":
    sys.exit(harness_main(run))
