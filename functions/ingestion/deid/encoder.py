"""Serialize the de-identified header fast: untouched raw elements are re-emitted byte for byte.

pydicom's writer builds a buffer object per element; for the hundreds of elements the
profile keeps unchanged that dominated the run time. Raw elements already hold their value
bytes in the output's own encoding (the transfer syntax never changes), so only their
8- or 12-byte element header is packed here. Elements the profile changed are encoded by
pydicom's ``write_data_element`` (charsets, padding, VR formatting), and sequences are
re-assembled with defined lengths.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr_element, write_data_element

_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_UNDEFINED = 0xFFFFFFFF
PREAMBLE = b"\x00" * 128 + b"DICM"


def _meta_element(tag: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr in (b"UI", b"OB") else b" "
    if vr == b"OB":
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def encode_file_meta(meta: FileMetaDataset) -> bytes:
    """Preamble, DICM prefix and the file meta group (always explicit little endian)."""
    return encode_meta_values(
        str(meta.MediaStorageSOPClassUID),
        str(meta.MediaStorageSOPInstanceUID),
        str(meta.TransferSyntaxUID),
        str(meta.ImplementationClassUID),
        str(meta.ImplementationVersionName),
    )


def encode_meta_values(
    sop_class: str,
    sop_instance: str,
    transfer_syntax: str,
    implementation_uid: str,
    implementation_version: str,
) -> bytes:
    """The file meta group from its values (fresh: nothing of the source's meta is kept)."""
    body = b"".join(
        (
            _meta_element(0x00020001, b"OB", b"\x00\x01"),
            _meta_element(0x00020002, b"UI", sop_class.encode()),
            _meta_element(0x00020003, b"UI", sop_instance.encode()),
            _meta_element(0x00020010, b"UI", transfer_syntax.encode()),
            _meta_element(0x00020012, b"UI", implementation_uid.encode()),
            _meta_element(0x00020013, b"SH", implementation_version.encode()),
        )
    )
    group_length = struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(body))
    return PREAMBLE + group_length + body


def encode_dataset(ds: Dataset, implicit: bool, little: bool, encodings: Any = None) -> bytes:
    """Encode ``ds`` (no file meta) in the given transfer syntax encoding."""
    parts: list[bytes] = []
    _encode(ds, implicit, little, encodings, parts)
    return b"".join(parts)


_ASCII_TEXT_VRS = frozenset(
    {
        "AE",
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "IS",
        "LO",
        "LT",
        "PN",
        "SH",
        "ST",
        "TM",
        "UC",
        "UI",
        "UR",
        "UT",
    }
)


def _fast_text(elem: DataElement) -> bytes | None:
    """Bytes of a plain-ASCII text value (what the engine writes), else None for pydicom."""
    if elem.VR not in _ASCII_TEXT_VRS:
        return None
    value = elem.value
    if value is None or value == "":
        return b""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        text = "\\".join(value)
    else:
        return None  # numbers, PersonName objects, multi-values: pydicom formats them
    if not text.isascii() or "\x1b" in text:
        return None
    data = text.encode("ascii")
    if len(data) % 2:
        data += b"\x00" if elem.VR == "UI" else b" "
    return data


def _slow(
    elem: DataElement | RawDataElement, implicit: bool, little: bool, encodings: Any
) -> bytes:
    fp = DicomBytesIO()
    fp.is_implicit_VR = implicit
    fp.is_little_endian = little
    write_data_element(fp, elem, encodings)
    return fp.getvalue()


def _header(
    group: int, element: int, vr: object, length: int, *, implicit: bool, endian: str
) -> bytes:
    if implicit:
        return struct.pack(endian + "HHL", group, element, length)
    name = str(vr)
    if name in _LONG_VRS:
        return struct.pack(endian + "HH2sHL", group, element, name.encode(), 0, length)
    return struct.pack(endian + "HH2sH", group, element, name.encode(), length)


def _encode(
    ds: Dataset, implicit: bool, little: bool, parent_encodings: Any, parts: list[bytes]
) -> None:
    endian = "<" if little else ">"
    item_header = struct.Struct(endian + "HHL")
    elements = ds._dict
    encodings = parent_encodings
    if 0x00080005 in elements:
        encodings = ds.get("SpecificCharacterSet", parent_encodings)
    for tag in sorted(elements):
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0 and group > 6:
            continue  # group lengths are retired; never written
        elem = elements[tag]
        if isinstance(elem, RawDataElement):
            if elem.VR is None and not implicit:
                # Implicit VR inside an explicit file: let pydicom look the VR up.
                converted = correct_ambiguous_vr_element(ds[tag], ds, little)
                parts.append(_slow(converted, implicit, little, encodings))
            elif elem.value is None or elem.length == _UNDEFINED:
                parts.append(_slow(elem, implicit, little, encodings))
            else:
                parts.append(
                    _header(
                        group, element, elem.VR, len(elem.value), implicit=implicit, endian=endian
                    )
                )
                parts.append(elem.value)
            continue
        if elem.VR == "SQ":
            items: list[bytes] = []
            for item in elem.value or ():
                body = encode_dataset(item, implicit, little, encodings)
                items.append(item_header.pack(0xFFFE, 0xE000, len(body)))
                items.append(body)
            body = b"".join(items)
            parts.append(_header(group, element, "SQ", len(body), implicit=implicit, endian=endian))
            parts.append(body)
            continue
        fast = _fast_text(elem)
        if fast is not None:
            parts.append(
                _header(group, element, elem.VR, len(fast), implicit=implicit, endian=endian)
            )
            parts.append(fast)
            continue
        parts.append(_slow(elem, implicit, little, encodings))
