"""Each profile option on purpose-built datasets, with its CID 7050 code in the output."""

from __future__ import annotations

from datetime import date

from functions.ingestion.deid import DeidOptions, SafePrivateTag
from functions.ingestion.deid.pseudonyms import Pseudonymizer

from .conftest import Run
from .helpers import CENTER, KEY, minimal


def _codes(out: object) -> list[str]:
    return [i.CodeValue for i in out.DeidentificationMethodCodeSequence]  # type: ignore[attr-defined]


def _as_date(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def test_modified_dates_shift_by_a_keyed_per_patient_offset(run: Run) -> None:
    options = DeidOptions(retain_longitudinal_modified_dates=True)
    ds = minimal(
        StudyDate="20240110",
        AcquisitionDate="20240112",
        AcquisitionDateTime="20240112093000.5",
        StudyTime="093000",
    )
    result, out = run(ds, options)
    assert out is not None
    offset = Pseudonymizer(KEY).date_offset_days(CENTER, "pid:ID-778812")
    assert (_as_date("20240110") - _as_date(out.StudyDate)).days == offset
    # Intervals within the patient are kept exactly, times are untouched.
    assert (_as_date(out.AcquisitionDate) - _as_date(out.StudyDate)).days == 2
    assert out.AcquisitionDateTime.endswith("093000.5")
    assert out.StudyTime == "093000"
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert _codes(out) == ["113100", "113107"]
    assert "retain_modified_dates" in result.provenance.options


def test_different_patients_get_different_shifts(run: Run) -> None:
    options = DeidOptions(retain_longitudinal_modified_dates=True)
    _, a = run(minimal(StudyDate="20240110", PatientID="A-1"), options)
    _, b = run(minimal(StudyDate="20240110", PatientID="B-2"), options)
    assert a is not None and b is not None
    assert a.StudyDate != b.StudyDate


def test_without_the_option_dates_are_removed(run: Run) -> None:
    _, out = run(minimal(StudyDate="20240110", AcquisitionDate="20240112"))
    assert out is not None
    assert out.StudyDate == ""
    assert "AcquisitionDate" not in out


def test_retain_patient_characteristics(run: Run) -> None:
    ds = minimal(PatientAge="042Y", PatientSex="F", PatientWeight="61", PatientSize="1.7")
    _, kept = run(ds, DeidOptions(retain_patient_characteristics=True))
    _, basic = run(ds)
    assert kept is not None and basic is not None
    assert (kept.PatientAge, kept.PatientSex, kept.PatientWeight) == ("042Y", "F", 61)
    assert "PatientAge" not in basic and basic.PatientSex == ""
    assert _codes(kept) == ["113100", "113108"]


def test_retain_device_identity(run: Run) -> None:
    ds = minimal(StationName="CT01", DeviceSerialNumber="SN-1")
    _, out = run(ds, DeidOptions(retain_device_identity=True))
    assert out is not None
    assert (out.StationName, out.DeviceSerialNumber) == ("CT01", "SN-1")
    assert _codes(out) == ["113100", "113109"]


def test_retain_institution_identity(run: Run) -> None:
    ds = minimal(InstitutionName="HOSPITAL SAN JUAN")
    _, out = run(ds, DeidOptions(retain_institution_identity=True))
    assert out is not None
    assert out.InstitutionName == "HOSPITAL SAN JUAN"
    assert _codes(out) == ["113100", "113112"]


def test_clean_descriptors(run: Run) -> None:
    ds = minimal(StudyDescription="Chest for Perez 12/01/2024", ImageComments="lucia@example.org")
    _, out = run(ds, DeidOptions(clean_descriptors=True))
    assert out is not None
    assert out.StudyDescription == "Chest for * *"
    assert out.ImageComments == "*"
    assert _codes(out) == ["113100", "113105"]


def test_retain_safe_private_keeps_only_allow_listed_elements(run: Run) -> None:
    ds = minimal()
    block = ds.private_block(0x0019, "ACME SAFE", create=True)
    block.add_new(0x10, "DS", "2.5")
    block.add_new(0x11, "LO", "PEREZ^LUCIA")
    other = ds.private_block(0x0021, "OTHER VENDOR", create=True)
    other.add_new(0x10, "DS", "7")
    allow = frozenset({SafePrivateTag(0x0019, "ACME SAFE", 0x10)})
    _, out = run(ds, DeidOptions(retain_safe_private=allow))
    assert out is not None
    private = {e.tag: e.value for e in out if e.tag.is_private}
    kept_block = out.private_block(0x0019, "ACME SAFE")
    assert out[kept_block.get_tag(0x10)].value == 2.5
    assert kept_block.get_tag(0x11) not in out
    assert all(tag.group == 0x0019 for tag in private)
    assert _codes(out) == ["113100", "113111"]


def test_safe_private_spec_parsing() -> None:
    spec = SafePrivateTag.parse("0019,SIEMENS MR HEADER,0C")
    assert spec == SafePrivateTag(0x0019, "SIEMENS MR HEADER", 0x0C)
