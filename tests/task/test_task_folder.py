import shutil
from pathlib import Path

import pytest

from recursor.errors import DataError, TaskError
from recursor.task import builtin_tasks, load_task, parse_override
from recursor.task import data as data_mod
from recursor.task.spec import DataSpec


@pytest.fixture
def task_copy(tmp_path) -> Path:
    dst = tmp_path / "my-task"
    shutil.copytree(builtin_tasks()["tiny-lm"], dst)
    return dst


def test_builtin_tiny_lm_loads_with_its_library():
    task = load_task("tiny-lm")
    assert task.spec.metric.name == "val_bpb" and task.spec.minimize
    assert task.spec.program.editable == ("train.py",)
    assert len(task.ideas) >= 20
    assert set(task.harness_hashes()) == {"harness.py"}


def test_overrides_go_through_validation():
    task = load_task("tiny-lm", {"budget.train_tokens": 1234, "seeds.values": [5, 6, 7]})
    assert task.spec.budget["train_tokens"] == 1234
    assert task.spec.seeds.values == (5, 6, 7)
    with pytest.raises(TaskError, match="limits.threads"):
        load_task("tiny-lm", {"limits.threads": 0})


def test_parse_override_reads_toml_values():
    assert parse_override("budget.train_tokens=40000") == ("budget.train_tokens", 40000)
    assert parse_override("metric.direction=maximize") == ("metric.direction", "maximize")
    assert parse_override("seeds.values=[1, 2]") == ("seeds.values", [1, 2])
    with pytest.raises(TaskError, match="KEY=VALUE"):
        parse_override("oops")


def test_bad_task_toml_reports_every_problem_with_its_field(task_copy):
    toml = task_copy / "task.toml"
    text = toml.read_text()
    text = text.replace('direction = "minimize"', 'direction = "min"', 1)  # the metric's
    text = text.replace("timeout_seconds = 300", "timeout_seconds = -1")
    text = text.replace('name = "tiny-lm"', 'name = "tiny-lm"\ncolour = "blue"')
    toml.write_text(text)
    with pytest.raises(TaskError) as err:
        load_task(task_copy)
    message = str(err.value)
    assert "3 problem(s)" in message
    assert "field 'metric.direction'" in message and "'min'" in message
    assert "field 'limits.timeout_seconds'" in message
    assert "field 'colour': unknown key" in message


def test_missing_files_and_broken_ideas_are_named(task_copy):
    (task_copy / "harness.py").unlink()
    (task_copy / "ideas" / "broken.toml").write_text('title = "x"\n')
    with pytest.raises(TaskError) as err:
        load_task(task_copy)
    assert "harness.py is listed in task.toml but missing" in str(err.value)
    assert "broken.toml: field 'category': required key is missing" in str(err.value)


def test_not_a_task():
    with pytest.raises(TaskError, match="no task folder"):
        load_task("no-such-task")


def test_data_is_verified_and_a_wrong_copy_is_never_used(tmp_path, monkeypatch):
    spec = load_task("tiny-lm").spec.data[0]
    found = data_mod.resolve(spec)
    assert data_mod.sha256_of(found) == spec.sha256

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / spec.file).write_text("not shakespeare")
    monkeypatch.setenv("RECURSOR_DATA", str(bad))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data_mod, "_shared_dirs", lambda: [found.parent])
    assert data_mod.resolve(spec) == found  # the bad copy is skipped, the shared one is used

    monkeypatch.setattr(data_mod, "_shared_dirs", lambda: [])
    with pytest.raises(DataError) as err:
        data_mod.resolve(spec)
    assert "differs; not used" in str(err.value) and "RECURSOR_DATA" in str(err.value)


def test_data_download_fills_the_cache(tmp_path, monkeypatch):
    import hashlib
    import http.server
    import threading

    payload = b"hello data\n" * 100
    spec = DataSpec(name="x", file="x.txt", sha256=hashlib.sha256(payload).hexdigest(),
                    url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = spec.model_copy(update={"url": f"http://127.0.0.1:{server.server_port}/x.txt"})
        monkeypatch.delenv("RECURSOR_DATA", raising=False)
        monkeypatch.delenv("RECURSOR_OFFLINE", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        path = data_mod.resolve(spec)
        assert path == tmp_path / "recursor" / "data" / "x.txt"
        assert path.read_bytes() == payload
    finally:
        server.shutdown()


def test_the_search_table_sets_up_the_diversity_policies():
    from recursor.policy import make_policy

    task = load_task("tiny-lm", {"search.descriptors": ["proposer", "depth"], "search.islands": 4})
    assert make_policy("map-elites", task.spec.search).descriptors == ("proposer", "depth")
    assert make_policy("islands", task.spec.search).islands == 4
    with pytest.raises(TaskError, match=r"search.descriptors.*unknown descriptors \['colour'\]"):
        load_task("tiny-lm", {"search.descriptors": ["colour"]})


def test_new_files_patterns_must_stay_inside_the_task(task_copy):
    toml = task_copy / "task.toml"
    text = toml.read_text()
    toml.write_text(text.replace('editable = ["train.py"]',
                                 'editable = ["train.py"]\nnew_files = ["../escape/*.py"]'))
    with pytest.raises(TaskError, match="must stay inside the task folder"):
        load_task(task_copy)
    toml.write_text(text.replace('editable = ["train.py"]',
                                 'editable = ["train.py"]\nnew_files = ["models/*.py"]'))
    task = load_task(task_copy)
    assert task.may_write("models/gpt.py") and task.may_write("train.py")
    assert not task.may_write("prepare.py") and not task.may_write("models/../harness.py")
