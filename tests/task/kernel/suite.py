"""Helpers for the kernel suite's tests: load a kernel task's reference and a candidate's code in
this process (no harness, no sandbox), at one of the task's shapes."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path

import torch

from recursor import patch as patches
from recursor.task.folder import BUILTIN, load_task


def kernel_tasks():
    return [load_task(p.parent) for p in sorted((BUILTIN / "kernels").glob("*/task.toml"))]


def module_from(path: Path, source: str | None = None):
    """Import `path` (or `source` as if it were there) under a fresh module name."""
    name = f"_k{uuid.uuid4().hex}"
    if source is not None:
        path = path.with_name(f"{name}.py")
        path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def candidate_files(task, idea=None) -> dict[str, str]:
    files = task.program_files()
    return {**files, **patches.apply(idea.patch, files)} if idea is not None else files


def candidate_source(task, idea=None) -> str:
    return candidate_files(task, idea)["solution.py"]


def check(task, source: str, workdir: Path, shape_index: int = 0, device: str = "cpu", seed: int = 0,
          loosen: float = 1.0):
    """(max abs error, atol, rtol) of the candidate against the reference at one shape."""
    (workdir / "ckernel.py").write_text((task.root / "ckernel.py").read_text())
    sys.path.insert(0, str(workdir))
    try:
        reference = module_from(task.root / "reference.py")
        candidate = module_from(workdir / "solution.py", source)
        shapes = task.spec.settings["shapes"]["cpu" if device == "cpu" else "gpu"]
        for name, value in shapes[shape_index].items():
            setattr(reference, name, value)
        torch.manual_seed(seed)
        inputs = reference.get_inputs()
        inputs = [x.to(device) if isinstance(x, torch.Tensor) else x for x in inputs]
        init = reference.get_init_inputs()
        torch.manual_seed(seed + 1)
        ref = reference.Model(*init).to(device)
        torch.manual_seed(seed + 1)
        new = candidate.ModelNew(*init).to(device)
        with torch.no_grad():
            want = ref(*inputs)
            got = new(*inputs)
    finally:
        sys.path.remove(str(workdir))
    want = want if isinstance(want, (tuple, list)) else [want]
    got = got if isinstance(got, (tuple, list)) else [got]
    assert len(got) == len(want)
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        worst = max(worst, (g.double() - w.double()).abs().max().item() if w.numel() else 0.0)
        atol, rtol = task.spec.settings.get("tolerance", {}).get(
            str(w.dtype).removeprefix("torch."), (1e-4, 1e-4)
        )
        atol, rtol = atol * loosen, rtol * loosen
        if not torch.allclose(g, w, atol=atol, rtol=rtol):
            # the worst element, so a failure on a machine one cannot log into can be read
            excess = ((g.double() - w.double()).abs() - atol - rtol * w.double().abs()).flatten()
            at = int(excess.argmax())
            raise AssertionError(f"max abs error {worst:.3g}; worst beyond tolerance at flat index "
                                 f"{at}: got {g.flatten()[at].item()!r}, want {w.flatten()[at].item()!r}")
    return worst
