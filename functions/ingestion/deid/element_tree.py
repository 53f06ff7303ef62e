"""A lean element tree: parse a DICOM header straight from bytes, and write it back.

This is the fast path. pydicom builds a rich object per element; de-identification only
needs, per element, its tag, VR, value bytes and (for sequences) its items. Values are
memoryview slices of the source buffer (an mmap for files), so nothing is copied or decoded
unless the profile acts on it, and the pixel data is never touched. Anything unusual
(deflated data, encoding that contradicts the transfer syntax, UN-encoded sequences) raises
``NeedsFullParser`` and the engine takes the pydicom path instead.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from operator import attrgetter

from pydicom.datadict import dictionary_VR

from .reasons import DeidFailure, Rejection

BULK_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
_VALID_VR = frozenset(
    {
        "AE",
        "AS",
        "AT",
        "CS",
        "DA",
        "DS",
        "DT",
        "FD",
        "FL",
        "IS",
        "LO",
        "LT",
        "OB",
        "OD",
        "OF",
        "OL",
        "OV",
        "OW",
        "PN",
        "SH",
        "SL",
        "SQ",
        "SS",
        "ST",
        "SV",
        "TM",
        "UC",
        "UI",
        "UL",
        "UN",
        "UR",
        "US",
        "UT",
        "UV",
    }
)
_VR_NAMES = {vr.encode(): vr for vr in _VALID_VR}
MAX_DEPTH = 64

Buffer = bytes | memoryview


class NeedsFullParser(Exception):
    """The object is valid but unusual; the pydicom path handles it."""


class Element:
    """One data element: tag, VR, value bytes, or items for a sequence."""

    __slots__ = ("items", "tag", "value", "vr")

    def __init__(
        self, tag: int, vr: str, value: Buffer | None, items: list[list[Element]] | None = None
    ) -> None:
        self.tag = tag
        self.vr = vr
        self.value = value
        self.items = items


_VR_CACHE: dict[int, str] = {}


def implicit_vr(tag: int) -> str:
    """VR of a tag in an implicit VR data set, from the data dictionary."""
    vr = _VR_CACHE.get(tag)
    if vr is not None:
        return vr
    if tag >> 16 & 1:
        vr = "LO" if 0x0010 <= tag & 0xFFFF <= 0x00FF else "UN"
    else:
        try:
            vr = str(dictionary_VR(tag)).split(" ")[0]
        except KeyError:
            vr = "UN"
    _VR_CACHE[tag] = vr
    return vr


class Parser:
    """Parses elements of one encoding out of one buffer."""

    __slots__ = ("_explicit", "_item", "_tag", "_u16", "_u32", "buf", "implicit", "little")

    def __init__(self, buf: Buffer, *, implicit: bool, little: bool) -> None:
        self.buf = buf
        self.implicit = implicit
        self.little = little
        endian = "<" if little else ">"
        self._tag = struct.Struct(endian + "HH")
        self._u32 = struct.Struct(endian + "L")
        self._u16 = struct.Struct(endian + "H")
        self._item = struct.Struct(endian + "HHL")
        self._explicit = struct.Struct(endian + "HH2sH")

    def tag_at(self, pos: int) -> tuple[int, int]:
        """(group, element) of the element header at ``pos``."""
        group, element = self._tag.unpack_from(self.buf, pos)
        return int(group), int(element)

    def elements(  # noqa: PLR0912, PLR0915  (one hot parser loop, kept whole)
        self,
        pos: int,
        end: int,
        *,
        top: bool,
        depth: int = 0,
        in_undefined_item: bool = False,
        group_only: int | None = None,
    ) -> tuple[list[Element], int]:
        """Elements from ``pos`` up to ``end``, an item delimiter, or (top) a bulk element.

        One loop with every case inline: this is the hot path of the whole engine.
        """
        if depth > MAX_DEPTH:
            raise DeidFailure(Rejection.INVALID_DATASET, "sequences nested too deep")
        buf = self.buf
        implicit = self.implicit
        header = self._item.unpack_from if implicit else self._explicit.unpack_from
        u32 = self._u32.unpack_from
        vr_name = _VR_NAMES.get
        out: list[Element] = []
        append = out.append
        check_stop = top or group_only is not None
        while pos < end:
            if pos + 8 > end:
                raise DeidFailure(Rejection.TRUNCATED, "element header cut short")
            if implicit:
                group, element, length = header(buf, pos)
                tag = group << 16 | element
                vr = _VR_CACHE.get(tag) or implicit_vr(tag)
                start = pos + 8
            else:
                group, element, vr_bytes, length = header(buf, pos)
                tag = group << 16 | element
                vr = vr_name(vr_bytes, "")
                start = pos + 8
            if tag == ITEM_DELIMITER:
                if not in_undefined_item:
                    raise DeidFailure(Rejection.INVALID_DATASET, "stray item delimiter")
                return out, pos + 8
            if check_stop and (
                (top and tag in BULK_TAGS) or (group_only is not None and group != group_only)
            ):
                return out, pos
            if not implicit:
                if not vr:
                    raise NeedsFullParser("encoding differs from the transfer syntax")
                if vr in LONG_VRS:
                    if pos + 12 > end:
                        raise DeidFailure(Rejection.TRUNCATED, "element header cut short")
                    length = u32(buf, pos + 8)[0]
                    start = pos + 12
            if vr == "SQ" or (implicit and length == UNDEFINED):
                items, pos = self.items(start, length, end, depth)
                append(Element(tag, "SQ", None, items))
                continue
            if length == UNDEFINED:
                raise NeedsFullParser("undefined length outside a sequence")
            if vr == "UN" and not tag >> 16 & 1 and implicit_vr(tag) == "SQ":
                raise NeedsFullParser("sequence encoded as UN")
            stop = start + length
            if stop > end:
                raise DeidFailure(Rejection.TRUNCATED, "element value cut short")
            append(Element(tag, vr, buf[start:stop]))
            pos = stop
        if in_undefined_item:
            raise DeidFailure(Rejection.TRUNCATED, "item not terminated")
        return out, pos

    def items(self, pos: int, length: int, end: int, depth: int) -> tuple[list[list[Element]], int]:
        """Items of a sequence value starting at ``pos``."""
        buf = self.buf
        limit = end if length == UNDEFINED else pos + length
        if limit > end:
            raise DeidFailure(Rejection.TRUNCATED, "sequence cut short")
        items: list[list[Element]] = []
        while pos < limit:
            if pos + 8 > limit:
                raise DeidFailure(Rejection.TRUNCATED, "item header cut short")
            group, element, item_length = self._item.unpack_from(buf, pos)
            tag = group << 16 | element
            pos += 8
            if tag == SEQUENCE_DELIMITER:
                if length != UNDEFINED:
                    raise DeidFailure(Rejection.INVALID_DATASET, "stray sequence delimiter")
                return items, pos
            if tag != ITEM:
                raise DeidFailure(Rejection.INVALID_DATASET, "expected an item")
            if item_length == UNDEFINED:
                elements, pos = self.elements(
                    pos, limit, top=False, depth=depth + 1, in_undefined_item=True
                )
            else:
                item_end = pos + item_length
                if item_end > limit:
                    raise DeidFailure(Rejection.TRUNCATED, "item cut short")
                elements, _ = self.elements(pos, item_end, top=False, depth=depth + 1)
                pos = item_end
            items.append(elements)
        if length == UNDEFINED:
            raise DeidFailure(Rejection.TRUNCATED, "sequence not terminated")
        return items, pos


def bulk_end(
    read_at: Callable[[int, int], Buffer], start: int, size: int, implicit: bool, little: bool
) -> int:
    """End offset of the bulk (pixel) element at ``start``; walks fragments if encapsulated.

    ``read_at(pos, n)``: n bytes of the object from pos (a buffer slice, or a stream read:
    only element and item headers are read, never the pixel bytes).
    """
    endian = "<" if little else ">"
    head = bytes(read_at(start, 12))
    if len(head) < 8:
        raise DeidFailure(Rejection.TRUNCATED, "pixel data header cut short")
    if implicit:
        length = struct.unpack_from(endian + "L", head, 4)[0]
        pos = start + 8
    elif head[4:6].decode("latin-1") in LONG_VRS:
        if len(head) < 12:
            raise DeidFailure(Rejection.TRUNCATED, "pixel data header cut short")
        length = struct.unpack_from(endian + "L", head, 8)[0]
        pos = start + 12
    else:
        length = struct.unpack_from(endian + "H", head, 6)[0]
        pos = start + 8
    if length != UNDEFINED:
        if pos + length > size:
            raise DeidFailure(Rejection.TRUNCATED, "pixel data shorter than its length")
        return int(pos + length)
    while True:  # encapsulated fragments are always little endian
        item = read_at(pos, 8)
        if len(item) < 8:
            raise DeidFailure(Rejection.TRUNCATED, "encapsulated pixel data not terminated")
        group, element, item_length = _FRAGMENT.unpack_from(item)
        tag = group << 16 | element
        pos += 8
        if tag == SEQUENCE_DELIMITER:
            return int(pos)
        if tag != ITEM or item_length == UNDEFINED:
            raise DeidFailure(Rejection.INVALID_DATASET, "malformed encapsulated pixel data")
        pos += item_length
        if pos > size:
            raise DeidFailure(Rejection.TRUNCATED, "pixel data fragment cut short")


def pad(data: bytes, vr: str) -> bytes:
    """Even length, as DICOM requires: NUL for UIDs, space for text."""
    if len(data) % 2:
        return data + (b"\x00" if vr == "UI" else b" ")
    return data


def text_element(tag: int, vr: str, text: str) -> Element:
    """An element of an ASCII text value (dummies, tokens, provenance)."""
    return Element(tag, vr, pad(text.encode("ascii"), vr))


def ascii_text(value: Buffer | None) -> str:
    """A short text value (UIDs, codes, creators) with its padding stripped."""
    return bytes(value or b"").decode("latin-1").strip(" \x00")


def text_of(elem: Element | None) -> str:
    """The value of a short text element, "" when absent."""
    return "" if elem is None else ascii_text(elem.value)


def write_elements(
    elements: list[Element], implicit: bool, little: bool, parts: list[Buffer]
) -> None:
    """Append the encoding of ``elements`` (sorted by tag) to ``parts``."""
    short, long_, plain = _HEADERS[little]
    for elem in sorted(elements, key=_TAG):
        group, element = elem.tag >> 16, elem.tag & 0xFFFF
        if elem.items is not None:
            body: list[Buffer] = []
            for item in elem.items:
                item_parts: list[Buffer] = []
                write_elements(item, implicit, little, item_parts)
                body.append(plain.pack(0xFFFE, 0xE000, sum(map(len, item_parts))))
                body.extend(item_parts)
            length = sum(map(len, body))
            parts.append(
                plain.pack(group, element, length)
                if implicit
                else long_.pack(group, element, b"SQ", 0, length)
            )
            parts.extend(body)
            continue
        value = elem.value if elem.value is not None else b""
        if implicit:
            parts.append(plain.pack(group, element, len(value)))
        elif elem.vr in LONG_VRS:
            parts.append(long_.pack(group, element, elem.vr.encode(), 0, len(value)))
        else:
            parts.append(short.pack(group, element, elem.vr.encode(), len(value)))
        parts.append(value)


_TAG = attrgetter("tag")
_FRAGMENT = struct.Struct("<HHL")
# (short explicit, long explicit, implicit / item) element headers, by little endianness.
_HEADERS = {
    little: (struct.Struct(e + "HH2sH"), struct.Struct(e + "HH2sHL"), struct.Struct(e + "HHL"))
    for little, e in ((True, "<"), (False, ">"))
}
