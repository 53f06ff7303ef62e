"""The engine's own fail-closed check rejects any output holding an input identifying value."""

from __future__ import annotations

import pytest

from functions.ingestion.deid import DeidOptions, Rejection
from functions.ingestion.deid.leak_check import NeedleKind, NeedleSet

from .conftest import Run
from .helpers import minimal


def test_identifier_copied_into_a_kept_attribute_fails_closed(run: Run) -> None:
    # Body Part Examined is kept by the table; a patient id typed into it must not pass.
    result, out = run(minimal(BodyPartExamined="ID-778812"))
    assert out is None
    assert result.reason is Rejection.LEAK_DETECTED
    assert "ID-778812" not in result.detail
    assert "identifier" in result.detail


def test_name_in_a_kept_attribute_fails_closed(run: Run) -> None:
    result, _ = run(minimal(PositionReferenceIndicator="LUCIA PEREZ"))
    assert result.reason is Rejection.LEAK_DETECTED


def test_uid_in_a_kept_attribute_fails_closed(run: Run) -> None:
    ds = minimal()
    ds.add_new(0x0008010C, "UI", ds.StudyInstanceUID)  # Coding Scheme UID: kept as a definition
    result, _ = run(ds)
    assert result.reason is Rejection.LEAK_DETECTED


def test_original_date_survives_only_if_shifting_is_off_and_it_is_kept(run: Run) -> None:
    ds = minimal(StudyDate="20240110", PositionReferenceIndicator="20240110")
    result, _ = run(ds, DeidOptions(retain_longitudinal_modified_dates=True))
    assert result.reason is Rejection.LEAK_DETECTED


@pytest.mark.parametrize(
    ("blob", "hit"),
    [(b"xx^SMITH^yy", True), (b"BLACKSMITHS", False), (b"smith", True)],
)
def test_needles_are_token_bounded_and_case_insensitive(blob: bytes, hit: bool) -> None:
    needles = NeedleSet()
    needles.add_text(b"SMITH^JOHN", NeedleKind.NAME, "PatientName")
    assert (needles.first_hit(blob) is not None) is hit


def test_uid_needles_do_not_match_longer_uids() -> None:
    needles = NeedleSet()
    needles.add_text(b"1.2.3.4.5", NeedleKind.UID, "StudyInstanceUID")
    assert needles.first_hit(b"1.2.3.4.56") is None
    assert needles.first_hit(b"\x001.2.3.4.5\x00") is not None


def test_name_typed_into_a_code_string_fails_closed(run: Run) -> None:
    result, _ = run(minimal(BodyPartExamined="PEREZ"))
    assert result.reason is Rejection.LEAK_DETECTED


def test_name_word_equal_to_a_code_meaning_is_vocabulary(run: Run) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    code = Dataset()
    code.CodeValue = "T-D3000"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "Chest"
    ds = minimal(PatientName="CHEST^LUCIA", AnatomicRegionSequence=Sequence([code]))
    result, _ = run(ds)
    assert result.ok, result.detail
