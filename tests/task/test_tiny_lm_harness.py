"""The tiny-lm harness: the budget it enforces, the data it hides, the score it computes itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL

from recursor.executor.local import run_job
from recursor.loop.jobs import make_job, resolve_data
from recursor.task import load_task

pytestmark = pytest.mark.slow

TASK = load_task("tiny-lm", SMALL)
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
        name: str = "job"):
    job = make_job(TASK, program(tmp_path, source), tmp_path / name, seed, evaluation, DATA)
    return job, run_job(job)


def test_same_seed_same_metric_and_the_recorded_baseline(tmp_path):
    _, a = run(tmp_path, name="a")
    _, b = run(tmp_path, name="b")
    _, c = run(tmp_path, seed=2, name="c")
    assert a.ok and a.value == b.value != c.value
    assert a.curve[0]["train_loss"] == pytest.approx(RECORDED_FIRST_LOSS, abs=1e-3)
    assert a.value == pytest.approx(RECORDED_VAL_BPB, abs=2e-3)
    assert a.curve[-1]["tokens"] <= SMALL["budget.train_tokens"]


SPY = VANILLA.replace(
    "    model = GPT()\n    optimizer",
    "    import hashlib, sys\n"
    "    raw = np.fromfile(args.data, dtype=np.uint8)\n"
    "    print('SPY bytes', len(raw), 'env', sorted(os.environ), flush=True)\n"
    "    np.save('../../seen.npy', raw)\n"
    "    model = GPT()\n    optimizer",
)


def test_training_gets_exactly_its_budget_of_training_bytes_and_nothing_else(tmp_path):
    job, result = run(tmp_path, SPY)
    assert result.ok, result.reason
    log = job.program_log.read_text()
    assert f"SPY bytes {SMALL['budget.train_tokens']} " in log
    assert "RECURSOR_CONFIG" not in log and "RECURSOR_METRICS" not in log
    seen = np.load(tmp_path / "seen.npy")
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


def test_predictions_of_the_wrong_shape_or_nan_fail_the_experiment(tmp_path):
    wrong = VANILLA.replace("    np.save(args.outputs, outputs)",
                            "    np.save(args.outputs, outputs[:, :10])")
    _, result = run(tmp_path, wrong, name="shape")
    assert not result.ok and "logits of shape" in result.reason
    nan = VANILLA.replace("    np.save(args.outputs, outputs)",
                          "    np.save(args.outputs, outputs * float('nan'))")
    _, result = run(tmp_path, nan, name="nan")
    assert not result.ok and "non-finite logits" in result.reason


def test_held_out_evaluation_trains_on_wikitext_and_scores_its_own_held_out_text(tmp_path):
    _, result = run(tmp_path, evaluation="wikitext2_bpb")
    assert result.ok and set(result.metrics["metrics"]) == {"wikitext2_bpb"}
    assert 0 < result.value < 8.5


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


def _harness_module():
    import importlib.util

    path = load_task("tiny-lm").root / "harness.py"
    spec = importlib.util.spec_from_file_location("tiny_lm_harness", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("usage", "flagged"), [
    # measured 2026-12-01: the local-SGD cheat beside another experiment on 2 cores; its total
    # CPU (5.4 s) is under threads x wall x slack, but its second thread is not
    ({"cpu": 5.40, "main_cpu": 2.63, "wall": 5.11}, True),
    ({"cpu": 5.46, "main_cpu": None, "wall": 3.88}, True),  # alone on the machine
    ({"cpu": 2.53, "main_cpu": 2.48, "wall": 2.91}, False),  # an honest prefetch thread
    ({"cpu": 2.43, "main_cpu": 2.40, "wall": 2.43}, False),  # the baseline
])
def test_cpu_beside_the_main_thread_is_audited_whatever_the_contention(usage, flagged):
    found = _harness_module().audit_usage("training", {**usage, "strays": 0}, 1)
    assert [f["check"] for f in found] == (["budget.threads"] if flagged else [])
