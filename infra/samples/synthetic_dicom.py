"""Synthetic DICOM studies with planted PHI, for tests, benchmarks and the ingestion demo.

Every study carries identifying values where real tools tend to leak them: names and IDs in
free-text descriptions, private tags, nested sequences (several levels deep), overlays and
curves, SR content trees, and UIDs referenced across instances and series. Everything is
deterministic for a given ``seed`` and patient, so tests can assert on exact values; ids,
UIDs and the planted identity are drawn from the seed *and* the patient (name and id), so two
patients made with the same seed never share a patient id, a birth date or a UID.

    datasets = make_study(patient_name="DOE^JANE", n_series=2, n_instances=3)
    paths = write_study(datasets, Path("out"))
"""

from __future__ import annotations

import random
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
_SOP_CLASS = {"CT": CT_IMAGE, "MR": MR_IMAGE, "US": US_IMAGE, "OT": SECONDARY_CAPTURE}
PRIVATE_CREATOR = "SALUDTECH SYNTH"
_ROOT = "1.2.826.0.1.3680043.10.1347."  # test root: synthetic objects only


@dataclass(frozen=True, slots=True)
class PlantedPhi:
    """The identifying values planted in a study (what a leak checker must never find)."""

    patient_name: str
    patient_id: str
    birth_date: str
    study_date: str
    accession: str
    other_id: str
    address: str
    phone: str
    physician: str
    operator: str
    institution: str

    def values(self) -> list[str]:
        return [
            self.patient_name,
            self.patient_id,
            self.birth_date,
            self.study_date,
            self.accession,
            self.other_id,
            self.address,
            self.phone,
            self.physician,
            self.operator,
            self.institution,
        ]


def patient_random(seed: int, patient_name: str, patient_id: str | None) -> random.Random:
    """A generator of this patient's values: the same for the same (seed, patient), and
    different for another patient with the same seed (a string seed is hashed with SHA-512,
    so it is stable across processes)."""
    return random.Random(f"{seed}\x00{patient_name}\x00{patient_id or ''}")


def planted_phi(patient_name: str, patient_id: str, seed: int) -> PlantedPhi:
    """Derive the rest of a patient's planted identity from a seed and the patient."""
    rng = patient_random(seed, patient_name, patient_id)
    year = rng.randint(1940, 2000)
    return PlantedPhi(
        patient_name=patient_name,
        patient_id=patient_id,
        birth_date=f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
        study_date=f"2024{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
        accession=f"ACC{rng.randint(100000, 999999)}",
        other_id=f"MRN{rng.randint(1000000, 9999999)}",
        address=f"{rng.randint(1, 99)} CALLE MAYOR, ALPENDORF",
        phone=f"+41 79 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        physician="HOUSE^GREGORY",
        operator=f"TECH^ANNA{rng.randint(10, 99)}",
        institution="HOSPITAL SANTA LUCIA DE LOS ALPES",
    )


def _uid(rng: random.Random) -> str:
    return _ROOT + str(rng.getrandbits(96))


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _patient_and_study(ds: Dataset, phi: PlantedPhi, study_uid: str) -> None:
    ds.PatientName = phi.patient_name
    ds.PatientID = phi.patient_id
    ds.IssuerOfPatientID = "HSL-ALPES"
    ds.PatientBirthDate = phi.birth_date
    ds.PatientSex = "F"
    ds.PatientAge = "042Y"
    ds.PatientWeight = "61.5"
    ds.PatientAddress = phi.address
    ds.PatientTelephoneNumbers = phi.phone
    ds.OtherPatientIDsSequence = Sequence([_other_id(phi.other_id)])
    ds.PatientComments = f"Patient {phi.patient_name.replace('^', ' ')} id {phi.patient_id}"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = phi.study_date
    ds.StudyTime = "101500"
    ds.AccessionNumber = phi.accession
    ds.StudyID = "S" + phi.accession[-4:]
    ds.ReferringPhysicianName = phi.physician
    ds.StudyDescription = f"CHEST for {phi.patient_name.split('^')[0]} {phi.study_date}"
    ds.InstitutionName = phi.institution
    ds.InstitutionAddress = "1 HOSPITALWEG, ALPENSTADT"
    ds.StationName = "CT-ALPES-01"
    ds.OperatorsName = phi.operator
    ds.Manufacturer = "SALUDTECH"
    ds.ManufacturerModelName = "SYNTH-1"
    ds.DeviceSerialNumber = "SN-778899"
    ds.ProcedureCodeSequence = Sequence([_code("RPID16", "RADLEX", "CT CHEST")])
    request = Dataset()
    request.RequestedProcedureID = "RP" + phi.accession
    request.ScheduledProcedureStepID = "SPS" + phi.accession
    request.RequestedProcedureDescription = f"Chest CT {phi.patient_id}"
    ds.RequestAttributesSequence = Sequence([request])


