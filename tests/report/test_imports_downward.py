"""The report modules, the run read model and reproduce import without the API: the API imports
them, so an import of the API from any of them would be a cycle again."""

from __future__ import annotations

import subprocess
import sys

import pytest

BELOW_THE_API = ["recursor.report.run", "recursor.report.html", "recursor.report.export",
                 "recursor.report.mlflow_log", "recursor.report.detail", "recursor.report.plots",
                 "recursor.loop.reproduce", "recursor.loop.trial", "recursor.value.history"]


@pytest.mark.parametrize("module", BELOW_THE_API)
def test_a_module_below_the_api_does_not_import_it(module):
    code = (f"import sys, {module}; "
            "assert 'recursor.api' not in sys.modules, 'recursor.api was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_api_still_offers_the_moved_names():
    import recursor
    from recursor.loop.trial import try_patches
    from recursor.report.run import Run, open_run

    assert recursor.Run is Run and recursor.open_run is open_run
    assert recursor.try_patches is try_patches
