"""A report made under a weaker sandbox than bwrap says so before anything else."""

from __future__ import annotations

import pytest

from recursor.report.render import headline, markdown_report, sandbox_warning

pytestmark = pytest.mark.slow


def test_a_run_under_a_weaker_sandbox_opens_its_report_with_the_warning(small_run):
    report = small_run.report()
    kind = report["sandbox"]["kind"]
    assert (headline(report)[0].startswith("WEAKER SANDBOX")) == (kind != "bwrap")
    report["sandbox"] = {"kind": "unshare", "describe": "unshare: no network; the file system "
                         "is NOT isolated"}
    first = headline(report)[0]
    assert first.startswith("WEAKER SANDBOX (unshare)") and "NOT isolated" in first
    assert markdown_report(report).splitlines()[2].startswith("- WEAKER SANDBOX (unshare)")


def test_bwrap_needs_no_warning():
    assert sandbox_warning({"kind": "bwrap", "describe": "bwrap: ..."}) is None
    assert sandbox_warning(None) is None
    assert "none" in sandbox_warning({"kind": "none", "describe": "none: NOT isolated"})
