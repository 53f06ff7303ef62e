"""The pixel step of every object: check, clean, or say why not.

Called with the routing facts and identity values read from the element tree, whichever
reader produced it; the header edits it returns are applied to the tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO, TypeVar

from .burned_in import pixel_check_reason
from .pixels import CleanedPixels, Payload, available, clean_pixels, source_window
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
__all__ = ["IDENTITY_KEYWORDS", "available", "pixel_check_reason", "run_pixel_step", "with_payload"]
T = TypeVar("T")


def run_pixel_step(
    facts: dict[str, str],
    has_pixels: bool,
    *,
    fp: BinaryIO,
    origin: int,
    identity: dict[str, str],
    implicit: bool,
    little: bool,
) -> CleanedPixels | None:
    """None when the image needs no check; the cleaning outcome when it passed.

    Raises ``DeidFailure`` with a quarantine reason when the pixels cannot be proven clean,
    or when they must be checked and no detector is installed (the old routing).
    """
    reason = pixel_check_reason(facts, has_pixels)
    if reason is None:
        return None
    if not available():
        raise DeidFailure(reason, "pixel data may contain burned-in text")
    return clean_pixels(
        source_window(fp, origin),
        burned_in_flag=facts.get("BurnedInAnnotation", ""),
        identity=identity,
        implicit=implicit,
        little=little,
    )


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
