"""The language-model scoring a harness builds on (`recursor.task.lm`): the window plan drawn from a
secret, the audits of what came back, and the checkpoint set handed from training to predict.
Fast: no program runs here (the harness tests run real ones)."""

from __future__ import annotations

import io
import lzma
import zipfile

import numpy as np
import pytest
import torch

from recursor.task.lm import audits, checkpoint, windows

TEXT = np.frombuffer((b"First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
                      b"All:\nSpeak, speak.\n\n" * 400), dtype=np.uint8)


def a_plan(secret: bytes = b"s" * 16, **sizes) -> windows.Plan:
    args = {"width": 64, "n_scored": 40, "n_fresh": 20, "n_probes": 24, "n_repeats": 12,
            "n_calls": 4, **sizes}
    return windows.plan(TEXT, secret=secret, **args)


@pytest.mark.parametrize("n_probes", [24, 100])  # 100: more probes than windows
def test_every_row_is_predicted_once_and_no_call_holds_two_rows_of_one_window(n_probes):
    plan = a_plan(n_probes=n_probes)
    assert len(plan.probes) == n_probes
    rows = np.concatenate(plan.calls)
    assert sorted(rows.tolist()) == list(range(len(plan.rows)))
    call_of = {int(r): k for k, call in enumerate(plan.calls) for r in call}
    for row, original, _ in plan.probes:
        assert call_of[row] != call_of[original]
    for row, original in plan.repeats:
        assert call_of[row] != call_of[original]
        assert (plan.rows[row] == plan.rows[original]).all()
    families = {}
    for row, original, _ in plan.probes:
        families.setdefault(original, []).append(row)
    for row, original in plan.repeats:
        families.setdefault(original, []).append(row)
    for original, members in families.items():
        calls = [call_of[r] for r in [original, *members]]
        assert len(set(calls)) == len(calls)


def test_a_probe_is_real_text_of_the_same_length_that_departs_at_its_cut():
    plan = a_plan()
    text = TEXT.tobytes()
    for row, original, cut in plan.probes:
        probe, window = plan.rows[row], plan.rows[original]
        assert len(probe) == len(window) and 1 <= cut < len(window)
        assert (probe[:cut] == window[:cut]).all() and probe[cut] != window[cut]
        assert probe[cut:].tobytes() in text  # not random bytes: text from elsewhere


def test_the_layout_comes_from_the_secret_alone():
    a, b, c = a_plan(b"a" * 16), a_plan(b"a" * 16), a_plan(b"b" * 16)
    assert [x.tolist() for x in a.calls] == [x.tolist() for x in b.calls]
    assert a.probes == b.probes and a.repeats == b.repeats
    assert [x.tolist() for x in a.calls] != [x.tolist() for x in c.calls]
    assert a.probes != c.probes
    # scored and fresh windows are the text's own, in order, whatever the secret
    assert (a.rows[:60] == c.rows[:60]).all()
    assert (a.rows[:40].reshape(-1) == TEXT[:40 * 64]).all()


def test_cuts_fall_anywhere_not_only_where_the_text_breaks_a_line():
    # a program that looks ahead everywhere but just before a newline must still be caught
    cuts = [cut for _, _, cut in a_plan(b"c" * 16, n_probes=60).probes]
    assert len({c % 64 for c in cuts}) > 30 and min(cuts) < 16 and max(cuts) > 48


def test_fewer_than_three_calls_cannot_keep_a_window_apart_from_its_probe_and_repeat():
    with pytest.raises(ValueError, match="at least 3"):
        a_plan(n_calls=2)


def honest_logits(plan: windows.Plan) -> np.ndarray:
    """Logits of a causal model: each position from the bytes up to it (a rolling sum)."""
    rows = plan.rows.astype(np.float64)
    state = np.cumsum(rows, axis=1)[..., None] * np.linspace(0, 1, 256)
    return np.sin(state).astype(np.float32)


def test_a_causal_batch_independent_model_has_no_finding():
    plan = a_plan()
    logits = honest_logits(plan)
    assert audits.causality(logits, plan.probes) == []
    assert audits.independence(logits, plan.repeats) == []


def test_looking_one_byte_ahead_is_seen_by_the_probes():
    plan = a_plan(n_probes=60)
    ahead = plan.rows.astype(np.float64)
    nxt = np.concatenate([ahead[:, 1:], ahead[:, :1]], axis=1)
    logits = honest_logits(plan) + np.eye(256, dtype=np.float32)[nxt.astype(int)]
    found = audits.causality(logits, plan.probes)
    assert [f["check"] for f in found] == ["causality"]
    assert "probes moved" in found[0]["evidence"]


def test_a_window_predicted_differently_in_another_call_is_seen_by_its_repeat():
    plan = a_plan()
    logits = honest_logits(plan)
    for k, call in enumerate(plan.calls):  # a per-call shift: statistics over the batch
        logits[call] += 0.01 * (k + 1)
    found = audits.independence(logits, plan.repeats)
    assert [f["check"] for f in found] == ["batch-independence"]


def test_nan_cannot_switch_a_comparison_off():
    plan = a_plan()
    logits = honest_logits(plan)
    row, original, cut = plan.probes[0]
    logits[row, 0] = np.nan
    assert audits.causality(logits, plan.probes)
    row, original = plan.repeats[0]
    logits[row, 5] = np.nan
    assert audits.independence(logits, plan.repeats)


