"""Which images have their pixels checked for burned-in text, whatever their flag says.

The pixels here are blank (2x2, nothing to read): a checked image is released with a
"no text" cleaning record, except when its header says text is burned in. Only a NO on an
image that does not come from a screen (CT, MR, CR...) skips the check; CT and MR slices
with no flag are checked, their scanner text masked and their anatomy left alone.
"""

from __future__ import annotations

import io
import itertools

import pydicom
import pytest
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from functions.ingestion.deid import Deidentifier, Rejection
from functions.ingestion.deid.burned_in import checked_for_flag_only, pixel_check_reason
from functions.ingestion.deid.pixels import CleaningMethod
from functions.ingestion.deid.policy import code_string
from infra.samples.burned_in import make_tomo_case

from .conftest import Run
from .helpers import CENTER, KEY, corpus_file, minimal
from .pixel_checks import uncovered_boxes

US = "1.2.840.10008.5.1.4.1.1.6.1"
SC = "1.2.840.10008.5.1.4.1.1.7"


def image(**attrs: object) -> object:
    ds = minimal(
        Rows=2,
        Columns=2,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        SamplesPerPixel=1,
        PixelRepresentation=0,
        PhotometricInterpretation="MONOCHROME2",
        **attrs,
    )
    ds.PixelData = b"\x00" * 4
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    return ds


def test_flag_yes_with_nothing_found_is_quarantined(run: Run) -> None:
    result, out = run(image(BurnedInAnnotation="YES"))
    assert out is None
    assert result.reason is Rejection.BURNED_IN_ANNOTATION
    assert result.quarantined
    assert not result.ok


@pytest.mark.parametrize(
    "attrs",
    [
        {"Modality": "US", "SOPClassUID": US},
        {"Modality": "US", "SOPClassUID": US, "BurnedInAnnotation": "NO"},
        {"Modality": "OT", "SOPClassUID": SC},
        {"Modality": "XA"},
        {"ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]},
        {"ConversionType": "WSD"},
    ],
)
def test_risky_images_are_checked_whatever_their_flag(run: Run, attrs: dict[str, object]) -> None:
    result, out = run(image(**attrs))
    assert result.ok, result.reason
    assert out is not None
    assert result.pixel_cleaning is not None
    assert result.pixel_cleaning.method is CleaningMethod.OCR_NO_TEXT
    assert out.BurnedInAnnotation == "NO"


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"Modality": "CT"},
        {"Modality": "MR", "BurnedInAnnotation": ""},
        {"Modality": "CR", "BurnedInAnnotation": "UNKNOWN"},
        {"ImageType": ["DERIVED", "SECONDARY", "MPR"]},
    ],
)
def test_images_without_a_trusted_no_are_checked(run: Run, attrs: dict[str, object]) -> None:
    result, out = run(image(**attrs))
    assert result.ok, result.reason
    assert out is not None
    assert result.pixel_cleaning is not None
    assert result.pixel_cleaning.method is CleaningMethod.OCR_NO_TEXT
    assert out.BurnedInAnnotation == "NO"


@pytest.mark.parametrize(
    "attrs",
    [
        {"BurnedInAnnotation": "NO"},
        {"Modality": "CT", "BurnedInAnnotation": "NO"},
        {"Modality": "MG", "BurnedInAnnotation": "NO", "ImageType": ["DERIVED", "SECONDARY"]},
        {"Modality": "SEG"},
        {"Modality": "RTDOSE"},
    ],
)
def test_a_trusted_no_and_images_that_are_no_pictures_are_not_checked(
    run: Run, attrs: dict[str, object]
) -> None:
    result, out = run(image(**attrs))
    assert result.ok, result.reason
    assert out is not None
    assert result.pixel_cleaning is None


