"""What the kernel runner checks around each of the candidate's calls (see `runner`): the runner's
second module, copied beside it into the sandbox, so torch and the standard library only.

- `draw_inputs`: one input set from the reference's `get_inputs()` under a seed; the harness
  draws the correctness sets with it and the runner every timed call's inputs, so the two come
  from one distribution and the candidate cannot tell them apart.
- `Watch`: after the candidate's import and after each of its calls, that what the timed
  reference depends on is as it was: torch's functions and the reference's module by identity,
  the reference model instances (their attributes, parameters and hooks), the runner's own
  functions and clock, and the process-wide settings (threads, grad mode, default dtype,
  denormals, global module hooks, torch function modes, tracing, the profiler). The reference is
  timed in this process right after the candidate: a setting the candidate leaves changed is
  a setting the reference is timed under.
- The outputs: plain dense tensors, in ordinary readable memory that is resident (nothing can
  be computed when the checker first reads it), not sharing memory with the inputs or any
  output the caller still holds.
"""

import ctypes
import os
import sys
import threading

import torch

TORCH_DIR = os.path.dirname(torch.__file__) + os.sep


def draw_inputs(reference, constants, seed, signed):
    """get_inputs() at `constants` under `seed`; floats drawn from [0, 1) get random signs."""
    for name, value in constants.items():
        setattr(reference, name, value)
    torch.manual_seed(seed)
    inputs = reference.get_inputs()
    if signed:
        g = torch.Generator().manual_seed(seed + 1)
        inputs = [x * (torch.randint(0, 2, x.shape, generator=g) * 2 - 1).to(x.dtype)
                  if isinstance(x, torch.Tensor) and x.is_floating_point() and x.numel()
                  and bool((x >= 0).all()) else x for x in inputs]
    return inputs


# ---------------------------------------------------------------- what the reference goes through

def fingerprint(reference):
    """What the reference's computation goes through, by identity: its own module and Model,
    torch's functions, nn.functional, Tensor's and Module's methods. A candidate that replaces
    one of them (to slow the reference down, or to see its answer) changes an identity."""
    spaces = {"reference": reference, "Model": reference.Model, "torch": torch,
              "torch.nn.functional": torch.nn.functional, "Tensor": torch.Tensor,
              "Module": torch.nn.Module}
    return {f"{space}.{n}": v for space, obj in spaces.items()
            for n, v in list(vars(obj).items()) if callable(v)}


# torch replaces these of its own when torch.compile first runs (its tracer wraps them)
TORCH_REWRAPS = frozenset({"torch.manual_seed", "Module.__init__", "Module.__setstate__"})


def changed_names(before, after, rewraps=TORCH_REWRAPS):
    """Names bound before whose object is now another or gone (additions are not changes). Of
    `rewraps`, a new object that is a Python function written in torch's own files is torch's
    doing, not the candidate's. Only of those: a function's file name is whatever its compiler
    was told, so any other replacement counts, wherever it says it comes from."""
    changed = []
    for k, v in before.items():
        new = after.get(k)
        if new is v:
            continue
        code = getattr(new, "__code__", None)
        if k in rewraps and code is not None and code.co_filename.startswith(TORCH_DIR):
            continue
        changed.append(k)
    return sorted(changed)


def namespace(**objects):
    """Every attribute of the runner's own modules, classes and objects, by identity: its
    clock, its checks, its report channel. Nothing of the runner is rebound while it runs."""
    return {f"{name}.{k}": v for name, obj in objects.items()
            for k, v in list(vars(obj).items()) if not k.startswith("__")}


def model_state(model):
    """A model instance as the reference runs it: each submodule's own attributes (an instance
    attribute `forward` would replace the class's), its parameters' and buffers' storage,
    layout and dtype, and its hooks."""
    state = {}
    for path, module in model.named_modules():
        for k, v in vars(module).items():
            if k in ("_parameters", "_buffers"):
                for name, t in v.items():
                    state[f"{path}.{k}.{name}"] = (None if t is None else (
                        id(t), t.data_ptr(), tuple(t.shape), t.stride(), t.dtype, t.device,
                        t.requires_grad))
            elif k == "_modules":
                state[f"{path}._modules"] = tuple((n, id(m)) for n, m in v.items())
            elif isinstance(v, dict):
                state[f"{path}.{k}"] = len(v)  # the hook dictionaries
            elif isinstance(v, (bool, int, float, str, type(None))):
                state[f"{path}.{k}"] = v
            else:
                state[f"{path}.{k}"] = id(v)
    return state


def _denormals_kept():
    return torch.full((1,), 1e-40).item() != 0.0  # set_flush_denormal(True) makes it 0


def _global_module_hooks():
    hooks = torch.nn.modules.module
    return tuple(len(v) for k, v in sorted(vars(hooks).items())
                 if k.startswith("_global_") and isinstance(v, dict))


def _profiler_on():
    enabled = getattr(getattr(torch._C, "_autograd", None), "_profiler_enabled", None)
    return bool(enabled()) if enabled else False


