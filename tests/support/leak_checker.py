"""Independent leak checker for de-identified DICOM, written apart from the engine.

It shares no code with ``functions.ingestion.deid``: it reads the input *fully* with pydicom
(pixel data included, every sequence decoded), gathers every identifying value by its own
rules, then decodes the output element by element at every depth and reports any identifying
value it finds, plus structural violations (private tags, overlays, curves, file meta,
missing provenance, invalid UIDs). Tests fail on any finding.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

REMAPPED_UIDS = frozenset(
    {
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "FrameOfReferenceUID",
        "MediaStorageSOPInstanceUID",
    }
)
UID_SYNTAX = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
STANDARD_ROOT = "1.2.840.10008."

# Attributes whose value identifies the patient, a visit, an order or a person.
IDENTIFYING_KEYWORDS = frozenset(
    {
        "PatientID",
        "OtherPatientIDs",
        "AccessionNumber",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "MedicalRecordLocator",
        "RequestedProcedureID",
        "ScheduledProcedureStepID",
        "PerformedProcedureStepID",
        "AdmissionID",
        "ServiceEpisodeID",
        "StudyID",
        "IssuerOfPatientID",
        "InsurancePlanIdentification",
        "PatientComments",
        "ImageComments",
        "StudyComments",
        "AdditionalPatientHistory",
        "TextValue",
        "ContributionDescription",
        "RequestedProcedureDescription",
        "ProtocolName",
        "StudyDescription",
        "SeriesDescription",
    }
)
INSTITUTION_KEYWORDS = frozenset(
    {"InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName"}
)
DEVICE_KEYWORDS = frozenset({"StationName", "DeviceSerialNumber"})
# Coded vocabulary: a patient name equal to a code word is a coincidence, not a leak.
DESCRIPTOR_KEYWORDS = frozenset(
    {
        "PatientComments",
        "ImageComments",
        "StudyComments",
        "AdditionalPatientHistory",
        "TextValue",
        "ContributionDescription",
        "RequestedProcedureDescription",
        "ProtocolName",
        "StudyDescription",
        "SeriesDescription",
    }
)
# UIDs that name a definition (a coding scheme, a software version), not an instance.
DEFINITION_UID_KEYWORDS = frozenset(
    {
        "CodingSchemeUID",
        "CreatorVersionUID",
        "MappingResourceUID",
        "ContextGroupExtensionCreatorUID",
        "PrivateInformationCreatorUID",
        "ImplementationClassUID",
        "TransferSyntaxUID",
    }
)
CODED_KEYWORDS = frozenset(
    {"CodeValue", "CodingSchemeDesignator", "CodeMeaning", "LongCodeValue", "URNCodeValue"}
)


@dataclass
class Finding:
    """One problem in an output file (values shown: the test corpus is synthetic/public)."""

    kind: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.where}: {self.what}"


@dataclass
class Identity:
    """Everything identifying found in an input."""

    words: set[str] = field(default_factory=set)  # token-bounded, case-insensitive
    texts: set[str] = field(default_factory=set)  # long free text, substring
    uids: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # subset of words that come from PN values
    retained: dict[str, set[str]] = field(default_factory=dict)  # path -> input values


def _values(elem: DataElement) -> list[str]:
    value = elem.value
    if value is None or elem.VR == "SQ":
        return []
    if isinstance(value, (MultiValue, list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, bytes):
        return []
    text = str(value).strip()
    return [text] if text else []


def _walk(ds: Dataset, path: str = "") -> Iterator[tuple[str, DataElement]]:
    for elem in ds:
        where = f"{path}/{elem.keyword or elem.tag}"
        yield where, elem
        if elem.VR == "SQ" and elem.value:
            for n, item in enumerate(elem.value):
                yield from _walk(item, f"{where}[{n}]")


def read_full(source: bytes | Path) -> Dataset:
    data = source.read_bytes() if isinstance(source, Path) else source
    return pydicom.dcmread(io.BytesIO(data), force=True)


def collect_identity(
    ds: Dataset,
    keep_institution: bool = False,
    keep_device: bool = False,
    keep_dates: bool = False,
    clean_descriptors: bool = False,
) -> Identity:
    """Gather names, IDs, free text, instance UIDs and dates of the input, at every depth."""
    ident = Identity()
    skip: set[str] = set()
    if keep_institution:
        skip |= INSTITUTION_KEYWORDS
    if keep_device:
        skip |= DEVICE_KEYWORDS
    if clean_descriptors:
        skip |= DESCRIPTOR_KEYWORDS
    for where, elem in _walk(ds):
        ident.retained.setdefault(where, set()).update(v.upper() for v in _values(elem))
        if elem.tag.is_private or elem.keyword in skip:
            continue
        for value in _values(elem):
            if elem.VR == "PN":
                for part in re.split(r"[\^=\s]+", value):
                    if len(part) >= 3:
                        ident.words.add(part.upper())
                        ident.names.add(part.upper())
            elif elem.VR in ("DA", "DT") and not keep_dates:
                if len(value) >= 8 and value[:8].isdigit() and value[:8] != "19000101":
                    ident.dates.add(value[:8])
            elif elem.VR == "UI":
                if (
                    len(value) >= 5
                    and not value.startswith(STANDARD_ROOT)
                    and ("ClassUID" not in elem.keyword)
                    and (elem.keyword not in DEFINITION_UID_KEYWORDS)
                ):
                    ident.uids.add(value)
            elif elem.keyword in IDENTIFYING_KEYWORDS | INSTITUTION_KEYWORDS | DEVICE_KEYWORDS:
                if len(value) >= 4:
                    ident.words.add(value.upper())
            elif elem.VR in ("LT", "ST", "UT") and len(value) >= 12 and not clean_descriptors:
                ident.texts.add(value.upper())
    return ident


def check_output(
    output: bytes | Path,
    ident: Identity,
    allowed_private_creators: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Every identifying value and structural violation found in a de-identified output."""
    data = output.read_bytes() if isinstance(output, Path) else output
    out = pydicom.dcmread(io.BytesIO(data))
    findings: list[Finding] = []
    meta = out.file_meta
    if meta.get("MediaStorageSOPInstanceUID") != out.get("SOPInstanceUID"):
        findings.append(Finding("file_meta", "MediaStorageSOPInstanceUID", "differs"))
    if out.get("PatientIdentityRemoved") != "YES":
        findings.append(Finding("provenance", "PatientIdentityRemoved", "not YES"))
    if "DeidentificationMethodCodeSequence" not in out:
        findings.append(Finding("provenance", "DeidentificationMethodCodeSequence", "missing"))
    word_patterns = [
        (w, re.compile(rf"(?<![A-Z0-9_]){re.escape(w)}(?![A-Z0-9_])")) for w in ident.words
    ]
    elements = [*_walk(meta, "meta"), *_walk(out)]
    for where, elem in elements:
        group = elem.tag.group
        if elem.tag.is_private:
            creator_ok = False
            if elem.tag.is_private_creator:
                creator_ok = str(elem.value).strip() in allowed_private_creators
            else:
                creator = elem.private_creator or ""
                creator_ok = bool(creator) and creator.strip() in allowed_private_creators
            if not creator_ok:
                findings.append(Finding("private_tag", where, str(elem.tag)))
            continue
        if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            findings.append(Finding("curve_or_overlay", where, str(elem.tag)))
            continue
        if elem.tag == 0x7FE00010:
            continue
        for value in _values(elem):
            upper = value.upper()
            if elem.VR == "UI":
                generated = value.startswith("2.25.") or elem.keyword in REMAPPED_UIDS
                if generated and (len(value) > 64 or not UID_SYNTAX.match(value)):
                    findings.append(Finding("invalid_uid", where, value))
                if value in ident.uids:
                    findings.append(Finding("uid", where, value))
                continue
            for date in ident.dates:
                if date in upper:
                    findings.append(Finding("date", where, date))
            if elem.keyword in CODED_KEYWORDS or elem.VR == "CS":
                continue
            # The same value at the same place in the input, in an attribute that is not
            # identifying, was retained by design (e.g. a position reference equal to the
            # study description). Names are never exempted.
            by_design = upper in ident.retained.get(where, ()) and (
                elem.keyword not in IDENTIFYING_KEYWORDS and elem.VR != "PN"
            )
            for word, pattern in word_patterns:
                if (word in ident.names or not by_design) and pattern.search(upper):
                    findings.append(Finding("identifier_or_name", where, word))
            for text in ident.texts:
                if not by_design and text in upper:
                    findings.append(Finding("free_text", where, text[:40]))
    return findings
