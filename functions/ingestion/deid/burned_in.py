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


FACT_KEYWORDS = ("BurnedInAnnotation", "SOPClassUID", "ImageType", "Modality", "ConversionType")


def facts_from_dataset(ds: Dataset) -> dict[str, str]:
    """The attributes the routing needs, upper-cased text ("" when absent)."""
    facts: dict[str, str] = {}
    for keyword in FACT_KEYWORDS:
        value = ds.get(keyword)
        if value is None:
            facts[keyword] = ""
        elif isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            facts[keyword] = "\\".join(str(v) for v in value).upper()
        else:
            text = str(value).strip().upper()
            facts[keyword] = text or ("PRESENT" if keyword == "ConversionType" else "")
    return facts


def burned_in_reason(facts: dict[str, str], has_pixels: bool) -> Rejection | None:
    """The quarantine reason for an image with a burned-in text risk, else None."""
    if not has_pixels:
        return None
    flag = facts.get("BurnedInAnnotation", "")
    if flag == "YES":
        return Rejection.BURNED_IN_ANNOTATION
    if flag == "NO":
        return None
    sop_class = facts.get("SOPClassUID", "")
    image_type = facts.get("ImageType", "")
    if (
        facts.get("Modality", "") in _RISKY_MODALITIES
        or sop_class.startswith(_SECONDARY_CAPTURE_PREFIX)
        or sop_class in _ULTRASOUND_CLASSES
        or any(word in image_type for word in _SCREEN_WORDS)
        or facts.get("ConversionType", "") != ""
        or ("DERIVED" in image_type and "SECONDARY" in image_type and "CAPTURE" in image_type)
    ):
        return Rejection.BURNED_IN_RISK
    return None
