"""Applies the compiled profile to a dataset, element by element, at every nesting depth.

Elements the table keeps are never decoded (they stay raw and are written byte for byte);
only elements that are acted upon, and sequences (to reach their items), are converted.
Every value removed or replaced is recorded as a needle for the fail-closed leak check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from .actions import Action, IodContext, is_combined, resolve
from .dates import shift_da, shift_dt
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

__all__ = ["BULK_TAGS", "Change", "Walker", "change_at", "clean_text", "keyword_of"]

BULK_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})

_BINARY_DUMMY = b"\x00\x00"
_HARVEST_LIMIT = 256 * 1024


def _vr_of(elem: DataElement | RawDataElement, tag: int) -> str:
    vr = elem.VR
    if vr and vr != "UN":
        return str(vr)
    try:
        return str(dictionary_VR(tag)).split(" ")[0]
    except KeyError:
        return str(vr or "UN")


def _raw_bytes(elem: DataElement | RawDataElement) -> bytes | None:
    """The value as bytes without decoding it when it is still raw."""
    if isinstance(elem, RawDataElement):
        value = elem.value
        return value if isinstance(value, bytes) else None
    value = elem.value
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, (MultiValue, list, tuple)):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    return text.encode("utf-8", "replace")


def _text_value(elem: DataElement) -> str:
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, (MultiValue, list, tuple)):
        return "\\".join(str(v) for v in value)
    return str(value)


@dataclass(slots=True)
class Walker:
    """One object's walk: profile, keys, IOD context and what it has learned so far."""

    profile: CompiledProfile
    pseudonyms: Pseudonymizer
    ctx: IodContext
    day_shift: int | None
    safe_private: frozenset[SafePrivateTag]
    needles: NeedleSet
    identity_terms: re.Pattern[str] | None
    record: list[Change] | None = None
    public: list[bytes] = field(default_factory=list)
    coded: list[bytes] = field(default_factory=list)
    _path: list[str] = field(default_factory=list)

    # -- recording --------------------------------------------------------------------------
    def _note(self, tag: int, action: str) -> None:
        if self.record is not None:
            self.record.append(change_at(self._path, tag, action))

    def _harvest(self, ds: Dataset, depth: int = 0) -> None:
        """Record identifying values inside a sequence that is about to be dropped."""
        if depth > 8:
            return
        for tag in list(ds.keys()):
            elem = ds.get_item(tag)
            if tag >> 16 & 1:
                continue
            vr = _vr_of(elem, tag)
            if vr == "SQ":
                for item in ds[tag].value or ():
                    self._harvest(item, depth + 1)
                continue
            code = self.profile.code_for(tag)
            action = Action.UID if code == "U" else Action.REMOVE
            kind = _needle_kind(tag, vr, action)
            if kind is not None:
                raw = _raw_bytes(elem)
                if raw is not None:
                    self.needles.add_text(raw, kind, keyword_of(tag) or "private")

    def _harvest_sequence(self, ds: Dataset, tag: int, elem: DataElement | RawDataElement) -> None:
        length = elem.length if isinstance(elem, RawDataElement) else 0
        if length > _HARVEST_LIMIT and length != 0xFFFFFFFF:
            return  # too big to be worth decoding; it is dropped anyway
        value = ds[tag].value
        if isinstance(value, Sequence):
            for item in value:
                self._harvest(item)

    def _needle(
        self, tag: int, vr: str, elem: DataElement | RawDataElement, action: Action
    ) -> None:
        kind = _needle_kind(tag, vr, action)
        if kind is None:
            return
        raw = _raw_bytes(elem)
        if raw is not None:
            self.needles.add_text(raw, kind, keyword_of(tag) or "private")

    # -- the walk ---------------------------------------------------------------------------
    def walk(self, ds: Dataset) -> None:
        """Apply the profile to every element of ``ds`` and, recursively, of its sequences."""
        private_tags: list[int] = []
        for tag in list(ds.keys()):
            group = tag >> 16
            if tag & 0xFFFF == 0 or group == 0x0002:
                # Group lengths are retired and become wrong after edits; file meta inside
                # the data set is invalid (the meta is rebuilt) and may name the sender.
                del ds[tag]
                continue
            if group & 1:
                private_tags.append(tag)
                continue
            if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
                self._note(tag, "X")
                del ds[tag]
                continue
            if tag in BULK_TAGS:
                continue
            elem = ds.get_item(tag)
            vr = _vr_of(elem, tag)
            code = self.profile.code_for(tag)
            if code is None:
                self._untabled(ds, tag, elem, vr)
                continue
            action = resolve(tag, code, self.ctx) if is_combined(code) else Action(code)
            self._apply(ds, tag, elem, vr, action)
        if private_tags:
            self._private(ds, private_tags)

    def _untabled(self, ds: Dataset, tag: int, elem: DataElement | RawDataElement, vr: str) -> None:
        """An element the table does not list: kept, but its items and names are handled."""
        action = untabled_action(tag, vr, self.day_shift is not None)
        if action is not None:
            self._apply(ds, tag, elem, vr, action)
            return
        if vr in _PUBLIC_TEXT_VRS:
            # Retained text: what the input states openly is not a leak (see leak_check).
            raw = _raw_bytes(elem)
            if raw:
                self.public.append(raw)
                if tag in _CODE_ITEM_TAGS:
                    self.coded.append(raw)
        elif vr == "SQ":
            self._recurse(ds, tag)

    def _recurse(self, ds: Dataset, tag: int) -> None:
        value = ds[tag].value
        if not value:
            return
        if not isinstance(value, Sequence):
            # A sequence we cannot parse could hold anything: drop it rather than pass it.
            self._note(tag, "X")
            del ds[tag]
            return
        self._path.append(keyword_of(tag) or "Unknown")
        try:
            for item in value:
                self.walk(item)
        finally:
            self._path.pop()

    def _apply(
        self, ds: Dataset, tag: int, elem: DataElement | RawDataElement, vr: str, action: Action
    ) -> None:
        if action is Action.KEEP:
            if vr == "SQ":
                self._recurse(ds, tag)
            return
        self._note(tag, action.value)
        handler = {
            Action.REMOVE: self._remove,
            Action.EMPTY: self._empty,
            Action.DUMMY: self._dummy,
            Action.UID: self._remap,
            Action.CLEAN: self._clean,
            Action.KEEP_REMAP: self._remap,
        }[action]
        handler(ds, tag, elem, vr)

    def _remove(self, ds: Dataset, tag: int, elem: DataElement | RawDataElement, vr: str) -> None:
        if vr == "SQ":
            self._harvest_sequence(ds, tag, elem)
        else:
            self._needle(tag, vr, elem, Action.REMOVE)
        del ds[tag]

    def _empty(self, ds: Dataset, tag: int, elem: DataElement | RawDataElement, vr: str) -> None:
        if vr == "SQ":
            self._harvest_sequence(ds, tag, elem)
            ds[tag] = DataElement(tag, "SQ", Sequence())
        else:
            self._needle(tag, vr, elem, Action.EMPTY)
            ds[tag] = DataElement(tag, vr, None)

    def _dummy(self, ds: Dataset, tag: int, elem: DataElement | RawDataElement, vr: str) -> None:
        if vr == "SQ":
            if tag in _PERSON_CODE_SEQUENCES:
                self._harvest_sequence(ds, tag, elem)
                item = Dataset()
                item.CodeValue = "ANONYMIZED"
                item.CodingSchemeDesignator = "99SALUD"
                item.CodeMeaning = "Anonymized"
                ds[tag] = DataElement(tag, "SQ", Sequence([item]))
            else:
                # The table asks for a dummy of a structural sequence (SR content tree,
                # graphic annotations, verifying observers): the items themselves are
                # replaced element by element by walking them with the same table.
                self._recurse(ds, tag)
            return
        if vr == "UI":
            self._remap(ds, tag, elem, vr)
            return
        self._needle(tag, vr, elem, Action.DUMMY)
        ds[tag] = DataElement(tag, vr, _DUMMY.get(vr, _BINARY_DUMMY))

    def _remap(self, ds: Dataset, tag: int, elem: DataElement | RawDataElement, vr: str) -> None:
        if vr == "SQ":
            self._recurse(ds, tag)
            return
        if vr != "UI":
            self._needle(tag, vr, elem, Action.REMOVE)
            del ds[tag]
            return
        self._needle(tag, vr, elem, Action.UID)
        converted = ds[tag]
        value = converted.value
        if value is None or value == "":
            return
        values: Iterable[str] = value if isinstance(value, (MultiValue, list)) else [value]
        mapped = [self.pseudonyms.uid(str(v)) for v in values]
        ds[tag] = DataElement(tag, "UI", mapped if len(mapped) > 1 else mapped[0])

    def _clean(self, ds: Dataset, tag: int, elem: DataElement | RawDataElement, vr: str) -> None:
        if vr == "SQ":
            self._recurse(ds, tag)
            return
        if vr in ("DA", "DT"):
            self._needle(tag, vr, elem, Action.CLEAN)
            text = _text_value(ds[tag])
            if self.day_shift is None:
                ds[tag] = DataElement(tag, vr, None)
                return
            shifted = (
                shift_da(text, self.day_shift) if vr == "DA" else shift_dt(text, self.day_shift)
            )
            ds[tag] = DataElement(tag, vr, shifted or None)
            return
        if vr == "TM":
            return  # whole-day shifts keep the time of day
        if vr in _TEXT_VRS:
            text = _text_value(ds[tag])
            cleaned = clean_text(text, self.identity_terms)
            if cleaned != text:
                ds[tag] = DataElement(tag, vr, cleaned)
            return
        # Numbers and codes carry no free text: keeping them is the clean value.

    def _private(self, ds: Dataset, tags: list[int]) -> None:
        """Drop private elements unless allow-listed by (group, creator, element byte)."""
        keep_creators: set[int] = set()
        keep: set[int] = set()
        if self.safe_private and self.profile.private == "C":
            creators: dict[tuple[int, int], str] = {}
            for tag in tags:
                low = tag & 0xFFFF
                if 0x10 <= low <= 0xFF:
                    creator = ds[tag].value
                    if isinstance(creator, str):
                        creators[(tag >> 16, low)] = creator.strip()
            for tag in tags:
                group, low = tag >> 16, tag & 0xFFFF
                block = low >> 8
                creator_name = creators.get((group, block))
                if (
                    block >= 0x10
                    and creator_name is not None
                    and SafePrivateTag(group, creator_name, low & 0xFF) in self.safe_private
                ):
                    keep.add(tag)
                    keep_creators.add(group << 16 | block)
        for tag in tags:
            if tag in keep:
                if _vr_of(ds.get_item(tag), tag) == "SQ":
                    self._recurse(ds, tag)
                continue
            if tag in keep_creators:
                continue
            self._note(tag, "X")
            del ds[tag]
