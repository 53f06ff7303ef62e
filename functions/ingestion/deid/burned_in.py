"""Which images must have their pixels checked for burned-in text.

Flags lie, so the flag alone never clears an image: every image of a kind that usually has
text in its pixels (ultrasound, secondary captures and screenshots, endoscopy/photography,
angiography and fluoroscopy, "other" captures, anything converted) is checked whatever its
Burned In Annotation says, and so is any image that says YES. The reason returned is the
quarantine reason used when the check cannot run (no detector installed).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from .reasons import Rejection

_RISKY_MODALITIES = frozenset({"US", "IVUS", "XC", "ES", "GM", "OT", "SC", "DOC", "OP", "XA", "RF"})
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


def text_risk(facts: dict[str, str]) -> bool:
    """True for the kinds of image that usually carry text in their pixels."""
    sop_class = facts.get("SOPClassUID", "")
    image_type = facts.get("ImageType", "")
    return (
        facts.get("Modality", "") in _RISKY_MODALITIES
        or sop_class.startswith(_SECONDARY_CAPTURE_PREFIX)
        or sop_class in _ULTRASOUND_CLASSES
        or any(word in image_type for word in _SCREEN_WORDS)
        or facts.get("ConversionType", "") != ""
        or ("DERIVED" in image_type and "SECONDARY" in image_type and "CAPTURE" in image_type)
    )


def pixel_check_reason(facts: dict[str, str], has_pixels: bool) -> Rejection | None:
    """Why the pixels must be checked (the reason to quarantine if they cannot be), or None."""
    if not has_pixels:
        return None
    if facts.get("BurnedInAnnotation", "") == "YES":
        return Rejection.BURNED_IN_ANNOTATION
    if text_risk(facts):
        return Rejection.BURNED_IN_RISK
    return None
