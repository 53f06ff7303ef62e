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
from pydicom.filewriter import (
    correct_ambiguous_vr_element,
    write_data_element,
    write_file_meta_info,
)

_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR",
                       "UT", "UV"})
_UNDEFINED = 0xFFFFFFFF
PREAMBLE = b"\x00" * 128 + b"DICM"


def encode_file_meta(meta: FileMetaDataset) -> bytes:
    """Preamble, DICM prefix and the file meta group (always explicit little endian)."""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_file_meta_info(fp, meta, enforce_standard=True)
    return PREAMBLE + fp.getvalue()


def encode_dataset(ds: Dataset, implicit: bool, little: bool,
                   encodings: Any = None) -> bytes:
    """Encode ``ds`` (no file meta) in the given transfer syntax encoding."""
    parts: list[bytes] = []
    _encode(ds, implicit, little, encodings, parts)
    return b"".join(parts)


def _slow(elem: DataElement | RawDataElement, implicit: bool, little: bool,
          encodings: Any) -> bytes:
    fp = DicomBytesIO()
    fp.is_implicit_VR = implicit
    fp.is_little_endian = little
    write_data_element(fp, elem, encodings)
    return fp.getvalue()


def _encode(ds: Dataset, implicit: bool, little: bool, parent_encodings: Any,
            parts: list[bytes]) -> None:
    endian = "<" if little else ">"
    short_header = struct.Struct(endian + "HH2sH")
    long_header = struct.Struct(endian + "HH2sHL")
    implicit_header = struct.Struct(endian + "HHL")
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
            value = elem.value
            if elem.VR is None and not implicit:
                # Implicit VR inside an explicit file: let pydicom look the VR up.
                converted = correct_ambiguous_vr_element(ds[tag], ds, little)
                parts.append(_slow(converted, implicit, little, encodings))
                continue
            if value is None or elem.length == _UNDEFINED:
                parts.append(_slow(elem, implicit, little, encodings))
                continue
            if implicit:
                parts.append(implicit_header.pack(group, element, len(value)))
            elif elem.VR in _LONG_VRS:
                parts.append(long_header.pack(group, element, str(elem.VR).encode(), 0,
                                              len(value)))
            else:
                parts.append(short_header.pack(group, element, str(elem.VR).encode(),
                                               len(value)))
            parts.append(value)
            continue
        if elem.VR == "SQ":
            items: list[bytes] = []
            for item in elem.value or ():
                body = encode_dataset(item, implicit, little, encodings)
                items.append(implicit_header.pack(0xFFFE, 0xE000, len(body)))
                items.append(body)
            body = b"".join(items)
            if implicit:
                parts.append(implicit_header.pack(group, element, len(body)))
            else:
                parts.append(long_header.pack(group, element, b"SQ", 0, len(body)))
            parts.append(body)
            continue
        parts.append(_slow(elem, implicit, little, encodings))
