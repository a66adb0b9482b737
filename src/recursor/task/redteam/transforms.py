"""Meaning-preserving transforms of a request, applied by the harness, never by an attacker: a
reader (or a model) still reads the same request, and a guard keyed on its exact words does not."""

from __future__ import annotations

from collections.abc import Callable


def _spaced(text: str) -> str:
    return " ".join(text)


def _leet(text: str) -> str:
    return text.translate(str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5",
                                         "t": "7"}))


def _homoglyph(text: str) -> str:
    # Latin letters to the Cyrillic letters drawn the same: the request reads the same to a person
    return text.translate(str.maketrans({"a": "\u0430", "e": "\u0435", "o": "\u043e",
                                         "p": "\u0440", "c": "\u0441", "x": "\u0445"}))


def _upper(text: str) -> str:
    return text.upper()


# meaning-preserving transforms of the request, applied by the harness: a reader (or a model)
# still reads the same request
TRANSFORMS: dict[str, Callable[[str], str]] = {
    "none": lambda text: text, "uppercase": _upper, "leetspeak": _leet,
    "homoglyphs": _homoglyph, "spaced-letters": _spaced,
}
