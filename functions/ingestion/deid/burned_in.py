"""Which images must have their pixels checked for burned-in text.

Flags lie, so the flag alone never clears an image that usually has text in its pixels:
every ultrasound, secondary capture and screenshot, endoscopy/photography, angiography and
fluoroscopy, "other" capture, anything converted, is checked whatever its Burned In
Annotation says. Every other image (CT, MR, PT, NM, CR, DX, MG...) is checked too unless it
says ``NO``: a flag that is absent, empty or any other value is not a trusted "no". Only a
``NO`` on a reconstruction or detector modality, whose pixels do not come from a screen,
skips the detector. Segmentations and dose grids (SEG, RTDOSE) are not pictures: their
Pixel Data are computed labels or doses, which no device annotates. The reason returned is
the quarantine reason used when the check cannot run (no detector installed).
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
# Pixel Data that is not a picture: segment bitmaps, dose grids.
_NOT_PICTURES = frozenset({"SEG", "RTDOSE"})


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
    """True for the kinds of image that usually carry text in their pixels (screens)."""
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


def trusted_no(facts: dict[str, str]) -> bool:
    """A ``NO`` the engine believes: said by an image that does not come from a screen."""
    return facts.get("BurnedInAnnotation", "") == "NO" and not text_risk(facts)


def not_a_picture(facts: dict[str, str]) -> bool:
    """Segment bitmaps and dose grids: computed values, never annotated by a device."""
    return facts.get("Modality", "") in _NOT_PICTURES and not text_risk(facts)


def checked_for_flag_only(facts: dict[str, str]) -> bool:
    """Checked only because its flag is not a trusted NO (a CT, MR... with no flag, or odd)."""
    return (
        facts.get("BurnedInAnnotation", "") not in ("YES", "NO")
        and not text_risk(facts)
        and not not_a_picture(facts)
    )


def pixel_check_reason(facts: dict[str, str], has_pixels: bool) -> Rejection | None:
    """Why the pixels must be checked (the reason to quarantine if they cannot be), or None."""
    if not has_pixels:
        return None
    if facts.get("BurnedInAnnotation", "") == "YES":
        return Rejection.BURNED_IN_ANNOTATION
    if trusted_no(facts) or not_a_picture(facts):
        return None
    return Rejection.BURNED_IN_RISK
