"""Local rules of the walk, beside the table: what to do with what the table does not say.

The hardening of elements the table does not name, the change records, the kinds of
identifying value (needles), descriptor cleaning, the patient identity, UID syntax and the
code strings the result reports. The table's own actions are ``profile``/``actions``; the
walk itself is ``tree_walker``; the routing of pixels is ``burned_in``, the pixel step
``pixel_step``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag

from .actions import Action
from .leak_check import NeedleKind

UID_SYNTAX = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")

# The patient's identity (tag, keyword, kind): needles of the leak check, and the terms
# that clean descriptors.
IDENTITY: tuple[tuple[int, str, NeedleKind], ...] = (
    (0x00100010, "PatientName", NeedleKind.NAME),
    (0x00100020, "PatientID", NeedleKind.IDENTIFIER),
    (0x00101000, "OtherPatientIDs", NeedleKind.IDENTIFIER),
    (0x00101001, "OtherPatientNames", NeedleKind.NAME),
    (0x00101005, "PatientBirthName", NeedleKind.NAME),
    (0x00101060, "PatientMotherBirthName", NeedleKind.NAME),
    (0x00100030, "PatientBirthDate", NeedleKind.DATE),
    (0x00080050, "AccessionNumber", NeedleKind.IDENTIFIER),
    (0x00080090, "ReferringPhysicianName", NeedleKind.NAME),
    (0x00101040, "PatientAddress", NeedleKind.TEXT),
    (0x00102154, "PatientTelephoneNumbers", NeedleKind.IDENTIFIER),
    (0x00101090, "MedicalRecordLocator", NeedleKind.IDENTIFIER),
    (0x00200010, "StudyID", NeedleKind.IDENTIFIER),
)


def identity_pattern(texts: Iterable[str]) -> re.Pattern[str] | None:
    """The words (3+ characters) of the identity values, as one token-bounded pattern."""
    terms: set[str] = set()
    for text in texts:
        terms.update(p for p in re.split(r"[\\^=\s,]+", text) if len(p.strip()) >= 3)
    if not terms:
        return None
    alternation = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternation})(?![A-Za-z0-9])", re.IGNORECASE)


# A Code String (PS3.5 6.2): at most 16 characters of letters, digits, space and underscore.
_CODE_STRING = re.compile(r"^[A-Za-z0-9 _]{1,16}$")


def code_string(text: str, *, upper: bool = False) -> str | None:
    """The value of a CS attribute the result may report (Modality, Body Part), or None.

    A damaged header can make a CS element swallow its neighbours (a corrupted length), so
    a value that is not a valid code string is never reported: it may hold PHI.
    """
    value = text.strip()
    if upper:
        value = value.upper()
    return value if _CODE_STRING.match(value) else None


# Controlled vocabulary a name word may coincide with: Code Value, Coding Scheme Designator,
# Code Meaning, Long Code Value, URN Code Value, and Image Type's defined terms. Other CS
# values are not trusted as vocabulary: a name typed into one must still be caught.
_CODE_ITEM_TAGS = frozenset(
    {0x00080100, 0x00080102, 0x00080104, 0x00080119, 0x00080120, 0x00080008}
)
# The dummy of each text VR (D); tree_walker pads it to even length and writes zero for
# numbers.
_DUMMY: dict[str, str] = {
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "LO": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "PN": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "UR": "",
}
_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC", "AE", "CS", "PN"})
# Sequences whose items are codes that identify a person: a dummy code replaces them.
_PERSON_CODE_SEQUENCES = frozenset({0x00401101})
_PUBLIC_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC", "CS"})
_ID_SUFFIXES = ("ID", "IDs", "Number", "Numbers", "Identifier", "Locator")


@dataclass(frozen=True, slots=True)
class Change:
    """One attribute the profile changed: where (keywords), which tag, which action; no value."""

    path: str
    tag: str
    action: str


def change_at(path: list[str], tag: int, action: str) -> Change:
    """The Change of `tag` under the sequence path (keywords), as the walker records it."""
    keyword = "Private" if tag >> 16 & 1 else (keyword_of(tag) or "Unknown")
    return Change(">".join([*path, keyword]), f"({tag >> 16:04X},{tag & 0xFFFF:04X})", action)


_KEYWORDS: dict[int, str] = {}


def keyword_of(tag: int) -> str:
    """Keyword of a tag ("" when unknown), cached: it is asked for on every element."""
    keyword = _KEYWORDS.get(tag)
    if keyword is None:
        keyword = _KEYWORDS[tag] = keyword_for_tag(tag)
    return keyword


# UIDs outside the table that name a definition (class, syntax, scheme), not an instance.
_DEFINITION_UIDS = frozenset(
    {
        "PrivateInformationCreatorUID",
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "ContextUID",
        "MappingResourceUID",
        "CreatorVersionUID",
        "RetrieveLocationUID",
        "SegmentationTemplateUID",
        "ReferencedContentItem",
    }
)


def untabled_action(tag: int, vr: str, shifting: bool) -> Action | None:
    """Local hardening for an element the table does not list (None: keep it).

    The table assumes it lists every identifying attribute, but real files carry attributes
    it does not name: unknown public tags (vendor misuse, corruption) are dropped; person
    names get a dummy; instance UIDs are remapped like the table's own (so references hold);
    dates are shifted with the modified-dates option and otherwise replaced by a dummy.
    """
    keyword = keyword_of(tag)
    if not keyword:
        return Action.REMOVE
    if vr == "PN":
        return Action.DUMMY
    if vr == "UI":
        if "Class" in keyword or "TransferSyntax" in keyword or keyword in _DEFINITION_UIDS:
            return None
        return Action.UID
    if vr in ("DA", "DT"):
        return Action.CLEAN if shifting else Action.DUMMY
    return None


_KIND_CACHE: dict[tuple[int, str, bool], NeedleKind | None] = {}


def _needle_kind(tag: int, vr: str, action: Action) -> NeedleKind | None:
    """What kind of identifying value an element holds (cached: asked for every removal)."""
    key = (tag, vr, action is Action.UID or action is Action.DUMMY)
    try:
        return _KIND_CACHE[key]
    except KeyError:
        kind = _KIND_CACHE[key] = _compute_needle_kind(tag, vr, action)
        return kind


def _compute_needle_kind(tag: int, vr: str, action: Action) -> NeedleKind | None:
    if vr == "PN":
        return NeedleKind.NAME
    if vr in ("DA", "DT"):
        return NeedleKind.DATE
    if vr == "UI":
        return NeedleKind.UID if action in (Action.UID, Action.DUMMY) else None
    if vr in ("LO", "SH", "AE", "LT", "ST", "UT", "UC"):
        keyword = keyword_of(tag)
        if keyword.endswith(_ID_SUFFIXES):
            return NeedleKind.IDENTIFIER
        return NeedleKind.TEXT
    return None


_CLEAN_PATTERNS = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{4,}|[\w.+-]+@[\w-]+\.[\w.]+", re.ASCII
)


def clean_text(value: str, terms: re.Pattern[str] | None) -> str:
    """Clean a descriptor: drop identity terms of this patient, dates, long numbers, emails."""
    value = _CLEAN_PATTERNS.sub("*", value)
    return terms.sub("*", value) if terms is not None else value
