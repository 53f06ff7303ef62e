"""Fail-closed check: no identifying value of the input may appear anywhere in the output.

While the engine walks the input it records the values it removes or replaces (names, IDs,
dates, free text, instance UIDs) as byte needles. After writing, the whole serialized output
header (every element, every nesting depth, file meta included; pixel bytes excluded) is
searched for every needle. Searching the serialized bytes rather than walking the dataset
means nothing can hide in a place the walker did not think of.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class NeedleKind(StrEnum):
    NAME = "name"
    IDENTIFIER = "identifier"
    DATE = "date"
    TEXT = "text"
    UID = "uid"


_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_UID_CHARS = frozenset(b"0123456789.")
_DIGITS = frozenset(b"0123456789")

MIN_NAME_PART = 3
MIN_IDENTIFIER = 3
MIN_TEXT = 6
MAX_NEEDLE = 1024


@dataclass(frozen=True, slots=True)
class LeakHit:
    """Where a leak came from (attribute keyword) and what kind of value it was; no value."""

    kind: NeedleKind
    source: str


@dataclass(slots=True)
class NeedleSet:
    """Identifying values of one input, ready to be searched for in the output bytes."""

    needles: dict[bytes, tuple[NeedleKind, str]] = field(default_factory=dict)
    ignore: set[bytes] = field(default_factory=set)
    _seen: set[tuple[bytes, NeedleKind]] = field(default_factory=set)

    def _put(self, needle: bytes, kind: NeedleKind, source: str) -> None:
        if needle and needle not in self.needles:
            self.needles[needle] = (kind, source)

    def add_text(self, raw: bytes, kind: NeedleKind, source: str) -> None:
        """Record a string value (multi-valued, PN groups) under the rules of its kind."""
        if not raw or (raw, kind) in self._seen:
            return  # the same value removed from several attributes: one needle is enough
        self._seen.add((raw, kind))
        for item in raw.split(b"\\") if b"\\" in raw else (raw,):
            value = item.strip(b" \x00")
            if not value or len(value) > MAX_NEEDLE:
                continue
            if kind is NeedleKind.NAME:
                self._add_name(value, source)
            elif kind is NeedleKind.DATE:
                if len(value) >= 8 and value[:8].isdigit():
                    self._put(value[:8], kind, source)
            elif kind is NeedleKind.UID:
                if len(value) >= 5:
                    self._put(value, kind, source)
            elif kind is NeedleKind.IDENTIFIER:
                if len(value) >= MIN_IDENTIFIER and any(c in _ALNUM for c in value):
                    self._put(value.upper(), kind, source)
            elif len(value) >= MIN_TEXT:
                self._put(value.upper(), kind, source)

    def allow_public(self, public: list[bytes], coded: list[bytes]) -> None:
        """Ignore needles that the input also states in attributes the profile keeps.

        A study description equal to a coded procedure meaning is not a leak: the code is
        retained by the standard. A one-word name part equal to a word of a retained code
        (a defined term, a code meaning) is a coincidence of vocabulary, not a leak.
        Identifiers, dates, UIDs and multi-word names are never exempted.
        """
        if coded:
            vocabulary = set(re.split(rb"[^A-Z0-9_]+", b" ".join(coded).upper()))
            for needle, (kind, _source) in self.needles.items():
                if kind is NeedleKind.NAME and needle in vocabulary:
                    self.ignore.add(needle)
        if not public:
            return
        stated = b"\n".join(public).upper()
        for needle, (kind, _source) in self.needles.items():
            if kind is NeedleKind.TEXT and _bounded_find(stated, needle, kind):
                self.ignore.add(needle)

    def _add_name(self, value: bytes, source: str) -> None:
        """A person name: the whole name and each word of it (alphabetic groups too)."""
        for group in value.split(b"="):
            parts = [p.strip() for p in group.split(b"^") if p.strip()]
            joined = b" ".join(parts)
            if len(joined) >= MIN_NAME_PART:
                self._put(joined.upper(), NeedleKind.NAME, source)
            for part in parts:
                for word in part.split():
                    if len(word) >= MIN_NAME_PART and any(c in _ALNUM for c in word):
                        self._put(word.upper(), NeedleKind.NAME, source)

    def first_hit(self, *blobs: bytes) -> LeakHit | None:
        """The first needle found token-bounded in any blob, or None."""
        if not self.needles:
            return None
        for blob in blobs:
            upper = blob.upper()
            for needle, (kind, source) in self.needles.items():
                if needle in self.ignore:
                    continue
                haystack = blob if kind is NeedleKind.UID or kind is NeedleKind.DATE else upper
                if _bounded_find(haystack, needle, kind):
                    return LeakHit(kind, source)
        return None


def _bounded_find(haystack: bytes, needle: bytes, kind: NeedleKind) -> bool:
    """Find ``needle`` as a whole token: UIDs bounded by non-UID chars, dates on the left."""
    if kind is NeedleKind.UID:
        boundary = _UID_CHARS
    elif kind is NeedleKind.DATE:
        boundary = _DIGITS
    else:
        boundary = _ALNUM
    start = haystack.find(needle)
    n = len(needle)
    while start != -1:
        before_ok = start == 0 or haystack[start - 1] not in boundary
        end = start + n
        after_ok = kind is NeedleKind.DATE or end >= len(haystack) or haystack[end] not in boundary
        if before_ok and after_ok:
            return True
        start = haystack.find(needle, start + 1)
    return False
