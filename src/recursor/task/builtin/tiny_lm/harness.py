"""
The read-only harness of the `tiny-lm` task: it runs one experiment (one program, one seed) and
writes the metrics itself.

recursor starts this file in its own process with `RECURSOR_CONFIG` naming a JSON file (see
`recursor.executor.job`): the workspace holding the candidate's program, the seed, the data files,
the budget, the parent's measured usage and the metrics file to write. It never imports the
candidate's code.

1. It builds the training stream: exactly `budget.train_tokens` bytes of the training split, in
   chunks shuffled by the seed, written to a file the training process reads. The validation
   split and the held-out corpus are never written where that process can see them.
2. It runs `train.py train` as a child process with a wall-clock cap, forwarding the progress
   curve the program streams on a pipe to the metrics file. What training leaves in its folder
   (the checkpoint, and anything beside it) is moved where the program cannot reach it.
3. It runs `train.py predict` several times, each a fresh process given the checkpoint as
   training left it and nothing else, each on a part of the windows (`recursor.task.lm.windows`:
   scored windows of the held-back text, fresh windows, causality probes and repeated windows,
   split into calls by a secret drawn at run time, recorded in the result). It checks each
   output against the contract and computes bits per byte with its own log-softmax
   (`recursor.task.lm.outputs`).

All runs of the program go through the sandbox recursor chose (`config["sandbox"]`, required:
no network, only the scratch folder writable, nothing of the task folder or the data visible,
where the platform allows) and its init process, which reports the CPU time, the wall time and
the processes the program left behind. One sandbox serves every run: its init imports torch once
(`settings.preload`) and forks each run from itself, a process of its own that has seen nothing
of the other runs (the init empties the sandbox's private /tmp and /dev/shm after each). From
these the harness audits the candidate, and reports each finding with the result (`findings`;
see `recursor.task.lm.audits` and `recursor.task.lm.checkpoint`): budget.processes,
budget.threads, budget.evaluation (predict's CPU against the parent's), checkpoint.size,
checkpoint.training-data, causality and batch-independence. The public metric is also computed
on the fresh windows (`audit.fresh`), so that recursor can tell a model tuned to the scored
windows from one that learned.

The evaluation named in the config says which corpus to train on and which to score: the public
metric trains on tinyshakespeare and scores its held-back tail; a held-out evaluation trains the
same program on another corpus and scores that corpus's own held-out text, with the same probes
and audits, to tell a recipe that generalises from one tuned to the corpus it was searched on.

Metrics file: one JSON object per line, `{"type": "curve", ...}` while training, then either
`{"type": "result", "metrics": {NAME: value}, ...}` or `{"type": "error", "reason": ...}`.
"""

import hashlib
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from recursor.harness import (
    HarnessError,
    Overtime,
    ProgramHost,
    child_env,
    harness_main,
    json_lines,
)
from recursor.task.lm import audits, checkpoint, outputs, windows

PREDICT_SECONDS = 60  # all predict calls together; one forward pass over ~100 KB of text
DEFAULTS = {
    "probe_windows": 256,  # causality probes per experiment
    "repeat_windows": 32,  # windows predicted twice, in two calls
    "predict_calls": 4,  # separate predict processes
    "predict_cost_factor": 3.0,  # predict's CPU: at most this x the parent's ...
    "predict_cpu_floor": 1.0,  # ... plus this many seconds
    "checkpoint_factor": 4.0,  # the checkpoint: at most this x the parent's + 1 MB
}
PROGRAM = "program"  # the program's own folder inside the scratch folder (read-only in bwrap)


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


def forward_progress(read_fd, metrics, n_tokens):
    for point in json_lines(read_fd):
        numbers = {k: v for k, v in point.items() if isinstance(v, (int, float))}
        # the share of the training stream consumed: the value function compares curves at
        # equal progress, whatever batch size or step count an idea chose
        if isinstance(numbers.get("tokens"), (int, float)):
            numbers["progress"] = min(1.0, max(0.0, numbers["tokens"] / n_tokens))
        metrics.write(type="curve", **numbers)