def _other_id(value: str) -> Dataset:
    item = Dataset()
    item.PatientID = value
    item.IssuerOfPatientID = "OTHER-HOSPITAL"
    return item


def _contributing_equipment(phi: PlantedPhi) -> Dataset:
    """A sequence the table keeps, holding table attributes two levels down."""
    item = Dataset()
    item.Manufacturer = "SALUDTECH"
    item.InstitutionName = phi.institution
    item.OperatorsName = phi.operator
    item.ContributionDateTime = phi.study_date + "101500"
    item.ContributionDescription = f"Reprocessed for {phi.patient_name}"
    item.PurposeOfReferenceCodeSequence = Sequence([_code("109102", "DCM", "Processing Equipment")])
    nested = Dataset()
    nested.PersonName = phi.physician
    nested.PersonIdentificationCodeSequence = Sequence([_code(phi.other_id, "L", phi.patient_name)])
    item.OperatorIdentificationSequence = Sequence([nested])
    return item


def _add_overlay_and_curve(ds: Dataset, phi: PlantedPhi) -> None:
    ds.add_new(0x60000010, "US", ds.Rows)
    ds.add_new(0x60000011, "US", ds.Columns)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60000022, "LO", f"Overlay of {phi.patient_name}")
    ds.add_new(0x60003000, "OW", bytes(ds.Rows * ds.Columns // 8))
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x50002500, "LO", f"Curve label {phi.patient_id}")


def _add_private(ds: Dataset, phi: PlantedPhi) -> None:
    block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", phi.patient_name)
    block.add_new(0x02, "LO", phi.patient_id)
    block.add_new(0x03, "DS", "1.5")  # harmless value, used by safe-private tests
    item = Dataset()
    item.PatientName = phi.patient_name
    block.add_new(0x04, "SQ", Sequence([item]))
    block.add_new(0x05, "OB", bytes(64))


def _pixels(rows: int, cols: int, frames: int, rng: random.Random) -> bytes:
    size = rows * cols * 2 * frames
    # Cheap and deterministic; content is irrelevant because nothing decodes it.
    pattern = bytes(rng.getrandbits(8) for _ in range(256))
    return (pattern * (size // 256 + 1))[:size]


def _image(  # noqa: PLR0917, PLR0915 - a flat builder reads like the object it builds
    phi: PlantedPhi,
    modality: str,
    study_uid: str,
    series_uid: str,
    frame_of_ref: str,
    number: int,
    rows: int,
    cols: int,
    frames: int,
    rng: random.Random,
    references: SequenceOf[str],
    series_description: str,
    burned_in: str | None,
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = ENHANCED_CT if frames > 1 else _SOP_CLASS.get(modality, CT_IMAGE)
    ds.SOPInstanceUID = _uid(rng)
    ds.InstanceCreationDate = phi.study_date
    ds.InstanceCreationTime = "101600"
    ds.Modality = modality
    _patient_and_study(ds, phi, study_uid)
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 1
    ds.SeriesDate = phi.study_date
    ds.SeriesDescription = series_description
    ds.ProtocolName = f"PROTO {phi.patient_id}"
    ds.AcquisitionDate = phi.study_date
    ds.ContentDate = phi.study_date
    ds.ContentTime = "101700"
    ds.FrameOfReferenceUID = frame_of_ref
    ds.InstanceNumber = number
    ds.BodyPartExamined = "CHEST"
    ds.ImageComments = f"Seen by {phi.physician}; MRN {phi.other_id}"
    ds.ContributingEquipmentSequence = Sequence([_contributing_equipment(phi)])
    if references:
        ref_items = []
        for ref in references:
            item = Dataset()
            item.ReferencedSOPClassUID = ds.SOPClassUID
            item.ReferencedSOPInstanceUID = ref
            ref_items.append(item)
        ds.ReferencedImageSequence = Sequence(ref_items)
        ds.SourceImageSequence = Sequence(ref_items[:1])
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.AcquisitionDateTime = phi.study_date + "101500"
        shared = Dataset()
        shared.PixelMeasuresSequence = Sequence([Dataset()])
        shared.PixelMeasuresSequence[0].PixelSpacing = [0.5, 0.5]
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    _add_overlay_and_curve(ds, phi)
    _add_private(ds, phi)
    ds.PixelData = _pixels(rows, cols, frames, rng)
    ds["PixelData"].VR = "OW"
    return ds


def _sr(  # noqa: PLR0915 - a flat builder reads like the object it builds
    phi: PlantedPhi, study_uid: str, evidence: list[Dataset], rng: random.Random
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = _uid(rng)
    ds.Modality = "SR"
    _patient_and_study(ds, phi, study_uid)
    ds.SeriesInstanceUID = _uid(rng)
    ds.SeriesNumber = 99
    ds.InstanceNumber = 1
    ds.ContentDate = phi.study_date
    ds.ContentTime = "120000"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = phi.physician
    observer.VerifyingOrganization = phi.institution
    observer.VerificationDateTime = phi.study_date + "130000"
    observer.VerifyingObserverIdentificationCodeSequence = Sequence(
        [_code("DR42", "L", phi.physician)]
    )
    ds.VerifyingObserverSequence = Sequence([observer])
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
    ds.ContinuityOfContent = "SEPARATE"
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    text.TextValue = f"{phi.patient_name} ({phi.patient_id}) has a nodule, see {phi.accession}"
    person = Dataset()
    person.RelationshipType = "HAS OBS CONTEXT"
    person.ValueType = "PNAME"
    person.ConceptNameCodeSequence = Sequence([_code("121008", "DCM", "Person Observer Name")])
    person.PersonName = phi.physician
    date = Dataset()
    date.RelationshipType = "HAS OBS CONTEXT"
    date.ValueType = "DATE"
    date.ConceptNameCodeSequence = Sequence([_code("111060", "DCM", "Study Date")])
    date.Date = phi.study_date
    uidref = Dataset()
    uidref.RelationshipType = "HAS OBS CONTEXT"
    uidref.ValueType = "UIDREF"
    uidref.ConceptNameCodeSequence = Sequence([_code("110180", "DCM", "Study Instance UID")])
    uidref.UID = study_uid
    nested_container = Dataset()
    nested_container.RelationshipType = "CONTAINS"
    nested_container.ValueType = "CONTAINER"
    nested_container.ConceptNameCodeSequence = Sequence([_code("121070", "DCM", "Findings")])
    nested_container.ContinuityOfContent = "SEPARATE"
    nested_text = Dataset()
    nested_text.RelationshipType = "CONTAINS"
    nested_text.ValueType = "TEXT"
    nested_text.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    nested_text.TextValue = f"Compared with prior of {phi.birth_date} for {phi.other_id}"
    nested_container.ContentSequence = Sequence([nested_text])
    ds.ContentSequence = Sequence([text, person, date, uidref, nested_container])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence(evidence)
    _add_private(ds, phi)
    return ds


def _evidence(study_uid: str, series: list[tuple[str, list[Dataset]]]) -> list[Dataset]:
    study = Dataset()
    study.StudyInstanceUID = study_uid
    series_items = []
    for series_uid, instances in series:
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        sops = []
        for inst in instances:
            ref = Dataset()
            ref.ReferencedSOPClassUID = inst.SOPClassUID
            ref.ReferencedSOPInstanceUID = inst.SOPInstanceUID
            sops.append(ref)
        item.ReferencedSOPSequence = Sequence(sops)
        series_items.append(item)
    study.ReferencedSeriesSequence = Sequence(series_items)
    return [study]


def make_study(
    patient_name: str = "DOE^JANE",
    patient_id: str | None = None,
    n_series: int = 2,
    n_instances: int = 3,
    modality: str = "CT",
    *,
    rows: int = 64,
    cols: int = 64,
    frames: int = 1,
    with_sr: bool = True,
    burned_in: str | None = "NO",
    seed: int = 0,
) -> list[Dataset]:
    """A study of ``n_series`` x ``n_instances`` images (plus an SR) full of planted PHI.

    Instances reference each other (Referenced/Source Image Sequence) and the SR references
    every image, so referential integrity after de-identification can be checked.
    ``burned_in`` sets Burned In Annotation (None leaves it absent).
    """
    rng = patient_random(seed, patient_name, patient_id)
    pid = patient_id or f"PID{rng.randint(100000, 999999)}"
    phi = planted_phi(patient_name, pid, seed)
    study_uid = _uid(rng)
    frame_of_ref = _uid(rng)
    datasets: list[Dataset] = []
    series_refs: list[tuple[str, list[Dataset]]] = []
    for s in range(n_series):
        series_uid = _uid(rng)
        instances: list[Dataset] = []
        for i in range(n_instances):
            refs = [instances[-1].SOPInstanceUID] if instances else []
            ds = _image(
                phi,
                modality,
                study_uid,
                series_uid,
                frame_of_ref,
                i + 1,
                rows,
                cols,
                frames,
                rng,
                refs,
                f"Series {s + 1} of {patient_name}",
                burned_in,
            )
            instances.append(ds)
        series_refs.append((series_uid, instances))
        datasets.extend(instances)
    if with_sr:
        datasets.append(_sr(phi, study_uid, _evidence(study_uid, series_refs), rng))
    for ds in datasets:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.SourceApplicationEntityTitle = "HSL_PACS"
        ds.file_meta = meta
    return datasets


def write_study(
    datasets: SequenceOf[Dataset], directory: Path, transfer_syntax: str | None = None
) -> list[Path]:
    """Write each dataset as ``<directory>/<n>.dcm`` (names carry no PHI); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, ds in enumerate(datasets):
        if transfer_syntax is not None:
            ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
        path = directory / f"{n:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def make_corpus(
    directory: Path,
    n_patients: int = 10,
    n_series: int = 3,
    n_instances: int = 8,
    *,
    rows: int = 256,
    cols: int = 256,
) -> list[Path]:
    """A benchmark corpus: several patients, single- and multi-frame, with SRs."""
    paths: list[Path] = []
    for p in range(n_patients):
        study = make_study(
            patient_name=f"PATIENT{p:03d}^TEST",
            n_series=n_series,
            n_instances=n_instances,
            modality="CT" if p % 2 else "MR",
            rows=rows,
            cols=cols,
            frames=4 if p % 5 == 0 else 1,
            seed=1000 + p,
        )
        paths.extend(write_study(study, directory / f"p{p:03d}"))
    return paths


__all__ = [
    "PRIVATE_CREATOR",
    "PlantedPhi",
    "make_corpus",
    "make_study",
    "patient_random",
    "planted_phi",
    "write_study",
]
