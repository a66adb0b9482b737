import sqlite3

import pytest

from recursor.errors import IllegalTransition, StoreError
from recursor.store import EvalStatus, Idea, NodeStatus, RunStore
from recursor.store.schema import SCHEMA_VERSION


@pytest.fixture
def store(tmp_path):
    s = RunStore.create(tmp_path / "run", {"task": "t"})
    yield s
    s.close()


def add_pair(store):
    base = store.add_node(None, None, {"train.py": "x = 1\n"})
    child = store.add_node(base.id, Idea(title="two", key="two", proposer="library"),
                           {"train.py": "x = 2\n"}, "patch text", "diff text")
    return base, child


def test_nodes_keep_their_files_patch_and_diff(store):
    base, child = add_pair(store)
    assert store.files(child) == {"train.py": "x = 2\n"}
    assert store.path(child.patch_path).read_text() == "patch text"
    assert store.path(child.diff_path).read_text() == "diff text"
    assert child.idea.title == "two" and child.parent_id == base.id
    assert base.is_baseline and base.title == "baseline"


def test_a_decision_is_final(store):
    _, child = add_pair(store)
    store.decide(child.id, NodeStatus.REJECTED, "screen: worse")
    with pytest.raises(IllegalTransition, match="is rejected; it cannot become accepted"):
        store.decide(child.id, NodeStatus.ACCEPTED, "changed my mind")
    assert store.node(child.id).status is NodeStatus.REJECTED


def test_an_evaluation_runs_once_unless_lost(store):
    base, _ = add_pair(store)
    ev = store.start_evaluation(base.id, 1, "m")
    with pytest.raises(StoreError, match="already has evaluation"):
        store.start_evaluation(base.id, 1, "m")
    lost = store.lose_running()
    assert [e.id for e in lost] == [ev.id]
    again = store.start_evaluation(base.id, 1, "m")  # a lost evaluation may run again
    store.finish_evaluation(again.id, ok=True, value=1.5, metrics={"m": 1.5}, reason=None,
                            seconds=2.0, curve=[{"step": 1, "train_loss": 3.0}])
    with pytest.raises(StoreError, match="not running"):
        store.finish_evaluation(again.id, ok=True, value=9.9, metrics={}, reason=None, seconds=1)
    node = store.node(base.id)
    assert node.values("m") == {1: 1.5}
    assert [e.status for e in node.evaluations] == [EvalStatus.LOST, EvalStatus.OK]
    assert store.curve(again.id) == [{"step": 1, "train_loss": 3.0}]


def test_reopen_and_read_while_a_writer_holds_it(store, tmp_path):
    base, child = add_pair(store)
    reader = RunStore.open(tmp_path / "run", readonly=True)
    store.decide(child.id, NodeStatus.ACCEPTED, "better")
    assert reader.node(child.id).status is NodeStatus.ACCEPTED  # sees committed writes
    assert reader.meta()["task"] == "t"
    with pytest.raises(sqlite3.OperationalError):
        reader._conn.execute("DELETE FROM nodes")
    reader.close()


def test_refuses_to_overwrite_a_run_and_to_open_a_non_run(tmp_path, store):
    with pytest.raises(StoreError, match="already holds a run"):
        RunStore.create(tmp_path / "run", {})
    with pytest.raises(StoreError, match="not a recursor run folder"):
        RunStore.open(tmp_path / "elsewhere")


def test_a_newer_database_is_refused_with_advice(tmp_path, store):
    store._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store._conn.commit()
    with pytest.raises(StoreError, match="upgrade recursor"):
        RunStore.open(tmp_path / "run")


def test_a_killed_insert_leaves_no_stale_files_under_a_reused_id(store):
    base, child = add_pair(store)
    stale = store.node_dir(child.id + 1) / "workspace"
    stale.mkdir(parents=True)
    (stale / "leftover.py").write_text("from a killed insert")
    node = store.add_node(base.id, Idea(title="three"), {"train.py": "x = 3\n"})
    assert store.files(node) == {"train.py": "x = 3\n"}