def folder_digest(folder):
    """A digest of every file under `folder`: the program's own files must not change."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, folder).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


class Run:
    """What the runs of the program share: interpreter, folders, environment, sandbox, log, and
    the sandbox's host, which imports torch once for all (set by `run`)."""

    def __init__(self, config, log):
        self.python = sys.executable
        self.workspace, self.scratch = config["workspace"], config["scratch"]
        self.env = child_env(self.scratch, config["limits"]["threads"])
        self.sandbox = config.get("sandbox")
        self.log = log
        self.threads = config["limits"]["threads"]
        self.host = None
        self.program = folder_digest(self.workspace)
        # the checkpoint set waits here, in the job folder: not the program's to see
        job_dir = os.path.dirname(os.path.abspath(config["metrics_file"]))
        self.handover = checkpoint.CheckpointSet(self.scratch, os.path.join(job_dir, "handover"),
                                                 keep=[PROGRAM])

    def check_program(self, stage):
        """The program's files as they were given: a program that rewrote them would carry
        state from one run to the next in its own code."""
        if folder_digest(self.workspace) != self.program:
            raise HarnessError(f"the program changed its own files during {stage}; each run must "
                               "start from the program as it was given")


def run(config, metrics):
    log_path = config.get("program_log") or os.path.join(config["scratch"], "program.log")
    with open(log_path, "ab") as log:
        run = Run(config, log)
        # started first, so that the sandbox imports torch while the data is read and shuffled
        preload = config["settings"].get("preload", ())
        try:
            with ProgramHost(run.sandbox, run.scratch, run.env, log, preload) as host:
                run.host = host
                return train_and_score(config, metrics, run)
        finally:
            run.handover.discard()
            checkpoint.clear(Path(run.scratch), {PROGRAM})


def train_and_score(config, metrics, run):
    budget, seed, evaluation = config["budget"], config["seed"], config["evaluation"]
    settings = {**DEFAULTS, **config["settings"]}
    data = {d["name"]: load_bytes(d["path"], d.get("sha256")) for d in config["data"]}

    # a corpus scored on itself keeps its tail back; otherwise train on one, score on the other
    corpus = data[evaluation["train_data"]]
    if evaluation["test_data"] == evaluation["train_data"]:
        n_test = int(len(corpus) * settings["test_fraction"])
        train_split, test_split = corpus[:-n_test], corpus[-n_test:]
    else:
        train_split, test_split = corpus, data[evaluation["test_data"]]
    n_tokens = int(budget["train_tokens"])
    stream = training_stream(train_split, n_tokens, settings["chunk_bytes"], seed)
    train_usage, train_seconds = train(run, stream, seed, budget, metrics)

    # what training handed over, kept out of the program's reach between the calls
    run.handover.take()
    if "model.pt" not in run.handover.files:
        raise HarnessError("training finished without writing its checkpoint")

    secret = bytes.fromhex(config["secret"]) if config.get("secret") else os.urandom(16)
    plan = windows.plan(test_split, settings["window_bytes"], settings["eval_windows"],
                        settings.get("fresh_windows", 128), settings["probe_windows"],
                        settings["repeat_windows"], settings["predict_calls"], secret)
    seconds = budget.get("predict_seconds", PREDICT_SECONDS)
    logits, calls = predict(run, plan, evaluation["name"], seconds)

    scored = slice(0, plan.n_scored)
    fresh = slice(plan.n_scored, plan.n_scored + plan.n_fresh)
    bpb = outputs.bits_per_byte(logits[scored], plan.rows[scored])
    predict_usage = total_usage(calls)
    usage = {"train": train_usage, "predict": predict_usage,
             "checkpoint_bytes": run.handover.total_bytes}
    # the secondary metrics, never read from the program: the sandbox init's report of the
    # training run (its wall time from fork to exit, the peak resident memory wait4 gives),
    # which the program cannot write. Not `train_seconds` below, which also counts the wait
    # for the sandbox to import torch
    secondary = {}
    for name, key in (("train_seconds", "wall"), ("peak_memory_mb", "max_rss_mb")):
        if isinstance(train_usage.get(key), (int, float)):
            secondary[name] = train_usage[key]
    result = {"metrics": {evaluation["name"]: bpb, **secondary},
              "train_seconds": round(train_seconds, 3),
              "usage": usage,
              "audit": {"fresh": outputs.bits_per_byte(logits[fresh], plan.rows[fresh]),
                        "fresh_windows": plan.n_fresh, "secret": secret.hex(),
                        "layout": plan.describe()}}
    result["findings"] = findings(settings, config.get("parent_usage") or [], run, stream,
                                  usage, calls, logits, plan)
    return result


