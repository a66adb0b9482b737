"""The importer's checking process: import one KernelBench problem in a fresh interpreter, run
it at its own sizes, check the baseline solution against it, and (with --shrink) search the
size constants for a CPU call of tens of milliseconds. Started by `importer._check` with a job
file; it answers in a file, so a problem that hangs or crashes takes only this process down."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class _Skip(Exception):
    """A problem file that cannot be imported; the message is the one-line reason."""



# the shrink search
TARGET_MS, LOW_MS, HIGH_MS = 20.0, 10.0, 50.0
START_BYTES = 4 << 20  # the meta phase aims here; timing then grows or shrinks it
MAX_BYTES = 256 << 20  # real calls never go above this (inputs + outputs + parameters)
FLOOR = 16  # shrinkable constants are > FLOOR and never go below it
STRUCTURAL = re.compile(
    r"kernel|stride|pad|dilation|group|head|channel|layer|window|pool|factor", re.IGNORECASE
)

# ---------------------------------------------------------------- the subprocess


class _RunError(Exception):
    """The reference failed at a shape: which step, and the error in one line."""


def _worker_main(job_file: str, answer_file: str) -> None:
    """Entry of the checking process: read the job, write the answer (see `_check`)."""
    job = json.loads(Path(job_file).read_text())
    try:
        answer = _Worker(job).run()
    except _Skip as err:
        answer = {"ok": False, "reason": str(err)}
    Path(answer_file).write_text(json.dumps(answer))


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    msg = f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")
    if msg.endswith(".") and not msg.endswith(".."):
        msg = msg[:-1]
    return msg if len(msg) <= 200 else msg[:197] + "..."


def _fmt(shape: dict[str, int]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in shape.items()) + "}"


class _Worker:
    def __init__(self, job: dict[str, Any]):
        import torch

        self.torch = torch
        torch.set_num_threads(job["threads"])
        self.job = job
        self.original: dict[str, int] = job["constants"]
        self.eligible: list[str] = job["eligible"]
        self.notes: list[str] = []
        self.ref = self._load_reference(job["file"])
        self.sol = self._load_solution(job["solution"])
        self._meta_cache: dict[str, int | None] = {}
        self.meta_errors: dict[str, str] = {}  # shape -> the one-line error on the meta device

    # -- loading

    def _load_reference(self, file: str):
        import importlib.util

        spec = importlib.util.spec_from_file_location("reference", file)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["reference"] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException as err:  # noqa: BLE001 - SystemExit too: it is the file's fault
            raise _Skip(f"importing it failed: {_one_line(err)}") from None
        if not isinstance(getattr(mod, "Model", None), type):
            raise _Skip("it defines no class Model")
        for fn in ("get_inputs", "get_init_inputs"):
            if not callable(getattr(mod, fn, None)):
                raise _Skip(f"it defines no function {fn}()")
        return mod

    def _load_solution(self, source: str):
        import types

        mod = types.ModuleType("solution")
        mod.__file__ = "solution.py"
        sys.modules["solution"] = mod
        try:
            exec(compile(source, "solution.py", "exec"), mod.__dict__)
        except BaseException as err:  # noqa: BLE001
            raise _Skip(f"solution.py (Model renamed ModelNew) failed to import: {_one_line(err)}") from None
        if not isinstance(getattr(mod, "ModelNew", None), type):
            raise _Skip("solution.py (Model renamed ModelNew) defines no class ModelNew")
        return mod

    # -- running the reference

    def _build(self, mod, cls: str, shape: dict[str, int], meta: bool = False, seed: int = 0):
        torch = self.torch
        for m in (self.ref, self.sol):
            for k, v in shape.items():
                setattr(m, k, v)
        torch.manual_seed(seed)
        try:  # the inputs are always the reference's: solution.py need not define them
            init = self.ref.get_init_inputs()
        except Exception as err:
            raise _RunError(f"get_init_inputs() failed: {_one_line(err)}") from None
        torch.manual_seed(seed + 1)
        try:
            model = getattr(mod, cls)(*init)
        except Exception as err:
            raise _RunError(f"{cls}(*get_init_inputs()) failed: {_one_line(err)}") from None
        torch.manual_seed(seed + 2)
        try:
            inputs = self.ref.get_inputs()
        except Exception as err:
            raise _RunError(f"get_inputs() failed: {_one_line(err)}") from None
        return model, list(inputs)

    def _forward(self, model, inputs, cls: str = "Model"):
        try:
            with self.torch.no_grad():
                return model(*inputs)
        except Exception as err:
            raise _RunError(f"{cls}.forward(*get_inputs()) failed: {_one_line(err)}") from None

    def meta_bytes(self, shape: dict[str, int]) -> int | None:
        """Bytes of inputs, outputs and parameters at `shape`, on the meta device; None if
        the problem does not run there (an op without meta support, or a shape it refuses)."""
        key = json.dumps(shape)
        if key not in self._meta_cache:
            try:
                with self.torch.device("meta"):
                    model, inputs = self._build(self.ref, "Model", shape)
                    out = self._forward(model, inputs)
                tensors = [*_tensors(inputs), *_tensors(out)]
                if isinstance(model, self.torch.nn.Module):
                    tensors += [*model.parameters(), *model.buffers()]
                self._meta_cache[key] = sum(t.numel() * t.element_size() for t in tensors)
            except Exception as err:
                self._meta_cache[key] = None
                self.meta_errors[key] = str(err)
        return self._meta_cache[key]

    def meta_unsupported(self, shape: dict[str, int]) -> bool:
        """Whether the reference failed on the meta device for want of meta support (an op
        without a meta kernel, a value read from a tensor) rather than for a real error."""
        why = self.meta_errors.get(json.dumps(shape), "")
        return "meta" in why.lower() or "NotImplementedError" in why

    def time_real(self, shape: dict[str, int]) -> float:
        """Build the reference at `shape`, run it once, then time it: the fastest of up to 5
        calls (of one, if that takes over 250 ms), the least disturbed by other processes."""
        import time

        model, inputs = self._build(self.ref, "Model", shape)
        self._forward(model, inputs)
        times: list[float] = []
        with self.torch.no_grad():
            while len(times) < 5 and sum(times) < 250:
                t0 = time.perf_counter()
                model(*inputs)
                times.append((time.perf_counter() - t0) * 1000)
        return min(times)

    def runs(self, shape: dict[str, int]) -> str | None:
        """None if the reference builds and runs at `shape` on the CPU, else why not."""
        try:
            model, inputs = self._build(self.ref, "Model", shape)
            self._forward(model, inputs)
        except _RunError as err:
            return str(err)
        return None

    # -- shapes

    def shape_at(self, f: float, coarse: bool = False) -> dict[str, int]:
        shape = dict(self.original)
        for k in self.eligible:
            s = self.original[k]
            g = min(64 if coarse else 8, s & -s)
            v = max(min(s, FLOOR), g * round(s * f / g))
            v = min(s, -(-v // g) * g)
            shape[k] = v
        return shape

    def second(self, base: dict[str, int]) -> list[dict[str, int]]:
        """Candidate second shapes near `base`: odd sizes, then multiples of the power of two."""
        odd = {k: max(1, v * 3 // 4 + 1) if k in self.eligible else v for k, v in base.items()}
        even = dict(base)
        for k in self.eligible:
            v = base[k]
            g = min(8, v & -v) if v > 0 else 1
            even[k] = max(g, (v * 3 // 4) // g * g)
        return [s for i, s in enumerate([odd, even]) if s != base and s not in [odd, even][:i]]

    # -- the job

    def run(self) -> dict[str, Any]:
        if not self.job["shrink"]:
            try:
                ms = self.time_real(self.original)
            except _RunError as err:
                raise _Skip(f"{err} at its own sizes {_fmt(self.original)}") from None
            cpu, gpu = [self.original], [self.original]
        else:
            first, ms = self.search()
            cpu = [first, *self.second_shape(first, real=True)]
            gpu = [self.original, *self.second_shape(self.original, real=False)]
        self.compare(cpu[0])
        return {"ok": True, "cpu": cpu, "gpu": gpu, "ms": ms, "notes": self.notes}

    def second_shape(self, base: dict[str, int], real: bool) -> list[dict[str, int]]:
        if real:
            why = ""
            for cand in self.second(base):
                why = self.runs(cand)
                if why is None:
                    return [cand]
            if why:
                self.notes.append(f"no second CPU shape: {why}")
            return []
        if self.meta_bytes(self.original) is None:
            if self.second(base):
                self.notes.append(
                    "no second GPU shape: the reference does not run on the meta "
                    "device, so it could not be checked without the memory"
                )
            return []
        for cand in self.second(base):
            if self.meta_bytes(cand) is not None:
                return [cand]
        return []

    def search(self) -> tuple[dict[str, int], float]:
        """The shrunk shape whose eager call takes 10-50 ms (see the module's doc), and its ms."""
        self.pin()
        if not self.eligible:
            return self.original, self._time_or_skip(self.original)
        f, d_guess = self.meta_start()
        coarse, failures, last_error = False, 0, ""
        history: list[tuple[float, float, dict[str, int]]] = []
        for _ in range(10):
            shape = self.shape_at(f, coarse)
            try:
                ms = self.time_real(shape)
            except _RunError as err:
                last_error = f"{err} at {_fmt(shape)}"
                if not coarse and self.shape_at(f, True) != shape:
                    coarse = True
                    continue
                failures += 1
                if failures >= 3 or f >= 1:
                    break
                f = min(1.0, math.sqrt(f))
                continue
            history.append((f, ms, shape))
            if LOW_MS <= ms <= HIGH_MS or (ms < LOW_MS and f >= 1):
                break
            d = d_guess
            pts = [(a, b) for a, b, _ in history[-2:]]
            if len(pts) == 2 and pts[0][0] != pts[1][0] and pts[0][1] > 0 and pts[1][1] > 0:
                d = math.log(pts[1][1] / pts[0][1]) / math.log(pts[1][0] / pts[0][0])
                d = min(6.0, max(1.0, d))
            f_new = min(1.0, f * (TARGET_MS / max(ms, 1e-3)) ** (1 / d))
            while f_new > f and (self.meta_bytes(self.shape_at(f_new, coarse)) or 0) > MAX_BYTES:
                f_new = (f + f_new) / 2
                if f_new - f < 1e-3 * f:
                    f_new = f
            if self.shape_at(f_new, coarse) == shape:
                break  # the sizes cannot move any further (floors, rounding, the cap)
            f = f_new
        if not history:
            self.notes.append(f"not shrunk: {last_error}")
            return self.original, self._time_or_skip(self.original)
        inside = [h for h in history if LOW_MS <= h[1] <= HIGH_MS]
        f, ms, shape = min(inside or history, key=lambda h: abs(math.log(max(h[1], 1e-3) / TARGET_MS)))
        return shape, ms

    def _time_or_skip(self, shape: dict[str, int]) -> float:
        try:
            return self.time_real(shape)
        except _RunError as err:
            raise _Skip(f"{err} at {_fmt(shape)}") from None

    def pin(self) -> None:
        """Keep the constants that the reference refuses to see shrunk alone (a size written
        out again as a literal in get_init_inputs) or that change no size: each group of equal
        values is halved on the meta device while the others keep their values."""
        base = self.meta_bytes(self.original)
        if base is None:
            return
        half = self.shape_at(0.5)
        groups: dict[int, list[str]] = {}
        for k in self.eligible:
            groups.setdefault(self.original[k], []).append(k)
        for group in groups.values():
            b = self.meta_bytes({**self.original, **{k: half[k] for k in group}})
            if b is None or b == base:
                self.eligible = [k for k in self.eligible if k not in group]
                why = "shrinking it alone breaks the reference" if b is None else "it changes no size"
                self.notes.append(f"kept {', '.join(group)}: {why}")

    def meta_start(self) -> tuple[float, float]:
        """The factor whose shape holds about START_BYTES, found on the meta device, and the
        exponent of bytes in the factor (a first guess of the time's)."""
        b1 = self.meta_bytes(self.original)
        if b1 is None and not self.meta_unsupported(self.original):
            why = self.meta_errors[json.dumps(self.original)]
            raise _Skip(f"{why} at its own sizes {_fmt(self.original)} (run on the meta device)")
        if b1 is None:
            self.notes.append("the reference does not run on the meta device; shrunk by timing only")
            return 1 / 16, 2.0
        if b1 <= START_BYTES:
            return 1.0, 2.0
        f, b, d = 1.0, b1, 2.0
        for _ in range(8):
            f_new = f * (START_BYTES / b) ** (1 / d)
            b_new = self.meta_bytes(self.shape_at(f_new))
            if b_new is None or self.shape_at(f_new) == self.shape_at(f):
                break
            if b_new != b:
                d = min(6.0, max(0.5, math.log(b_new / b) / math.log(f_new / f)))
            f, b = f_new, b_new
            if START_BYTES / 2 <= b <= START_BYTES * 2:
                break
        return f, max(1.0, d)

    def compare(self, shape: dict[str, int]) -> None:
        """Note it when solution.py's ModelNew does not reproduce Model's output (randomness)."""
        try:
            model, inputs = self._build(self.ref, "Model", shape, seed=7)
            expected = self._forward(model, _clone(inputs))
            try:
                new, _ = self._build(self.sol, "ModelNew", shape, seed=7)
                got = self._forward(new, _clone(inputs), "ModelNew")
            except _RunError as err:
                raise _Skip(f"solution.py (Model renamed ModelNew): {err}") from None
        except _RunError as err:
            raise _Skip(f"{err} at {_fmt(shape)}") from None
        if not _same(self.torch, expected, got):
            self.notes.append(
                "ModelNew (the baseline) does not reproduce Model's output exactly "
                "on the same inputs and seed: is the reference random?"
            )


def _tensors(obj: Any) -> Iterable[Any]:
    import torch

    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, list | tuple):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


def _clone(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.clone()
    if isinstance(obj, list | tuple):
        return type(obj)(_clone(o) for o in obj)
    return obj


def _same(torch, a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and a.dtype == b.dtype
        ):
            return False
        if a.is_floating_point() or a.is_complex():
            return bool(torch.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True))
        return bool(torch.equal(a, b))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(torch, x, y) for x, y in zip(a, b, strict=True))
    return a == b
