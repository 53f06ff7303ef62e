"""Route images that may carry burned-in text to quarantine instead of passing them.

We never decode pixels, so text drawn into the image cannot be removed here. An image is
routed when it says so (Burned In Annotation = YES) or when it does not say NO and comes
from a kind of acquisition that usually has text in the pixels: ultrasound, secondary
captures and screenshots, endoscopy/photography, and "other" captures.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from .reasons import Rejection

_RISKY_MODALITIES = frozenset({"US", "IVUS", "XC", "ES", "GM", "OT", "SC", "DOC", "OP"})
_SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
_ULTRASOUND_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.6.1",
        "1.2.840.10008.5.1.4.1.1.6.2",
        "1.2.840.10008.5.1.4.1.1.3.1",
        "1.2.840.10008.5.1.4.1.1.6",
        "1.2.840.10008.5.1.4.1.1.3",
    }
)
_SCREEN_WORDS = ("SCREEN", "SCREENSHOT", "SCREEN SAVE")


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value).upper()
    return str(value).strip().upper()


def burned_in_reason(ds: Dataset, has_pixels: bool) -> Rejection | None:
    """The quarantine reason for an image with a burned-in text risk, else None."""
    if not has_pixels:
        return None
    flag = _text(ds, "BurnedInAnnotation")
    if flag == "YES":
        return Rejection.BURNED_IN_ANNOTATION
    if flag == "NO":
        return None
    sop_class = _text(ds, "SOPClassUID")
    image_type = _text(ds, "ImageType")
    if (
        _text(ds, "Modality") in _RISKY_MODALITIES
        or sop_class.startswith(_SECONDARY_CAPTURE_PREFIX)
        or sop_class in _ULTRASOUND_CLASSES
        or any(word in image_type for word in _SCREEN_WORDS)
        or "ConversionType" in ds
        or ("DERIVED" in image_type and "SECONDARY" in image_type and "CAPTURE" in image_type)
    ):
        return Rejection.BURNED_IN_RISK
    return None