def _autocast():
    try:
        return (torch.is_autocast_enabled("cpu"), torch.is_autocast_enabled("cuda"))
    except TypeError:  # an older torch: no device argument
        return (torch.is_autocast_enabled(),)


SETTINGS = {
    "torch.get_num_threads()": torch.get_num_threads,
    "torch.get_num_interop_threads()": torch.get_num_interop_threads,
    "torch.is_grad_enabled()": torch.is_grad_enabled,
    "torch.is_inference_mode_enabled()": torch.is_inference_mode_enabled,
    "torch.get_default_dtype()": torch.get_default_dtype,
    "torch.are_deterministic_algorithms_enabled()": torch.are_deterministic_algorithms_enabled,
    "torch.get_float32_matmul_precision()": torch.get_float32_matmul_precision,
    "torch.backends.mkldnn.enabled": lambda: torch.backends.mkldnn.enabled,
    "torch.backends.cudnn.enabled": lambda: torch.backends.cudnn.enabled,
    "torch.backends.cudnn.benchmark": lambda: torch.backends.cudnn.benchmark,
    "torch.backends.cuda.matmul.allow_tf32": lambda: torch.backends.cuda.matmul.allow_tf32,
    "autocast": _autocast,
    "denormals kept (not flushed)": _denormals_kept,
    "torch function modes": torch._C._len_torch_function_stack,
    "torch dispatch modes": torch._C._len_torch_dispatch_stack,
    "global module hooks": _global_module_hooks,
    "the autograd profiler": _profiler_on,
    "sys.gettrace()": sys.gettrace,
    "sys.getprofile()": sys.getprofile,
    "threading.gettrace()": getattr(threading, "gettrace", lambda: None),
    "threading.getprofile()": getattr(threading, "getprofile", lambda: None),
    "sys.getswitchinterval()": sys.getswitchinterval,
    "this thread's CPU affinity": lambda: frozenset(os.sched_getaffinity(0)),
}


def environment():
    """The process-wide settings the reference's speed or result depends on (read through
    functions bound when this module was imported, before the candidate's)."""
    return {name: read() for name, read in SETTINGS.items()}


class Watch:
    """Everything the candidate must leave as it found it, checked after its import and after
    each of its calls; each kind of change is reported once, as a blocking finding."""

    def __init__(self, send, reference, **own):
        self.send, self.reference = send, reference
        self.torch_ids = fingerprint(reference)
        self.settings = environment()
        self.models = []  # (name, reference model, its state when built)
        self.reported = set()
        self.own = {**own, "guards": sys.modules[__name__], "Watch": Watch, "watch": self}
        self.own_ids = self._own()

    def _own(self):
        return {**namespace(**self.own), **{f"SETTINGS[{k!r}]": v for k, v in SETTINGS.items()}}

    def add_model(self, name, model):
        self.models.append((name, model, model_state(model)))

    def rebase_models(self):
        """The models as they are now: after the runner itself changed them (torch.compile
        marks the module it compiles), with no call of the candidate's since the last check."""
        self.models[:] = [(name, model, model_state(model)) for name, model, _ in self.models]

    def check(self, when, grad=None):
        """True if nothing changed; else the findings are sent. `grad`: the grad mode the
        runner itself is in here (its calls run under no_grad)."""
        ok = True
        changed = changed_names(self.torch_ids, fingerprint(self.reference))
        changed += [f"the reference model {name}: {k}" for name, model, state in self.models
                    for k in _differ(state, model_state(model))]
        if changed:
            ok = self._report("kernel.reference-changed", f"{when}, {_some(changed)} no longer "
                              "what the reference was built with: the candidate replaced "
                              "functions or attributes the reference runs through")
        changed = changed_names(self.own_ids, self._own(), rewraps=())
        if changed:
            ok = self._report("kernel.runner-changed", f"{when}, the runner's own {_some(changed)} "
                              "had been replaced: the clock or the checks are not the runner's")
        now, expected = environment(), dict(self.settings)
        if grad is not None:
            expected["torch.is_grad_enabled()"] = grad
        changed = [f"{k} from {expected.get(k)!r} to {now.get(k)!r}" for k in _differ(expected, now)]
        if changed:
            ok = self._report("kernel.global-state", f"{when}, the candidate had changed "
                              f"{_some(changed)}: the reference runs in this process after it, "
                              "and would be timed under the candidate's settings")
        return ok

    def _report(self, check, message):
        if check not in self.reported:
            self.reported.add(check)
            self.send(type="finding", check=check, message=message)
        return False


def _differ(before, after):
    """Keys whose value changed, went or came (an instance attribute that was not there)."""
    return [k for k in {**before, **after} if k not in before or k not in after
            or after[k] != before[k]]


def _some(names, n=5):
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


# ---------------------------------------------------------------- the outputs

def as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def plain(outputs):
    """Why an output is not a plain tensor (a subclass could defer its work past the clock)."""
    for i, t in enumerate(outputs):
        if type(t) is not torch.Tensor:
            return f"output {i} is a {type(t).__module__}.{type(t).__qualname__}, not a torch.Tensor"
        if t.layout is not torch.strided or t.is_meta:
            return f"output {i} is not a dense tensor ({t.layout}, meta={t.is_meta})"
        if t.is_conj() or t.is_neg():
            return f"output {i} carries a lazy conjugate or negation bit"
    return None