PARENT = [{"train": {"cpu": 20.0}, "predict": {"cpu": 1.5}, "checkpoint_bytes": 800_000},
          {"train": {"cpu": 22.0}, "predict": {"cpu": 1.7}, "checkpoint_bytes": 800_000}]


@pytest.mark.parametrize(("predict_cpu", "flagged"), [
    (1.6, False),  # the parent's own cost
    (5.7, False),  # within 3 x 1.6 + 1 s: a model up to three times as costly per window
    (6.0, True),
    (12.0, True),  # the old rule (half of training + 5 s) allowed this
])
def test_predict_is_held_to_its_parents_cost(predict_cpu, flagged):
    found = audits.evaluation_cost(predict_cpu, PARENT, 3.0, 1.0)
    assert [f["check"] for f in found] == (["budget.evaluation"] if flagged else [])


def test_with_no_parent_measured_there_is_nothing_to_hold_predict_to():
    assert audits.evaluation_cost(50.0, [], 3.0, 1.0) == []


def held(tmp_path, files: dict[str, bytes]) -> checkpoint.CheckpointSet:
    scratch = tmp_path / "scratch"
    (scratch / "program").mkdir(parents=True)
    for name, data in files.items():
        (scratch / name).write_bytes(data)
    out = checkpoint.CheckpointSet(str(scratch), str(tmp_path / "held"), keep=["program"])
    out.take()
    return out


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


STREAM = TEXT[:20_000]


def test_weights_alone_carry_no_training_data(tmp_path):
    torch.manual_seed(0)
    state = {"w": torch.randn(256, 256), "b": torch.zeros(256)}
    assert checkpoint.training_data_finding(held(tmp_path, {"model.pt": saved(state)}),
                                            STREAM) == []


@pytest.mark.parametrize("how", ["uint8", "int64", "lzma side file"])
def test_a_checkpoint_that_carries_the_training_bytes_is_flagged(tmp_path, how):
    torch.manual_seed(0)
    state = {"w": torch.randn(128, 128)}
    files = {}
    if how == "uint8":
        state["prior_counts"] = torch.from_numpy(STREAM[:4096].copy())
    elif how == "int64":
        state["context_ids"] = torch.from_numpy(STREAM[:4096].astype(np.int64))
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("tokens", lzma.compress(STREAM[:4096].tobytes()))
        files["cache.zip"] = buffer.getvalue()
    files["model.pt"] = saved(state)
    found = checkpoint.training_data_finding(held(tmp_path, files), STREAM)
    assert [f["check"] for f in found] == ["checkpoint.training-data"]


def test_predict_finds_only_what_training_left(tmp_path):
    handover = held(tmp_path, {"model.pt": b"weights", "model.json": b"{}"})
    scratch = tmp_path / "scratch"
    assert sorted(p.name for p in scratch.iterdir()) == ["program"]
    handover.restore()
    (scratch / "seen.npy").write_bytes(b"windows of the last call")
    (scratch / "model.pt").write_bytes(b"overwritten")
    (scratch / "cache").mkdir()
    (scratch / "cache" / "x").write_bytes(b"1")
    (scratch / "cache").chmod(0)
    handover.restore()
    assert sorted(p.name for p in scratch.iterdir()) == ["model.json", "model.pt", "program"]
    assert (scratch / "model.pt").read_bytes() == b"weights"
    assert handover.total_bytes == len(b"weights") + 2


def test_a_checkpoint_far_larger_than_its_parents_is_flagged():
    assert checkpoint.size_finding(2_000_000, PARENT, 4.0) == []
    assert checkpoint.size_finding(4_200_000, PARENT, 4.0) == []  # 4 x 0.8 MB + 1 MB
    found = checkpoint.size_finding(6_000_000, PARENT, 4.0)
    assert [f["check"] for f in found] == ["checkpoint.size"]
    assert checkpoint.size_finding(60_000_000, [], 4.0) == []  # the baseline: no parent


def test_links_and_special_files_are_not_handed_over(tmp_path):
    # a link at any depth would make the harness, outside the sandbox, copy a file of the host
    # into the sandbox when it puts the set back
    import os

    host_file = tmp_path / "held-back.txt"
    host_file.write_text("the text the program must never see")
    scratch = tmp_path / "scratch"
    (scratch / "program").mkdir(parents=True)
    (scratch / "model.pt").write_bytes(b"weights")
    (scratch / "extras" / "deeper").mkdir(parents=True)
    (scratch / "extras" / "deeper" / "notes.txt").symlink_to(host_file)
    (scratch / "top-link").symlink_to(host_file)
    os.mkfifo(scratch / "pipe")
    handover = checkpoint.CheckpointSet(str(scratch), str(tmp_path / "held"), keep=["program"])
    handover.take()
    assert sorted(handover.files) == ["model.pt"]
    handover.restore()
    found = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*"))
    assert found == ["extras", "extras/deeper", "model.pt", "program"]
    assert host_file.read_text().startswith("the text")  # untouched


def test_more_than_two_gigabytes_is_not_handed_over(tmp_path):
    from recursor.harness import HarnessError

    scratch = tmp_path / "scratch"
    (scratch / "program").mkdir(parents=True)
    with open(scratch / "model.pt", "wb") as f:  # sparse: costs nothing here, 3 GiB to copy
        f.truncate(3 << 30)
    handover = checkpoint.CheckpointSet(str(scratch), str(tmp_path / "held"), keep=["program"])
    with pytest.raises(HarnessError, match="3.0 GiB"):
        handover.take()
