"""The pixel step of every object: check, clean, or say why not.

Called with the routing facts and identity values read from the element tree, whichever
reader produced it; the header edits it returns are applied to the tree.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import TypeVar

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import UID

from .burned_in import pixel_check_reason
from .dicom_io import BulkSegment, ParsedObject
from .element_tree import Element
from .pixels import CleanedPixels, Payload, available, clean_pixels, source_window
from .pixels.geometry import IMAGE_PIXEL_TAGS, Geometry, PixelValue, located
from .reasons import DeidFailure

# Identifying values the verification names (by keyword) when text is left behind.
IDENTITY_KEYWORDS = (
    (0x00100010, "PatientName"),
    (0x00100020, "PatientID"),
    (0x00101000, "OtherPatientIDs"),
    (0x00100030, "PatientBirthDate"),
    (0x00080050, "AccessionNumber"),
    (0x00080080, "InstitutionName"),
    (0x00080090, "ReferringPhysicianName"),
    (0x00200010, "StudyID"),
    (0x00080020, "StudyDate"),
)
PIXEL_DATA = 0x7FE00010
# What pydicom's iter_pixels reads to decode: the Image Pixel module and the extended offsets.
_DECODE_TAGS = (*IMAGE_PIXEL_TAGS, 0x7FE00001, 0x7FE00002)
_PIXEL_KEYWORDS = {0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
# Explicit VRs whose element header is 12 bytes (the only ones pixel data may have).
_LONG_PIXEL_VRS = frozenset({b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"})
__all__ = ["IDENTITY_KEYWORDS", "available", "pixel_check_reason", "run_pixel_step", "with_payload"]
T = TypeVar("T")


def run_pixel_step(
    facts: dict[str, str],
    parsed: ParsedObject,
    index: Mapping[int, Element],
    *,
    identity: dict[str, str],
) -> CleanedPixels | None:
    """None when the image needs no check; the cleaning outcome when it passed.

    Raises ``DeidFailure`` with a quarantine reason when the pixels cannot be proven clean,
    or when they must be checked and no detector is installed (the old routing).
    """
    reason = pixel_check_reason(facts, any(isinstance(p, BulkSegment) for p in parsed.parts))
    if reason is None:
        return None
    if not available():
        raise DeidFailure(reason, "pixel data may contain burned-in text")
    return clean_pixels(
        source_window(parsed.source.fp, parsed.source.origin, parsed.source.data),
        geometry=parsed_geometry(parsed, index),
        burned_in_flag=facts.get("BurnedInAnnotation", ""),
        identity=identity,
        implicit=parsed.implicit,
        little=parsed.little,
    )


def parsed_geometry(parsed: ParsedObject, index: Mapping[int, Element]) -> Geometry | None:
    """The pixel geometry from the element tree, and where the pixel value starts.

    The Image Pixel elements go to pydicom as the raw elements it would have read itself,
    so values are converted exactly as it converts them. None (pydicom then reads the
    header again) when the tree cannot say where the pixel value is: a deflated input, or a
    pixel element whose explicit VR has no 12-byte header.
    """
    bulk = next((p for p in parsed.parts if isinstance(p, BulkSegment)), None)
    if bulk is None or parsed.deflated:
        return None
    at = bulk.start - parsed.source.origin
    vr: str | None = None
    header = 8
    if not parsed.implicit:
        code = parsed.source.read_at(at + 4, 2)
        if code not in _LONG_PIXEL_VRS:
            return None
        vr, header = code.decode("ascii"), 12
    elements = tuple(
        (tag, None if parsed.implicit else element.vr, bytes(element.value))
        for tag in _DECODE_TAGS
        if (element := index.get(tag)) is not None and element.value is not None
    )
    keyword = _PIXEL_KEYWORDS.get(bulk.tag, "PixelData")
    encoding = (parsed.transfer_syntax, parsed.implicit, parsed.little)
    shape = _geometry(encoding, elements, keyword, vr)
    end = bulk.end - parsed.source.origin
    return dataclasses.replace(shape, pixel_value_at=at + header, pixel_value_end=end)


# The slices of a series carry the same Image Pixel elements, byte for byte: converted once.
@functools.lru_cache(maxsize=256)
def _geometry(
    encoding: tuple[str, bool, bool],
    elements: tuple[tuple[int, str | None, bytes], ...],
    keyword: str,
    vr: str | None,
) -> Geometry:
    """Geometry and decoder options (no pixel offsets) of one transfer syntax, VR and
    endianness (``encoding``) and one set of raw Image Pixel elements."""
    syntax, implicit, little = encoding
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    for tag, element_vr, value in elements:
        ds[tag] = RawDataElement(Tag(tag), element_vr, len(value), value, 0, implicit, little)
    return located(ds, PixelValue(0, 0, keyword, vr))


def with_payload(parts: Sequence[T], payload: Payload | None) -> list[T | Payload]:
    """The parts to emit: the cleaned Pixel Data in place of the source's bytes."""
    out: list[T | Payload] = []
    if payload is None:
        out.extend(parts)
        return out
    for part in parts:
        if getattr(part, "tag", None) == PIXEL_DATA:
            out.append(payload)
        else:
            out.append(part)
    return out
