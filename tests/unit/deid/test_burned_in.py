"""Which images have their pixels checked for burned-in text, whatever their flag says.

The pixels here are blank (2x2, nothing to read): a checked image is released with a
"no text" cleaning record, except when its header says text is burned in.
"""

from __future__ import annotations

import pytest

from functions.ingestion.deid import Rejection
from functions.ingestion.deid.pixels import CleaningMethod

from .conftest import Run
from .helpers import minimal

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
    [{}, {"BurnedInAnnotation": "NO"}, {"ImageType": ["DERIVED", "SECONDARY", "MPR"]}],
)
def test_other_images_are_not_checked(run: Run, attrs: dict[str, object]) -> None:
    result, out = run(image(**attrs))
    assert result.ok, result.reason
    assert out is not None
    assert result.pixel_cleaning is None


def test_objects_without_pixels_are_never_routed(run: Run) -> None:
    result, _ = run(minimal(Modality="US", SOPClassUID=US))
    assert result.ok