def test_findings_are_kept_on_the_node_with_their_evidence(store):
    from recursor.store import Finding

    _, child = add_pair(store)
    store.add_findings(child.id, [
        Finding("static.network", True, "opens a socket", "12: import socket"),
        Finding("static.threads", False, "starts a thread", "30: threading.Thread(...)", seed=1),
    ])
    node = store.node(child.id)
    assert [f.check for f in node.findings] == ["static.network", "static.threads"]
    assert [f.check for f in node.blocking] == ["static.network"]
    assert node.findings[1].seed == 1 and "12: import socket" in node.findings[0].evidence
    assert [f.check for f in store.nodes()[1].findings] == ["static.network", "static.threads"]


def test_a_version_1_run_database_is_upgraded_in_place(tmp_path):
    from recursor.store.schema import _V1

    run = tmp_path / "old"
    run.mkdir()
    conn = sqlite3.connect(run / "run.db")
    conn.executescript(_V1 + "\nPRAGMA user_version = 1;")
    conn.execute("INSERT INTO meta VALUES ('task', '\"t\"')")
    conn.execute("INSERT INTO nodes (parent_id, status, workspace, created_at) "
                 "VALUES (NULL, 'accepted', '', 0)")
    conn.commit()
    conn.close()
    store = RunStore.open(run)
    assert store.nodes()[0].findings == ()
    assert store.calls() == [] and store.total_cost() == 0
    assert store.predictions() == []  # v4: the value function's looks
    (version,) = store._conn.execute("PRAGMA user_version").fetchone()
    assert version == SCHEMA_VERSION == 6
    store.close()


def test_the_value_functions_looks_of_a_version_4_run_read_as_per_seed_looks(tmp_path):
    from recursor.store.schema import MIGRATIONS

    run = tmp_path / "old"
    run.mkdir()
    conn = sqlite3.connect(run / "run.db")
    conn.executescript("\n".join(MIGRATIONS[v] for v in range(1, 5)) + "\nPRAGMA user_version = 4;")
    conn.execute("INSERT INTO meta VALUES ('task', '\"t\"')")
    conn.execute("INSERT INTO nodes (parent_id, status, workspace, created_at) "
                 "VALUES (NULL, 'accepted', '', 0)")
    conn.execute("INSERT INTO evaluations (node_id, seed, evaluation, status, started_at, job_dir)"
                 " VALUES (1, 1, 'm', 'ok', 0, '')")
    conn.execute("INSERT INTO predictions (evaluation_id, reference_id, at, progress, predicted,"
                 " lo, hi, p_better, risk, decision) VALUES (1, 1, 0, 0.5, 0.1, 0, 0.2, 0.01,"
                 " 0.02, 'stop')")
    conn.commit()
    conn.close()
    store = RunStore.open(run)
    (look,) = store.predictions()
    assert look.scope == "seed" and look.decision == "stop" and look.predicted == 0.1
    store.close()


def test_model_calls_are_kept_with_their_cost_and_transcript(store):
    from recursor.store import Call

    _, child = add_pair(store)
    call = Call(proposer="llm:m:optimizer", model="m", purpose="propose", attempt=1,
                input_tokens=1200, output_tokens=300, cost=0.0021, seconds=1.5,
                outcome="patch-error", detail="SEARCH not found", transcript="## user\nhi")
    store.add_calls(child.id, [call, Call(**{**call.__dict__, "attempt": 2, "outcome": "ok"})])
    store.add_calls(None, [Call(**{**call.__dict__, "outcome": "error:server", "cost": 0.0})])
    assert [c.outcome for c in store.calls(child.id)] == ["patch-error", "ok"]
    assert [c.node_id for c in store.calls()] == [child.id, child.id, None]
    assert store.total_cost() == pytest.approx(0.0042)
    first = store.calls()[0]
    assert store.path(first.transcript).read_text() == "## user\nhi"