def train(run, stream, seed, budget, metrics):
    """The training run; its usage report and wall time."""
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
    reader = threading.Thread(target=forward_progress, args=(read_fd, metrics, len(stream)),
                              daemon=True)
    reader.start()
    usage = watch.wait()
    reader.join(timeout=5)
    if os.path.exists(train_file):
        os.remove(train_file)
    run.check_program("training")
    return usage, time.time() - t0


def predict(run, plan, name, seconds):
    """Logits of every row of `plan`, call by call, each call a fresh process that finds only
    the checkpoint set and its inputs; and each call's usage report."""
    logits = np.empty((*plan.rows.shape, outputs.VOCAB), dtype=np.float32)
    inputs = os.path.join(run.scratch, "inputs.npy")
    out = os.path.join(run.scratch, "logits.npy")
    deadline = time.monotonic() + seconds
    calls = []
    for k, rows in enumerate(plan.calls):
        what = f"predict on {name} (call {k + 1} of {len(plan.calls)})"
        run.handover.restore()  # empties the scratch folder: nothing of the last call is left
        np.save(inputs, plan.rows[rows])
        argv = [run.python, os.path.join(run.workspace, "train.py"), "predict",
                "--checkpoint", os.path.join(run.scratch, "model.pt"),
                "--inputs", inputs, "--outputs", out]
        left = max(1.0, deadline - time.monotonic())
        try:
            calls.append(run.host.start(argv, left, what).wait())
        except Overtime as err:
            raise Overtime(f"{err}: budget.evaluation: all predict calls together may take "
                           f"{seconds:g} s, and predicting is one forward pass") from None
        run.check_program(what)
        logits[rows] = outputs.read_logits(out, len(rows), plan.width, what)
    checkpoint.clear(Path(run.scratch), {PROGRAM})  # no evaluation data left behind
    return logits, calls


def total_usage(calls):
    """The calls' usage reports as one: times and strays summed, memory at its peak."""
    total = {"cpu": 0.0, "wall": 0.0, "strays": 0, "max_rss_mb": 0.0, "calls": len(calls)}
    mains = [c.get("main_cpu") for c in calls]
    for c in calls:
        total["cpu"] += c.get("cpu") or 0.0
        total["wall"] += c.get("wall") or 0.0
        total["strays"] += c.get("strays") or 0
        total["max_rss_mb"] = max(total["max_rss_mb"], c.get("max_rss_mb") or 0.0)
    total["main_cpu"] = None if None in mains else round(sum(mains), 3)
    total["cpu"], total["wall"] = round(total["cpu"], 3), round(total["wall"], 3)
    return total


def findings(settings, parent_usage, run, stream, usage, calls, logits, plan):
    found = audits.usage("training", usage["train"], run.threads)
    for k, call in enumerate(calls):
        for f in audits.usage(f"predict (call {k + 1})", call, run.threads):
            if f["check"] not in {g["check"] for g in found}:
                found.append(f)
    found += audits.evaluation_cost(usage["predict"]["cpu"], parent_usage,
                                    settings["predict_cost_factor"], settings["predict_cpu_floor"])
    found += checkpoint.size_finding(usage["checkpoint_bytes"], parent_usage,
                                     settings["checkpoint_factor"])
    found += checkpoint.training_data_finding(run.handover, stream)
    found += audits.causality(logits, plan.probes)
    found += audits.independence(logits, plan.repeats)
    return found


if __name__ == "__main__":
    sys.exit(harness_main(run))