@pytest.mark.parametrize(
    ("facts", "reason", "flag_only"),
    [
        ({"Modality": "CT"}, Rejection.BURNED_IN_RISK, True),
        ({"Modality": "CT", "BurnedInAnnotation": "NO"}, None, False),
        ({"Modality": "CT", "BurnedInAnnotation": "YES"}, Rejection.BURNED_IN_ANNOTATION, False),
        ({"Modality": "US", "BurnedInAnnotation": "NO"}, Rejection.BURNED_IN_RISK, False),
        ({"Modality": "SEG", "BurnedInAnnotation": "YES"}, Rejection.BURNED_IN_ANNOTATION, False),
        ({"Modality": "SEG"}, None, False),
    ],
)
def test_routing(facts: dict[str, str], reason: Rejection | None, flag_only: bool) -> None:
    assert pixel_check_reason(facts, True) is reason
    assert pixel_check_reason(facts, False) is None
    assert checked_for_flag_only(facts) is flag_only


@pytest.mark.parametrize(
    ("kind", "syntax", "size"),
    [("ct", ExplicitVRLittleEndian, 320), ("ct", RLELossless, 320), ("mr", JPEGLSLossless, 256)],
)
def test_ct_and_mr_without_a_flag_have_their_scanner_text_masked_and_anatomy_kept(
    kind: str, syntax: UID, size: int
) -> None:
    deid = Deidentifier(KEY)
    with_text = make_tomo_case(1, kind=kind, syntax=syntax, rows=size, cols=size)
    out = io.BytesIO()
    result = deid.deidentify(with_text.data, CENTER, out)
    assert result.ok, (result.reason, result.detail)
    assert result.pixel_cleaning is not None
    assert result.pixel_cleaning.method is CleaningMethod.OCR_MASKED
    assert uncovered_boxes(with_text, out.getvalue()) == []
    # Text-free slices of the same kind: checked, nothing found, pixel bytes untouched.
    blank = make_tomo_case(2, kind=kind, syntax=syntax, with_text=False, rows=size, cols=size)
    out = io.BytesIO()
    result = deid.deidentify(blank.data, CENTER, out)
    assert result.ok, (result.reason, result.detail)
    assert result.pixel_cleaning is not None
    assert result.pixel_cleaning.method is CleaningMethod.OCR_NO_TEXT
    before = pydicom.dcmread(io.BytesIO(blank.data)).PixelData
    assert pydicom.dcmread(io.BytesIO(out.getvalue())).PixelData == before


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_RLE.dcm", "693_UNCI.dcm"])
def test_real_ct_and_mr_without_a_flag_are_checked_and_left_untouched(name: str) -> None:
    data = corpus_file(name).read_bytes()
    out = io.BytesIO()
    result = Deidentifier(KEY).deidentify(data, CENTER, out)
    assert result.ok, (result.reason, result.detail)
    assert result.pixel_cleaning is not None
    assert result.pixel_cleaning.method is CleaningMethod.OCR_NO_TEXT
    output = pydicom.dcmread(io.BytesIO(out.getvalue()))
    assert output.PixelData == pydicom.dcmread(io.BytesIO(data)).PixelData
    assert output.BurnedInAnnotation == "NO"


def test_a_damaged_code_string_is_never_reported() -> None:
    assert code_string(" ct ", upper=True) == "CT"
    assert code_string("CHEST") == "CHEST"
    assert code_string("CT\x00\x10HOSPITAL SANTA LUCIA") is None
    assert code_string("") is None


def test_objects_without_pixels_are_never_routed(run: Run) -> None:
    result, _ = run(minimal(Modality="US", SOPClassUID=US))
    assert result.ok


def test_large_frames_are_read_in_overlapping_tiles_that_cover_them() -> None:
    from functions.ingestion.deid.pixels import detector

    for length in (1, detector.TILE, detector.TILE + 1, 1955, 4096):
        starts = detector._tiles(length)
        assert starts[0] == 0 and starts[-1] + min(length, detector.TILE) == length
        for a, b in itertools.pairwise(starts):
            assert 0 < b - a <= detector.TILE - 64  # neighbours overlap by 64 px at least


def test_text_on_a_large_radiograph_sized_slice_is_found_across_tiles() -> None:
    case = make_tomo_case(5, rows=1400, cols=1400)
    out = io.BytesIO()
    result = Deidentifier(KEY).deidentify(case.data, CENTER, out)
    assert result.ok, (result.reason, result.detail)
    assert uncovered_boxes(case, out.getvalue()) == []
