"""The kernel harness on problems a user brings: a KernelBench file imported as a task runs
through the sandbox and every defence; an operation that needs its own input domain keeps it;
the held-out evaluation times against torch.compile of the reference."""

from __future__ import annotations

import shutil
from pathlib import Path

from recursor.executor.local import run_job
from recursor.executor.sandbox import detect
from recursor.loop.jobs import make_job
from recursor.task import load_task
from recursor.task.kernel.importer import import_kernelbench

PROBLEMS = Path(__file__).with_name("problems")
QUICK = {"budget.trials": 12, "budget.warmup": 2}

LOG_PROBLEM = '''import torch
import torch.nn as nn


class Model(nn.Module):
    """log(x) + sqrt(x): defined on positive inputs only."""

    def forward(self, x):
        return torch.log(x) + torch.sqrt(x)


n = 4096


def get_inputs():
    return [torch.rand(n, 64) + 0.1]


def get_init_inputs():
    return []
'''


def baseline_run(task_dir: Path, where: Path, evaluation: str = "speedup", overrides=None):
    task = load_task(task_dir, {**QUICK, **(overrides or {})})
    program = where / "program"
    program.mkdir(parents=True)
    for name in task.spec.program.files:
        shutil.copy(task.root / name, program / name)
    return run_job(make_job(task, program, where / "job", 1, evaluation, {}, sandbox=detect()))


def test_an_imported_kernelbench_problem_runs_through_every_defence(tmp_path):
    imported = import_kernelbench(PROBLEMS / "19_ReLU.py", tmp_path / "tasks")
    assert imported.ok and len(imported.written) == 1
    result = baseline_run(imported.written[0], tmp_path)
    assert result.ok, result.reason
    assert result.metrics["findings"] == []
    assert 0.5 < result.value < 2.0  # the baseline is the reference


def test_an_operation_with_its_own_domain_keeps_its_inputs_positive(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "7_log_sqrt.py").write_text(LOG_PROBLEM)
    imported = import_kernelbench(tmp_path / "src" / "7_log_sqrt.py", tmp_path / "tasks")
    assert imported.ok, imported.failed
    result = baseline_run(imported.written[0], tmp_path)
    assert result.ok, result.reason
    assert result.metrics["findings"] == []  # no NaN answers compared with NaN answers


def test_the_held_out_evaluation_times_against_torch_compile(tmp_path):
    softmax = load_task("kernel-softmax").root
    result = baseline_run(softmax, tmp_path, "speedup_compiled")
    assert result.ok, result.reason
    assert result.metrics["timing"]["against"] == "compiled"
    assert result.metrics["findings"] == []
    assert result.value > 0 and result.metrics["compile_seconds"] is not None
