"""What the pixel cleaner did to one image: PHI-free, for the catalogue and the event."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CleaningMethod(StrEnum):
    """How the pixels of an image were handled (stable strings)."""

    # Text was detected, masked, and the masked image checked again: pixels rewritten.
    OCR_MASKED = "ocr_masked"
    # The detector found no text: pixel bytes copied through untouched.
    OCR_NO_TEXT = "ocr_no_text"


@dataclass(frozen=True, slots=True)
class PixelCleaning:
    """Summary of the burned-in text check of one image."""

    method: CleaningMethod
    detector: str
    frames: int
    frames_checked: int
    regions_masked: int
    masked_fraction: float  # share of each frame's pixels painted over
    verification_rounds: int
    verified: bool
    source_transfer_syntax: str
    lossy_source: bool

    @property
    def pixels_rewritten(self) -> bool:
        return self.method is CleaningMethod.OCR_MASKED

    def as_dict(self) -> dict[str, object]:
        return {
            "method": self.method.value,
            "detector": self.detector,
            "frames": self.frames,
            "frames_checked": self.frames_checked,
            "regions_masked": self.regions_masked,
            "masked_fraction": round(self.masked_fraction, 6),
            "verification_rounds": self.verification_rounds,
            "verified": self.verified,
            "pixels_rewritten": self.pixels_rewritten,
            "source_transfer_syntax": self.source_transfer_syntax,
            "lossy_source": self.lossy_source,
        }
