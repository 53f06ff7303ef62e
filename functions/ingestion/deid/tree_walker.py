"""Applies the compiled profile to the element tree: the one walker of the engine.

Every element at every depth goes through the table (``profile``/``actions``) and the local
rules of ``policy``; kept elements stay as untouched byte slices; everything removed or
replaced is recorded as a needle for the leak check. Objects read by pydicom (the fallback
for irregular encodings) reach this walker as the same tree.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from pydicom.charset import convert_encodings, decode_bytes, encode_string

from .actions import Action, IodContext, resolve
from .dates import shift_da, shift_dt
from .element_tree import Element, ascii_text, implicit_vr, pad, text_element
from .leak_check import NeedleSet
from .options import SafePrivateTag
from .policy import (
    _CODE_ITEM_TAGS,
    _DUMMY,
    _PERSON_CODE_SEQUENCES,
    _PUBLIC_TEXT_VRS,
    _TEXT_VRS,
    Change,
    _needle_kind,
    change_at,
    clean_text,
    keyword_of,
    untabled_action,
)
from .profile import CompiledProfile
from .pseudonyms import Pseudonymizer

_NUMBER_FORMAT = {
    "FL": "f",
    "FD": "d",
    "SL": "l",
    "SS": "h",
    "UL": "L",
    "US": "H",
    "SV": "q",
    "UV": "Q",
    "AT": "L",
}


# policy's dummies as the bytes this path writes (even length).
_TEXT_DUMMY = {vr: pad(v.encode("ascii"), vr) for vr, v in _DUMMY.items()}


@dataclass(slots=True)
class TreeWalker:
    """One object's walk over the element tree."""

    profile: CompiledProfile
    pseudonyms: Pseudonymizer
    ctx: IodContext
    day_shift: int | None
    safe_private: frozenset[SafePrivateTag]
    needles: NeedleSet
    identity_terms: re.Pattern[str] | None
    little: bool
    encodings: list[str]
    record: list[Change] | None = None
    # Non-empty: UIDs are keyed to this scope too (Pseudonymizer.uid).
    uid_scope: str = ""
    public: list[bytes] = field(default_factory=list)
    coded: list[bytes] = field(default_factory=list)
    _path: list[str] = field(default_factory=list)

    def _note(self, tag: int, action: str) -> None:
        if self.record is not None:
            self.record.append(change_at(self._path, tag, action))

    def _needle(self, elem: Element, vr: str, action: Action) -> None:
        kind = _needle_kind(elem.tag, vr, action)
        if kind is not None and elem.value is not None and len(elem.value):
            self.needles.add_text(bytes(elem.value), kind, keyword_of(elem.tag) or "private")

    def _harvest(self, items: list[list[Element]] | None, depth: int = 0) -> None:
        """Record identifying values inside a sequence that is about to be dropped."""
        if not items or depth > 8:
            return
        for item in items:
            for elem in item:
                if elem.tag >> 16 & 1:
                    continue
                if elem.items is not None:
                    self._harvest(elem.items, depth + 1)
                    continue
                code = self.profile.code_for(elem.tag)
                self._needle(elem, self._vr(elem), Action.UID if code == "U" else Action.REMOVE)

    @staticmethod
    def _vr(elem: Element) -> str:
        if elem.vr == "UN" and not elem.tag >> 16 & 1:
            return implicit_vr(elem.tag)
        return elem.vr

    # -- the walk ---------------------------------------------------------------------------
    def walk(self, elements: list[Element]) -> list[Element]:
        """The de-identified elements of one data set (its items walked recursively)."""
        out: list[Element] = []
        private: list[Element] = []
        codes = self.profile.codes
        singles = self.profile.single_actions
        for elem in elements:
            tag = elem.tag
            group = tag >> 16
            if tag & 0xFFFF == 0 or group == 0x0002:
                # Group lengths are retired and become wrong after edits; file meta inside
                # the data set is invalid (the meta is rebuilt) and may name the sender.
                continue
            if group & 1:
                private.append(elem)
                continue
            if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
                self._note(tag, "X")
                continue
            code = codes.get(tag)
            if code is None:
                kept = self._untabled(elem)
                if kept is not None:
                    out.append(kept)
                continue
            action = singles.get(tag) or resolve(tag, code, self.ctx)
            kept = self._apply(elem, action)
            if kept is not None:
                out.append(kept)
        if private:
            out.extend(self._private(private))
        return out

    def _recurse(self, elem: Element) -> Element:
        if not elem.items:
            return elem
        self._path.append(keyword_of(elem.tag) or "Unknown")
        try:
            elem.items = [self.walk(item) for item in elem.items]
        finally:
            self._path.pop()
        return elem

    def _untabled(self, elem: Element) -> Element | None:
        if elem.items is not None:
            return self._recurse(elem)
        vr = self._vr(elem)
        action = untabled_action(elem.tag, vr, self.day_shift is not None)
        if action is not None:
            return self._apply(elem, action)
        if vr in _PUBLIC_TEXT_VRS and elem.value is not None and len(elem.value):
            raw = bytes(elem.value)
            self.public.append(raw)
            if elem.tag in _CODE_ITEM_TAGS:
                self.coded.append(raw)
        return elem

    def _apply(self, elem: Element, action: Action) -> Element | None:
        if action is Action.KEEP:
            return self._recurse(elem) if elem.items is not None else elem
        self._note(elem.tag, action.value)
        vr = "SQ" if elem.items is not None else self._vr(elem)
        if action is Action.REMOVE or action is Action.EMPTY:
            if elem.items is not None:
                self._harvest(elem.items)
            else:
                self._needle(elem, vr, action)
            if action is Action.REMOVE:
                return None
            return Element(elem.tag, "SQ", None, []) if vr == "SQ" else Element(elem.tag, vr, b"")
        if action is Action.DUMMY:
            return self._dummy(elem, vr)
        if action is Action.CLEAN:
            return self._clean(elem, vr)
        return self._remap(elem, vr)  # UID and KEEP_REMAP

    def _dummy(self, elem: Element, vr: str) -> Element | None:
        if elem.items is not None:
            if elem.tag in _PERSON_CODE_SEQUENCES:
                self._harvest(elem.items)
                item = [
                    text_element(0x00080100, "SH", "ANONYMIZED"),
                    text_element(0x00080102, "SH", "99SALUD"),
                    text_element(0x00080104, "LO", "Anonymized"),
                ]
                return Element(elem.tag, "SQ", None, [item])
            # Structural sequences (SR trees, graphic annotations, verifying observers):
            # their items are replaced element by element with the same table.
            return self._recurse(elem)
        if vr == "UI":
            return self._remap(elem, vr)
        self._needle(elem, vr, Action.DUMMY)
        if vr in _TEXT_DUMMY:
            return Element(elem.tag, vr, _TEXT_DUMMY[vr])
        fmt = _NUMBER_FORMAT.get(vr)
        if fmt is not None:
            return Element(elem.tag, vr, struct.pack(("<" if self.little else ">") + fmt, 0))
        return Element(elem.tag, vr, b"\x00\x00")

    def _remap(self, elem: Element, vr: str) -> Element | None:
        if elem.items is not None:
            return self._recurse(elem)
        if vr != "UI":
            self._needle(elem, vr, Action.REMOVE)
            return None
        self._needle(elem, vr, Action.UID)
        text = ascii_text(elem.value)
        if not text:
            return elem
        mapped = "\\".join(self.pseudonyms.uid(v, self.uid_scope) for v in text.split("\\"))
        return text_element(elem.tag, "UI", mapped)

    def _clean(self, elem: Element, vr: str) -> Element | None:
        if elem.items is not None:
            return self._recurse(elem)
        if vr in ("DA", "DT"):
            self._needle(elem, vr, Action.CLEAN)
            if self.day_shift is None:
                return Element(elem.tag, vr, b"")
            text = ascii_text(elem.value)
            shifted = (
                shift_da(text, self.day_shift) if vr == "DA" else shift_dt(text, self.day_shift)
            )
            return text_element(elem.tag, vr, shifted)
        if vr in _TEXT_VRS and elem.value is not None and len(elem.value):
            raw = bytes(elem.value)
            text = (
                decode_bytes(raw, self.encodings, set())
                if not raw.isascii()
                else raw.decode("ascii")
            )
            cleaned = clean_text(text.rstrip(" \x00"), self.identity_terms)
            if cleaned != text.rstrip(" \x00"):
                data = (
                    cleaned.encode("ascii")
                    if cleaned.isascii()
                    else encode_string(cleaned, self.encodings)
                )
                return Element(elem.tag, vr, pad(data, vr))
        return elem  # times, numbers and codes carry no free text

    def _private(self, elements: list[Element]) -> list[Element]:
        """Drop private elements unless allow-listed by (group, creator, element byte)."""
        keep: list[Element] = []
        if self.safe_private and self.profile.private == "C":
            creators = {
                (e.tag >> 16, e.tag & 0xFFFF): ascii_text(e.value)
                for e in elements
                if 0x10 <= e.tag & 0xFFFF <= 0xFF and e.items is None
            }
            kept_blocks: set[tuple[int, int]] = set()
            for elem in elements:
                group, low = elem.tag >> 16, elem.tag & 0xFFFF
                block = low >> 8
                creator = creators.get((group, block))
                if (
                    block >= 0x10
                    and creator is not None
                    and SafePrivateTag(group, creator, low & 0xFF) in self.safe_private
                ):
                    keep.append(self._recurse(elem) if elem.items is not None else elem)
                    kept_blocks.add((group, block))
            for group, block in kept_blocks:
                keep.append(
                    Element(
                        group << 16 | block,
                        "LO",
                        pad(creators[(group, block)].encode("latin-1"), "LO"),
                    )
                )
        kept_tags = {e.tag for e in keep}
        for elem in elements:
            if elem.tag not in kept_tags:
                self._note(elem.tag, "X")
        return keep


def encodings_of(value: bytes | memoryview | None) -> list[str]:
    """Python codecs for a Specific Character Set value (default repertoire when absent)."""
    text = ascii_text(value)
    terms = [t.strip() for t in text.split("\\")] if text else [""]
    return list(convert_encodings(terms))
