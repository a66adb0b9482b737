"""`recursor task import-kernelbench`: KernelBench problem files become kernel task folders.

The problems in tests/task/kernel/problems are imported for real (each checked in its own Python
process); the folders are then read back with `load_task` and run in this process.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import time
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recursor.cli.app import app
from recursor.errors import RecursorError
from recursor.task.folder import load_task
from recursor.task.kernel.importer import (
    drop_functions,
    import_kernelbench,
    rename_model,
    size_constants,
    task_name,
)
from recursor.task.kernel.task_folder import CKERNEL

pytestmark = pytest.mark.slow  # real kernel runs: seconds to minutes each

PROBLEMS = Path(__file__).parent / "problems"
GOOD = {
    "1_Square_matrix_multiplication_.py": "kb-1_square_matrix_multiplication_",
    "19_ReLU.py": "kb-19_relu",
    "40_LayerNorm.py": "kb-40_layernorm",
    "63_conv_standard_2D.py": "kb-63_conv_standard_2d",
    "76_Gemm_constant_init.py": "kb-76_gemm_constant_init",
}
BAD = {  # file -> words of its one-line reason
    "90_broken_syntax.py": "syntax error at line 6",
    "91_broken_no_model.py": "defines no Model",
    "92_broken_no_get_inputs.py": "defines no get_inputs",
    "93_broken_forward.py": "at its own sizes {M=64, K=32}",
}
SYNTAX_ERROR = """import torch


