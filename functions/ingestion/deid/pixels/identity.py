"""Does a piece of recognized text spell one of the patient's identifying values?

OCR confuses look-alike glyphs (0/O, 1/I/L, 5/S, 8/B) and drops separators, so both sides
are folded to one alphabet without punctuation before a substring test.
"""

from __future__ import annotations

import re

_FOLD = str.maketrans(
    {"0": "O", "Q": "O", "1": "I", "L": "I", "|": "I", "5": "S", "8": "B", "2": "Z", "6": "G"}
)
_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")
_MIN_LENGTH = 3


def fold(text: str) -> str:
    return _NOT_ALNUM.sub("", text.upper()).translate(_FOLD)


def identity_terms(values: dict[str, str]) -> dict[str, list[str]]:
    """Folded terms of each identifying attribute (keyword → terms), short ones dropped."""
    terms: dict[str, list[str]] = {}
    for keyword, value in values.items():
        parts = [fold(p) for p in re.split(r"[\\^=\s,]+", value)]
        whole = fold(value)
        found = {p for p in [*parts, whole] if len(p) >= _MIN_LENGTH}
        if found:
            terms[keyword] = sorted(found)
    return terms


def matching_keyword(text: str, terms: dict[str, list[str]]) -> str | None:
    """The keyword of the first identifying attribute spelled in ``text``, else None."""
    folded = fold(text)
    for keyword, candidates in terms.items():
        if any(term in folded for term in candidates):
            return keyword
    return None
