"""The tiny-lm harness: the budget it enforces, the data it hides, the score it computes itself."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import AUDITED, SMALL

from recursor.executor.local import run_job
from recursor.executor.sandbox import detect
from recursor.loop.jobs import make_job, resolve_data
from recursor.task import load_task
from recursor.task.lm import audits

pytestmark = pytest.mark.slow

TASK = load_task("tiny-lm", AUDITED)  # the harness with the task's own audit settings
DATA = resolve_data(TASK)
VANILLA = TASK.program_files()["train.py"]

# recorded on 2026-11-23 (x86_64, torch 2.13.0 CPU) at the SMALL budget, seed 1
RECORDED_FIRST_LOSS = 5.5644
RECORDED_VAL_BPB = 6.9026


def program(tmp_path: Path, source: str = VANILLA) -> Path:
    folder = tmp_path / "program"
    folder.mkdir(exist_ok=True)
    (folder / "train.py").write_text(source)
    return folder


def run(tmp_path: Path, source: str = VANILLA, seed: int = 1, evaluation: str = "val_bpb",
        name: str = "job", parent_usage=()):
    job = make_job(TASK, program(tmp_path, source), tmp_path / name, seed, evaluation, DATA,
                   sandbox=detect(), parent_usage=parent_usage)
    return job, run_job(job)


def test_same_seed_same_metric_and_the_recorded_baseline(baseline, again, tmp_path):
    a, b = baseline, again  # two runs of the same program on the same seed
    _, c = run(tmp_path, seed=2, name="c")
    assert a.ok and a.value == b.value != c.value
    assert a.curve[0]["train_loss"] == pytest.approx(RECORDED_FIRST_LOSS, abs=1e-3)
    assert a.value == pytest.approx(RECORDED_VAL_BPB, abs=2e-3)
    assert a.curve[-1]["tokens"] <= SMALL["budget.train_tokens"]


SPY = VANILLA.replace(
    "    model = GPT()\n    optimizer",
    "    import base64\n"
    "    raw = np.fromfile(args.data, dtype=np.uint8)\n"
    "    print('SPY bytes', len(raw), 'env', sorted(os.environ), flush=True)\n"
    "    print('SPY data', base64.b64encode(raw.tobytes()).decode(), flush=True)\n"
    "    model = GPT()\n    optimizer",
)


def test_training_gets_exactly_its_budget_of_training_bytes_and_nothing_else(tmp_path):
    job, result = run(tmp_path, SPY)
    assert result.ok, result.reason
    log = job.program_log.read_text()
    assert f"SPY bytes {SMALL['budget.train_tokens']} " in log
    assert "RECURSOR_CONFIG" not in log and "RECURSOR_METRICS" not in log
    line = next(x for x in log.splitlines() if x.startswith("SPY data "))
    seen = np.frombuffer(base64.b64decode(line.removeprefix("SPY data ")), dtype=np.uint8)
    corpus = Path(DATA["tinyshakespeare"]).read_bytes()
    n_test = int(len(corpus) * TASK.spec.settings["test_fraction"])
    train, test = corpus[:-n_test], corpus[-n_test:]
    chunk = TASK.spec.settings["chunk_bytes"]
    pieces = [seen[i:i + chunk].tobytes() for i in range(0, len(seen) - chunk + 1, chunk)]
    assert all(p in train for p in pieces)
    assert not any(p in test for p in pieces)


def test_the_score_is_computed_by_the_harness_not_the_program(tmp_path):
    # a program that returns constant logits gets the uniform score, whatever it claims
    liar = VANILLA.replace(
        "    np.save(args.outputs, outputs)",
        "    print('val_bpb 0.001')\n    np.save(args.outputs, np.zeros_like(outputs))")
    _, result = run(tmp_path, liar)
    assert result.ok and result.value == pytest.approx(8.0, abs=1e-9)


LAUNDERED = {
    # the shape cut short, NaN on the rows of one call only, complex, half precision, integer,
    # an archive instead of an array, a pickled object
    "shape (": "outputs[:, :10]",
    "non-finite value(s)": "np.where(np.arange(len(outputs))[:, None, None] == 3, np.nan, outputs)",
    "dtype <c8": "outputs.astype(np.complex64)",
    "dtype <f2": "outputs.astype(np.float16)",
    "dtype <i8": "outputs.astype(np.int64)",
}


@pytest.mark.parametrize("want", list(LAUNDERED))
def test_an_output_off_the_contract_fails_the_experiment_with_the_reason(tmp_path, want):
    source = VANILLA.replace("    np.save(args.outputs, outputs)",
                             f"    np.save(args.outputs, {LAUNDERED[want]})")
    _, result = run(tmp_path, source)
    assert not result.ok and "breaks the output contract" in result.reason
    assert want in result.reason, result.reason


def test_an_archive_or_a_pickle_is_not_an_array(tmp_path):
    npz = VANILLA.replace("    np.save(args.outputs, outputs)",
                          "    np.savez(open(args.outputs, 'wb'), logits=outputs)")
    _, result = run(tmp_path, npz, name="npz")
    assert not result.ok and "holds a NpzFile, not one array" in result.reason
    pickled = VANILLA.replace("    np.save(args.outputs, outputs)",
                              "    np.save(args.outputs, np.array([outputs[:1]], dtype=object))")
    _, result = run(tmp_path, pickled, name="pickle")
    assert not result.ok and "not one .npy array" in result.reason


def test_held_out_evaluation_trains_on_wikitext_and_scores_its_own_held_out_text(tmp_path):
    _, result = run(tmp_path, evaluation="wikitext2_bpb")
    # its own metric, never the public one; the secondary metrics are measured on every run
    assert result.ok and set(result.metrics["metrics"]) == {"wikitext2_bpb", "train_seconds",
                                                            "peak_memory_mb"}
    assert 0 < result.value < 8.5
    # held out, the program gets the same probes, repeats and calls as in public
    layout = result.metrics["audit"]["layout"]
    assert layout["probes"] == TASK.spec.settings["probe_windows"] and len(layout["calls"]) >= 3
    assert result.metrics["findings"] == []


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    _, result = run(tmp_path_factory.mktemp("baseline"))
    assert result.ok and result.metrics["findings"] == [], result.reason
    return result


@pytest.fixture(scope="module")
def again(baseline, tmp_path_factory):
    """The baseline's program on its seed once more, held to the baseline's usage as its
    parent: read by the tests that compare two runs of one program, or hold it to itself."""
    _, result = run(tmp_path_factory.mktemp("again"), parent_usage=[baseline.metrics["usage"]])
    return result


def test_each_experiment_draws_its_layout_from_a_secret_it_records(baseline, again):
    first, second = baseline.metrics["audit"], again.metrics["audit"]
    assert first["secret"] != second["secret"] and first["layout"] != second["layout"]
    assert again.value == pytest.approx(baseline.value, abs=1e-5)  # the score is not the layout's


# statistics over the whole batch of windows a call was given
BATCH_NORMALISED = VANILLA.replace(
    "    np.save(args.outputs, outputs)",
    "    centred = outputs - outputs.mean(axis=(0, 1), keepdims=True)\n"
    "    np.save(args.outputs, centred + outputs.mean())")
# one byte ahead, at the last 8 positions of each window only (3% of them): 256 probes per run
# miss it with probability (1 - 8/255)^256 < 1e-3
LAST_BYTES = VANILLA.replace(
    "    np.save(args.outputs, outputs)",
    "    rows = np.arange(len(outputs))[:, None]\n"
    "    cols = np.arange(outputs.shape[1] - 9, outputs.shape[1] - 1)[None, :]\n"
    "    outputs[rows, cols, inputs.numpy()[:, -8:]] += 8.0\n"
    "    np.save(args.outputs, outputs)")
# a cache of the windows already seen, kept where a later call could find it
REMEMBERS = VANILLA.replace(
    "    np.save(args.outputs, outputs)",
    "    import glob\n"
    "    for place in ('/tmp', '/dev/shm', os.path.dirname(args.outputs)):\n"
    "        if glob.glob(os.path.join(place, 'seen-*.npy')):\n"
    "            print('STATE FROM AN EARLIER CALL IN', place, flush=True)\n"
    "        np.save(os.path.join(place, f'seen-{os.getpid()}.npy'), inputs.numpy()[:2])\n"
    "    np.save(args.outputs, outputs)")


def test_a_score_that_depends_on_the_other_windows_of_a_call_is_caught(tmp_path):
    _, result = run(tmp_path, BATCH_NORMALISED)
    assert result.ok, result.reason
    assert "batch-independence" in {f["check"] for f in result.metrics["findings"]}


def test_looking_ahead_at_a_few_positions_per_window_is_caught(tmp_path):
    _, result = run(tmp_path, LAST_BYTES)
    assert result.ok, result.reason
    assert "causality" in {f["check"] for f in result.metrics["findings"]}


def test_no_predict_call_finds_what_an_earlier_one_wrote(tmp_path):
    job, result = run(tmp_path, REMEMBERS)
    assert result.ok, result.reason
    log = job.program_log.read_text()
    assert "STATE FROM AN EARLIER CALL" not in log, log[-2000:]


def test_predict_that_trains_on_is_held_to_its_parents_cost(baseline, again, tmp_path):
    # the training stream stashed beside the checkpoint, and training continued in predict
    trains_on = VANILLA.replace(
        "    torch.save(model.state_dict(), args.checkpoint)",
        "    torch.save(model.state_dict(), args.checkpoint)\n"
        "    np.save(args.checkpoint + '.warm.npy', data.numpy().astype(np.uint8))").replace(
        "    model.eval()",
        "    stream = torch.from_numpy(np.load(args.checkpoint + '.warm.npy').astype(np.int64))\n"
        "    opt = torch.optim.SGD(model.parameters(), lr=1e-3)\n"
        "    with torch.enable_grad():\n"
        "        for _ in range(4):\n"
        "            for s in range(0, len(stream) - 2049, 2048):\n"
        "                x = stream[s:s + 2048].view(32, 64)\n"
        "                y = stream[s + 1:s + 2049].view(32, 64)\n"
        "                loss = compute_loss(model(x), y)\n"
        "                opt.zero_grad()\n"
        "                loss.backward()\n"
        "                opt.step()\n"
        "    model.eval()")
    _, result = run(tmp_path, trains_on, parent_usage=[baseline.metrics["usage"]])
    assert result.ok, result.reason
    checks = {f["check"] for f in result.metrics["findings"]}
    assert {"budget.evaluation", "checkpoint.training-data"} <= checks, result.metrics["findings"]
    # the baseline held to itself: nothing
    assert again.ok and again.metrics["findings"] == [], again.metrics["findings"]


def test_a_modified_harness_stops_the_run_before_anything_runs(tmp_path, small):
    import recursor
    from recursor.errors import IntegrityError
    from recursor.loop.config import RunConfig
    from recursor.loop.setup import create_run, drive

    store = create_run("tiny-lm", RunConfig(experiments=1, overrides=small), tmp_path / "run")
    harness = tmp_path / "run" / "task" / "harness.py"
    harness.write_text(harness.read_text() + "\n# tampered\n")
    with pytest.raises(IntegrityError, match="harness.py changed since the run started"):
        drive(store)
    assert not [e for n in store.nodes() for e in n.evaluations]
    assert "integrity error" in recursor.open_run(tmp_path / "run").report()["end_reason"]
    shutil.rmtree(tmp_path / "run")


@pytest.mark.parametrize(("usage", "flagged"), [
    # measured 2026-12-01: the local-SGD cheat beside another experiment on 2 cores; its total
    # CPU (5.4 s) is under threads x wall x slack, but its second thread is not
    ({"cpu": 5.40, "main_cpu": 2.63, "wall": 5.11}, True),
    ({"cpu": 5.46, "main_cpu": None, "wall": 3.88}, True),  # alone on the machine
    ({"cpu": 2.53, "main_cpu": 2.48, "wall": 2.91}, False),  # an honest prefetch thread
    ({"cpu": 2.43, "main_cpu": 2.40, "wall": 2.43}, False),  # the baseline
])
def test_cpu_beside_the_main_thread_is_audited_whatever_the_contention(usage, flagged):
    found = audits.usage("training", {**usage, "strays": 0}, 1)
    assert [f["check"] for f in found] == (["budget.threads"] if flagged else [])
