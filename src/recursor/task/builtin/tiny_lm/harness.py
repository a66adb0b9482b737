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

The evaluation named in the config says which corpus to train on and which to score: the public
metric trains on tinyshakespeare and scores its held-back tail; a held-out evaluation trains the
same program on another corpus and scores that corpus's own held-out text, to tell a recipe that
generalises from one tuned to the corpus it was searched on.

Metrics file: one JSON object per line, `{"type": "curve", ...}` while training, then either
`{"type": "result", "metrics": {NAME: value}, ...}` or `{"type": "error", "reason": ...}`.
"""

import ctypes
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

PREDICT_SECONDS = 120  # a generous cap: predicting is one forward pass over ~64 KB of text


class HarnessError(Exception):
    """A failure of the candidate, reported as the experiment's reason."""


class Metrics:
    """The metrics file: one JSON object per line, written only by the harness."""

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()

    def write(self, **record):
        with self._lock, open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


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


def child_env(scratch, threads):
    # the candidate gets a bare environment: no keys, no paths into the harness or the data
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": scratch,
        "TMPDIR": scratch,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "RECURSOR_THREADS": str(threads),
    }
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    return env


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def _die_with_harness():
    # if the harness is killed (recursor itself killed with -9), its children go too
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_child(argv, cwd, env, seconds, what, log, pass_fds=()):
    # the child stays in the harness's process group, so that recursor's kill reaches it too
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, pass_fds=pass_fds,
                            preexec_fn=_die_with_harness)
    return proc, _Watch(proc, seconds, what)


class _Watch:
    """Waits for a child, killing it and all it started past its deadline."""

    def __init__(self, proc, seconds, what):
        self.proc, self.seconds, self.what = proc, seconds, what

    def wait(self):
        try:
            code = self.proc.wait(timeout=self.seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            kill_strays()
            raise HarnessError(
                f"{self.what} exceeded its wall-clock cap of {self.seconds:g} s") from None
        kill_strays()  # nothing the program started may outlive it
        if code != 0:
            how = f"signal {-code} ({signal.Signals(-code).name})" if code < 0 else f"exit code {code}"
            raise HarnessError(f"{self.what} failed with {how}")


def kill_strays():
    """Kill every process of the harness's group but the harness itself."""
    me = os.getpid()
    group = os.getpgid(0)
    if group != me:  # not a group leader (run by hand from a shell): leave the shell's group alone
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            if os.getpgid(int(entry)) == group:
                os.kill(int(entry), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:  # reap our own dead children
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def forward_progress(read_fd, metrics):
    with os.fdopen(read_fd, "r") as pipe:
        for line in pipe:
            try:
                point = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(point, dict):
                numbers = {k: v for k, v in point.items() if isinstance(v, (int, float))}
                metrics.write(type="curve", **numbers)


def bits_per_byte(logits, windows):
    """Mean next-byte cross-entropy in bits, with the harness's own log-softmax."""
    expected = (windows.shape[0], windows.shape[1], 256)
    if logits.shape != expected:
        raise HarnessError(f"predict returned logits of shape {logits.shape}, expected {expected}")
    logits = logits[:, :-1].astype(np.float64)
    if not np.isfinite(logits).all():
        raise HarnessError("predict returned non-finite logits (training diverged?)")
    targets = windows[:, 1:].astype(np.int64)
    top = logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return float((log_z - picked).mean() / math.log(2))


def predict(python, workspace, scratch, env, windows, name, log):
    inputs = os.path.join(scratch, f"{name}-inputs.npy")
    outputs = os.path.join(scratch, f"{name}-logits.npy")
    np.save(inputs, windows)
    argv = [python, os.path.join(workspace, "train.py"), "predict",
            "--checkpoint", os.path.join(scratch, "model.pt"),
            "--inputs", inputs, "--outputs", outputs]
    _, watch = run_child(argv, scratch, env, PREDICT_SECONDS, f"predict on {name}", log)
    watch.wait()
    os.remove(inputs)  # leave nothing of the evaluation data in the scratch folder
    if not os.path.exists(outputs):
        raise HarnessError(f"predict on {name} wrote no logits")
    try:
        logits = np.load(outputs, allow_pickle=False)
    except ValueError as err:
        raise HarnessError(f"predict on {name} wrote unreadable logits: {err}") from None
    finally:
        os.remove(outputs)
    return bits_per_byte(logits, windows)


def main():
    with open(os.environ["RECURSOR_CONFIG"]) as f:
        config = json.load(f)
    metrics = Metrics(config["metrics_file"])
    try:
        result = run(config, metrics)
    except HarnessError as err:
        metrics.write(type="error", reason=str(err))
        return 0  # the experiment failed, the harness did its job
    metrics.write(type="result", **result)
    return 0


def run(config, metrics):
    log_path = config.get("program_log") or os.path.join(config["scratch"], "program.log")
    with open(log_path, "ab") as log:
        return train_and_score(config, metrics, log)


def train_and_score(config, metrics, log):
    budget, settings, seed = config["budget"], config["settings"], config["seed"]
    evaluation = config["evaluation"]
    workspace, scratch = config["workspace"], config["scratch"]
    data = {d["name"]: load_bytes(d["path"], d.get("sha256")) for d in config["data"]}
    python = sys.executable
    env = child_env(scratch, config["limits"]["threads"])

    # a corpus scored on itself keeps its tail back; otherwise train on one, score on the other
    corpus = data[evaluation["train_data"]]
    if evaluation["test_data"] == evaluation["train_data"]:
        n_test = int(len(corpus) * settings["test_fraction"])
        train_split, test_split = corpus[:-n_test], corpus[-n_test:]
    else:
        train_split, test_split = corpus, data[evaluation["test_data"]]
    n_tokens = int(budget["train_tokens"])
    stream = training_stream(train_split, n_tokens, settings["chunk_bytes"], seed)
    train_file = os.path.join(scratch, "train.bin")
    stream.tofile(train_file)

    read_fd, write_fd = os.pipe()
    argv = [python, os.path.join(workspace, "train.py"), "train",
            "--data", train_file, "--seed", str(seed),
            "--checkpoint", os.path.join(scratch, "model.pt"), "--progress-fd", str(write_fd)]
    t0 = time.time()
    _, watch = run_child(argv, scratch, env, budget["train_seconds"], "training", log, (write_fd,))
    os.close(write_fd)
    reader = threading.Thread(target=forward_progress, args=(read_fd, metrics), daemon=True)
    reader.start()
    watch.wait()
    reader.join(timeout=5)
    train_seconds = time.time() - t0
    os.remove(train_file)
    if not os.path.exists(os.path.join(scratch, "model.pt")):
        raise HarnessError("training finished without writing its checkpoint")

    windows = eval_windows(test_split, settings["eval_windows"], settings["window_bytes"])
    bpb = predict(python, workspace, scratch, env, windows, evaluation["name"], log)
    os.remove(os.path.join(scratch, "model.pt"))
    return {"metrics": {evaluation["name"]: bpb}, "train_seconds": round(train_seconds, 3)}


if __name__ == "__main__":
    sys.exit(main())