def _span(t):
    if t.numel() == 0:
        return None
    start = t.data_ptr()
    reach = sum((s - 1) * st for s, st in zip(t.shape, t.stride(), strict=True))
    return start, start + (max(0, reach) + 1) * t.element_size()


def overlaps(t, others):
    """Whether `t`'s memory overlaps any tensor of `others` (views of a storage included)."""
    a = _span(t)
    if a is None:
        return False
    for o in others:
        b = _span(o) if isinstance(o, torch.Tensor) else None
        if b is not None and a[0] < b[1] and b[0] < a[1]:
            return True
    return False


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
    _MINCORE = _LIBC.mincore
    _MINCORE.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
except (OSError, AttributeError):  # not Linux: the check below only reads the mappings
    _MINCORE = None


def _mappings():
    try:
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    maps = []
    for line in lines:
        span, perms = line.split()[:2]
        lo, hi = span.split("-")
        maps.append((int(lo, 16), int(hi, 16), perms))
    return maps


def memory_problem(outputs):
    """Why an output's memory is not ordinary memory holding its values now: each page must be
    mapped readable and writable and be resident. Memory mapped without access (a fault handler
    computes the values when someone first reads them) or never touched (a userfaultfd handler
    fills it in) would let the work happen after the clock stopped, in the checker's read.
    Read without touching the output: /proc/self/maps and mincore(2)."""
    cpu = [(i, _span(t)) for i, t in enumerate(outputs) if t.device.type == "cpu"]
    cpu = [(i, s) for i, s in cpu if s is not None]
    if not cpu:
        return None
    maps = _mappings()
    if maps is None:
        return None
    for i, (lo, hi) in cpu:
        at = lo
        for m_lo, m_hi, perms in maps:
            if m_hi <= at or m_lo > at:
                continue
            if not perms.startswith("rw"):
                return (f"output {i} lies in memory mapped {perms!r} (not readable and writable): "
                        "its values are not there when the call returns")
            at = m_hi
            if at >= hi:
                break
        if at < hi:
            return f"output {i} lies (in part) outside any mapping of the process"
        if _MINCORE is not None:
            start = lo - lo % PAGE
            vec = (ctypes.c_ubyte * ((hi - start + PAGE - 1) // PAGE))()
            if _MINCORE(start, hi - start, vec) != 0:
                continue
            pages = _pages(outputs[i], start)
            missing = sum(1 for p in pages if not vec[p] & 1)
            if missing:
                return (f"{missing} of the {len(pages)} pages of output {i} were never written "
                        "(not resident): its values are not there when the call returns")
    return None


def _pages(t, start):
    """The pages (counted from `start`) that hold an element of `t`: all of its span when it
    is dense; where it has gaps (a padded layout), only those its elements are in, since an
    honest kernel never touches the padding."""
    lo, hi = _span(t)
    if hi - lo == t.numel() * t.element_size():
        return range((lo - start) // PAGE, (hi - 1 - start) // PAGE + 1)
    offsets = torch.zeros((), dtype=torch.int64)
    for size, stride in zip(t.shape, t.stride(), strict=True):
        offsets = (offsets.unsqueeze(-1) + torch.arange(size) * stride).reshape(-1)
    return ((offsets * t.element_size() + (lo - start)) // PAGE).unique().tolist()


def poison(shapes, device):
    """Fill memory of the outputs' sizes with NaN (or -1) and free it, so that memory the
    candidate allocates without writing holds poison, not an answer left behind."""
    bufs = []
    for shape, dtype in shapes:
        dtype = getattr(torch, dtype)
        t = torch.empty(shape, dtype=dtype, device=device)
        t.fill_(float("nan") if dtype.is_floating_point else -1)
        bufs.append(t)
    del bufs


def clone_inputs(inputs):
    return [x.clone() if isinstance(x, torch.Tensor) else x for x in inputs]


def same_inputs(inputs, copies):
    return all(same(x, c) for x, c in zip(inputs, copies, strict=True)
               if isinstance(x, torch.Tensor))


def same(x, c):
    """Bit for bit, NaNs in the same places."""
    return bool(torch.equal(x, c) or (x.is_floating_point() and torch.equal(x.isnan(), c.isnan())
                                      and torch.equal(x.nan_to_num(), c.nan_to_num())))


def close(a, b, tolerance):
    """(ok, max abs error) of `a` against the reference `b` with (atol, rtol) per dtype."""
    if a.shape != b.shape:
        return False, float("inf")
    if a.dtype != b.dtype:
        return False, float("inf")
    if not a.is_floating_point():
        return bool(torch.equal(a, b)), 0.0
    atol, rtol = tolerance.get(str(b.dtype).removeprefix("torch."), (1e-4, 1e-4))
    ok = torch.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True)
    err = (a.double() - b.double()).abs().nan_to_num(float("inf")).max().item() if a.numel() else 0.0
    return bool(ok), err
