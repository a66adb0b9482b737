"""The runner's checks (recursor.task.kernel.guards) on their own, in this process, in a few
milliseconds each: what they must catch and what an honest kernel does that they must not
mistake for it. The same checks run through the real harness in test_kernel_cheats.py."""

from __future__ import annotations

import ctypes
import mmap
import os
import types

import pytest
import torch

from recursor.task.kernel import guards
from recursor.task.kernel.harness import Listener


@pytest.fixture
def reference():
    module = types.ModuleType("_reference")

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(8))

        def forward(self, x):
            return torch.softmax(x * self.scale, dim=-1)

    module.Model = Model
    module.n = 4
    module.get_inputs = lambda: [torch.rand(module.n, 8)]
    module.get_init_inputs = lambda: []
    return module


def watched(reference):
    sent = []
    watch = guards.Watch(lambda **r: sent.append(r), reference, runner=types.ModuleType("r"))
    return watch, sent


@pytest.mark.slow
def test_an_honest_call_and_torch_compile_change_nothing_the_watch_sees(reference):
    watch, sent = watched(reference)
    model = reference.Model()
    watch.add_model("m", model)
    compiled = torch.compile(reference.Model())
    with torch.no_grad():
        model(torch.randn(4, 8))
        compiled(torch.randn(4, 8))
        assert watch.check("after a call", grad=False), sent
    assert watch.check("outside no_grad"), sent


@pytest.mark.parametrize(("change", "undo", "check"), [
    (lambda m: torch.set_num_threads(1), lambda m, n: torch.set_num_threads(n),
     "kernel.global-state"),
    (lambda m: torch.set_flush_denormal(True), lambda m, n: torch.set_flush_denormal(False),
     "kernel.global-state"),
    (lambda m: torch.nn.modules.module.register_module_forward_pre_hook(lambda *a: None),
     lambda m, handle: handle.remove(), "kernel.global-state"),
    (lambda m: setattr(m, "forward", m.forward), lambda m, n: delattr(m, "forward"),
     "kernel.reference-changed"),
    (lambda m: m.register_forward_pre_hook(lambda *a: None), lambda m, handle: handle.remove(),
     "kernel.reference-changed"),
])
def test_a_change_the_reference_would_be_timed_under_is_reported(reference, change, undo, check):
    watch, sent = watched(reference)
    model = reference.Model()
    watch.add_model("m", model)
    threads = torch.get_num_threads()
    token = change(model)
    try:
        assert not watch.check("after a call")
    finally:
        undo(model, threads if token is None else token)
    assert [r["check"] for r in sent] == [check], sent
    assert watch.check("after it was undone")


def test_a_replacement_is_caught_wherever_it_says_it_was_written(reference):
    """A function's file name is whatever its compiler was told: one claiming to come from
    torch's own files is torch's only for the few names torch rewraps itself."""
    watch, sent = watched(reference)
    scope = {}
    exec(compile("def softmax(*a, **k):\n    return None\n",  # noqa: S102 - the attack itself
                 os.path.join(guards.TORCH_DIR, "functional.py"), "exec"), scope)
    real = torch.softmax
    torch.softmax = scope["softmax"]
    try:
        assert not watch.check("after import")
    finally:
        torch.softmax = real
    assert sent[0]["check"] == "kernel.reference-changed" and "torch.softmax" in sent[0]["message"]


def test_the_runners_own_names_are_watched(reference):
    runner = types.ModuleType("r")
    runner.CLOCK = lambda: 0
    watch = guards.Watch(lambda **r: sent.append(r), reference, runner=runner)
    sent = []
    runner.CLOCK = lambda: 1
    assert not watch.check("after import")
    assert sent[0]["check"] == "kernel.runner-changed" and "runner.CLOCK" in sent[0]["message"]


def test_output_memory_must_be_readable_and_resident():
    honest = torch.softmax(torch.randn(64, 4096), dim=-1)
    assert guards.memory_problem([honest]) is None
    assert guards.memory_problem([honest[:, ::2], honest.t()]) is None
    libc = ctypes.CDLL(None)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = 64 << 12

    def tensor_at(address):  # a tensor over the memory, made without reading it
        return torch.frombuffer((ctypes.c_float * (size // 4)).from_address(address),
                                dtype=torch.float32)

    private = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    # mapped read-write but never written: no page is resident (a userfaultfd would fill them)
    untouched = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, private, -1, 0)
    # no access at all: what a SIGSEGV handler computes on the first read
    hidden = libc.mmap(None, size, 0, private, -1, 0)
    try:
        assert "never written" in guards.memory_problem([tensor_at(untouched)])
        assert "not readable and writable" in guards.memory_problem([tensor_at(hidden)])
    finally:
        libc.munmap(untouched, size)
        libc.munmap(hidden, size)


def test_lines_without_the_runners_secret_count_as_forged():
    r, w = os.pipe()
    listener = Listener(r, "s3cret")
    os.write(w, b'{"type": "timing-start", "secret": "s3cret"}\n'
                b'{"type": "timing", "candidate_ns": [1]}\n'          # no secret
                b'{"type": "timing-start", "secret": "s3cret"}\n'    # a second one
                b'{"type": "fin{"type": "done", "secret": "s3cret"}\n')  # a line broken into
    os.close(w)
    listener.join()
    assert [rec["type"] for rec in listener.records] == ["timing-start"]
    assert listener.forged == 3


def test_a_fast_math_library_leaves_denormals_as_they_were(tmp_path, monkeypatch):
    """gcc links -ffast-math shared libraries with crtfastmath.o, which sets flush-to-zero for
    the thread that loads them: ckernel puts it back, or every C kernel built with -ffast-math
    would change the reference's arithmetic (and trip kernel.global-state)."""
    from recursor.task.kernel import ckernel

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    assert torch.full((1,), 1e-40).item() != 0.0
    lib = ckernel.compile("void nothing(void) {}", {"nothing": "void()"},
                          extra_flags=("-ffast-math",))
    lib.nothing()
    assert torch.full((1,), 1e-40).item() != 0.0