class Model(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x
"""  # written by the test: a file in the repository would break ruff

runner = CliRunner()


@pytest.fixture(scope="module")
def shrunk(tmp_path_factory):
    """Every test problem, and one with a syntax error, imported with --shrink through the CLI."""
    root = tmp_path_factory.mktemp("kb")
    problems = root / "problems"
    shutil.copytree(PROBLEMS, problems, ignore=shutil.ignore_patterns("__pycache__"))
    (problems / "90_broken_syntax.py").write_text(SYNTAX_ERROR)
    out = root / "out"
    t0 = time.perf_counter()
    result = runner.invoke(app, ["task", "import-kernelbench", str(problems), "--shrink", "--out", str(out)])
    print(f"import --shrink of {len(GOOD) + len(BAD)} problems: {time.perf_counter() - t0:.1f} s")
    print(result.output)
    return result, out


def shapes(folder: Path) -> dict:
    return tomllib.loads((folder / "task.toml").read_text())["settings"]["shapes"]


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(folder: Path, shape: dict):
    """The reference and the baseline of a task folder at `shape`, with the same seeds and inputs."""
    import torch

    ref = load(folder / "reference.py", f"{folder.name}_reference")
    sol = load(folder / "solution.py", f"{folder.name}_solution")
    for mod in (ref, sol):
        for k, v in shape.items():
            setattr(mod, k, v)
    torch.manual_seed(0)
    init = ref.get_init_inputs()
    torch.manual_seed(1)
    model = ref.Model(*init)
    torch.manual_seed(1)
    new = sol.ModelNew(*init)
    torch.manual_seed(2)
    return model, new, ref.get_inputs()


# ---------------------------------------------------------------- the CLI, a whole folder


def test_good_problems_become_task_folders_and_bad_ones_are_named_with_their_reason(shrunk):
    result, out = shrunk
    assert result.exit_code == 1, result.output
    for name in GOOD.values():
        task = load_task(out / name)
        assert task.name == name and task.spec.metric.name == "speedup"
        assert f"ok {name}" in result.output
    for file, reason in BAD.items():
        line = next(ln for ln in result.output.splitlines() if file in ln)
        assert line.startswith("failed") and reason in line, line
        assert not (out / task_name(file)).exists()
    assert "5 task folder(s) written" in result.output and "4 problem(s) failed" in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(GOOD.values())  # no temporary folder left


def test_folder_holds_the_reference_byte_for_byte_a_copy_of_ckernel_and_the_settings(shrunk):
    _, out = shrunk
    for file, name in GOOD.items():
        folder = out / name
        assert (folder / "reference.py").read_bytes() == (PROBLEMS / file).read_bytes()
        assert not (folder / "ckernel.py").is_symlink()
        assert (folder / "ckernel.py").read_bytes() == CKERNEL.read_bytes()
        assert (folder / "ideas").is_dir() and not any((folder / "ideas").iterdir())
        raw = tomllib.loads((folder / "task.toml").read_text())
        assert "flops" not in raw["settings"] and raw["settings"]["tolerance"]["float32"]
        assert raw["program"]["editable"] == ["solution.py"] and raw["harness"]["files"] == ["reference.py"]
    raw = tomllib.loads((out / GOOD["19_ReLU.py"] / "task.toml").read_text())
    assert raw["title"].startswith("ReLU (KernelBench 19)")
    assert "Simple model that performs a ReLU activation" in " ".join(raw["goal"].split())


def test_solution_is_the_reference_with_model_renamed_and_computes_the_same(shrunk):
    import torch

    _, out = shrunk
    for file, name in GOOD.items():
        folder = out / name
        reference = (PROBLEMS / file).read_text()
        solution = (folder / "solution.py").read_text()
        # renamed, and only the input makers dropped: the harness calls the reference's
        makers = [n for n in ast.parse(reference).body
                  if isinstance(n, ast.FunctionDef) and n.name in ("get_inputs", "get_init_inputs")]
        gone = {i for n in makers for i in range(n.lineno, n.end_lineno + 1)}
        kept = [ln for i, ln in enumerate(reference.splitlines(), 1) if i not in gone and ln.strip()]
        assert [ln for ln in solution.replace("ModelNew", "Model").splitlines() if ln.strip()] == kept
        tree = ast.parse(solution)
        assert not {"get_inputs", "get_init_inputs"} & {n.name for n in tree.body if hasattr(n, "name")}
        assert any(isinstance(n, ast.ClassDef) and n.name == "ModelNew" for n in tree.body)
        assert not any(isinstance(n, ast.Name) and n.id == "Model" for n in ast.walk(tree))
        for shape in shapes(folder)["cpu"]:
            model, new, inputs = build(folder, shape)
            with torch.no_grad():
                assert torch.equal(model(*inputs), new(*inputs)), (name, shape)
    layernorm = (out / GOOD["40_LayerNorm.py"] / "solution.py").read_text()
    assert "super(ModelNew, self).__init__()" in layernorm and "isinstance(self, ModelNew)" in layernorm
    assert "class MyModelHelper(" in layernorm and "MyModelHelper()" in layernorm
    assert 'self.label = "Model"' in layernorm


# ---------------------------------------------------------------- shapes


def test_shrink_brings_a_4096_matmul_under_100_ms_and_keeps_the_gpu_sizes(shrunk):
    import torch

    _, out = shrunk
    folder = out / GOOD["1_Square_matrix_multiplication_.py"]
    s = shapes(folder)
    first, second = s["cpu"]
    assert s["gpu"][0] == {"M": 4096, "N": 4096, "K": 4096}
    assert s["gpu"][1] != s["gpu"][0] and all(v < 4096 for v in s["gpu"][1].values())
    assert first["M"] == first["N"] == first["K"] < 4096  # equal values stay equal
    assert second != first and all(v % 2 == 1 for v in second.values())
    torch.set_num_threads(2)
    model, _, inputs = build(folder, first)
    with torch.no_grad():
        model(*inputs)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            model(*inputs)
            times.append((time.perf_counter() - t0) * 1000)
    print(f"matmul at {first}: {min(times):.1f} ms")
    assert min(times) < 100


def test_shrink_keeps_structural_constants_and_sizes_written_out_as_literals(shrunk):
    _, out = shrunk
    conv = shapes(out / GOOD["63_conv_standard_2D.py"])
    structural = {"in_channels": 32, "out_channels": 64, "kernel_size": 3, "stride": 2, "padding": 1,
                  "dilation": 1, "groups": 4, "batch_size": 16}  # fmt: skip
    for shape in conv["cpu"] + conv["gpu"]:
        assert {k: shape[k] for k in structural} == structural
    assert conv["gpu"][0]["width"] == 256 and conv["cpu"][0]["width"] < 256
    assert conv["cpu"][1]["width"] != conv["cpu"][0]["width"]

    gemm = shapes(out / GOOD["76_Gemm_constant_init.py"])  # get_init_inputs returns [1024, 512, 0.5]
    for shape in gemm["cpu"] + gemm["gpu"]:
        assert shape["in_features"] == 1024 and shape["out_features"] == 512
    assert gemm["cpu"][0]["batch_size"] < 8192 and gemm["gpu"][0]["batch_size"] == 8192

    relu = shapes(out / GOOD["19_ReLU.py"])  # fast already: never grown, batch_size 16 kept
    assert relu["cpu"][0] == relu["gpu"][0] == {"batch_size": 16, "dim": 16384}


# ---------------------------------------------------------------- the API


def test_without_shrink_the_own_sizes_and_no_overwrite_without_force(tmp_path):
    file = PROBLEMS / "19_ReLU.py"
    result = import_kernelbench(file, tmp_path)
    folder = tmp_path / "kb-19_relu"
    assert result.ok and result.written == [folder]
    assert shapes(folder) == {
        "cpu": [{"batch_size": 16, "dim": 16384}],
        "gpu": [{"batch_size": 16, "dim": 16384}],
    }
    assert result.tasks[0].cpu_ms > 0

    (folder / "mine.txt").write_text("keep me")
    again = import_kernelbench(file, tmp_path)
    assert not again.ok and again.written == []
    [(failed, reason)] = again.failed
    assert failed == file and "exists" in reason and "--force" in reason
    assert (folder / "mine.txt").read_text() == "keep me"

    forced = import_kernelbench(file, tmp_path, force=True)
    assert forced.ok and forced.written == [folder] and not (folder / "mine.txt").exists()
    load_task(folder)
    assert [p.name for p in tmp_path.iterdir()] == ["kb-19_relu"]


def test_a_problem_that_hangs_or_crashes_its_process_is_reported(tmp_path):
    problems = tmp_path / "problems"
    problems.mkdir()
    (problems / "a_hang.py").write_text(
        "import time\nclass Model: pass\ntime.sleep(600)\n"
        "def get_inputs(): return []\ndef get_init_inputs(): return []\n"
    )
    (problems / "b_crash.py").write_text(
        "import os\nclass Model: pass\nos.abort()\n"
        "def get_inputs(): return []\ndef get_init_inputs(): return []\n"
    )
    t0 = time.perf_counter()
    result = import_kernelbench(problems, tmp_path / "out", timeout=8)
    assert time.perf_counter() - t0 < 30
    reasons = dict(result.failed)
    assert "timed out after 8 s" in reasons[problems / "a_hang.py"]
    assert "crashed" in reasons[problems / "b_crash.py"] and "SIGABRT" in reasons[problems / "b_crash.py"]
    assert result.written == [] and not any((tmp_path / "out").glob("*"))
    with pytest.raises(RecursorError, match="no problem file"):
        import_kernelbench(tmp_path / "nowhere", tmp_path / "out")


# ---------------------------------------------------------------- reading the source


def test_task_names():
    assert task_name("19_ReLU.py") == "kb-19_relu"
    assert task_name("level1/1_Square matrix (x2).py") == "kb-1_square-matrix-x2"
    assert task_name("__.py") == "kb-__"


def test_size_constants_are_int_constant_expressions_evaluated_safely():
    tree = ast.parse(
        "import torch\n"
        "M = 1024 * 4\nN = M\nK = 2 ** 12 // 2\nbatch_size: int = 16\na, b = 3, -4 + 1\n"
        "eps = 1e-5\nflag = True\nname = 'x'\nc = torch.cuda.device_count()\nhuge = 10 ** 100000\n"
        "d = 5\nd = len('abc')\nx = 2.0 * 3\n"
    )
    assert size_constants(tree) == {"M": 4096, "N": 4096, "K": 2048, "batch_size": 16, "a": 3, "b": -3}


def test_rename_model_renames_the_name_not_the_text():
    source = (
        "import torch\n"
        "# Model in a comment\n"
        "class MyModel(torch.nn.Module):\n    pass\n\n"
        "@decorate\n"
        "class  Model(MyModel):\n"
        '    """The Model."""\n'
        "    def __init__(self):\n"
        '        s = "é"; super(Model, self).__init__(); self.x = other.Model\n'
        "    def clone(self) -> 'Model':\n"
        "        return Model() if isinstance(self, Model) else ModelX\n"
    )
    renamed = rename_model(source)
    assert renamed == (
        source.replace("class  Model(", "class  ModelNew(")
        .replace("super(Model,", "super(ModelNew,")
        .replace("return Model()", "return ModelNew()")
        .replace("isinstance(self, Model)", "isinstance(self, ModelNew)")
    )
    with pytest.raises(ValueError, match="already uses the name ModelNew"):
        rename_model("class Model: pass\nclass ModelNew: pass\n")
    with pytest.raises(ValueError, match="defines no class Model"):
        rename_model("from elsewhere import Model\n")


def test_the_input_makers_leave_the_solution_only_when_nothing_in_it_calls_them():
    source = (
        "import torch\n\nN = 4\n\n\nclass ModelNew(torch.nn.Module):\n    pass\n\n\n"
        "@cache\ndef get_inputs():\n    return [torch.rand(N)]\n\n\n"
        "def get_init_inputs():\n    return []\n\n\ndef helper():\n    return 1\n"
    )
    dropped = drop_functions(source, ("get_inputs", "get_init_inputs"))
    assert dropped == ("import torch\n\nN = 4\n\n\nclass ModelNew(torch.nn.Module):\n    pass\n\n\n"
                       "def helper():\n    return 1\n")
    calls = source.replace("    pass\n", "    x = get_inputs()\n")
    assert drop_functions(calls, ("get_inputs", "get_init_inputs")) == calls
