"""A program started by a harness dies with it, even when the harness dies while starting it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from recursor.harness import die_with

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux prctl only")


def test_a_program_whose_harness_died_while_starting_it_never_runs():
    # a harness killed between the fork and the death-signal set-up: the child's parent is then
    # no longer the harness (here: a pid that never was its parent), and it must not go on
    proc = subprocess.Popen(["sleep", "30"], preexec_fn=lambda: die_with(os.getpid() + 10**6))
    assert proc.wait(timeout=10) == 137


def test_a_program_whose_harness_lives_runs():
    parent = os.getpid()
    proc = subprocess.Popen([sys.executable, "-c", "print('ran')"], stdout=subprocess.PIPE,
                            text=True, preexec_fn=lambda: die_with(parent))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.strip() == "ran"
