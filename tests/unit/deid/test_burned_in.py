"""Images that may carry burned-in text are routed to quarantine with a reason."""

from __future__ import annotations

import pytest

from functions.ingestion.deid import Rejection

from .conftest import Run
from .helpers import minimal

US = "1.2.840.10008.5.1.4.1.1.6.1"
SC = "1.2.840.10008.5.1.4.1.1.7"


def image(**attrs: object) -> object:
    ds = minimal(Rows=2, Columns=2, BitsAllocated=8, BitsStored=8, HighBit=7,
                 SamplesPerPixel=1, PixelRepresentation=0,
                 PhotometricInterpretation="MONOCHROME2", **attrs)
    ds.PixelData = b"\x00" * 4
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    return ds


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        ({"BurnedInAnnotation": "YES"}, Rejection.BURNED_IN_ANNOTATION),
        ({"Modality": "US", "SOPClassUID": US}, Rejection.BURNED_IN_RISK),
        ({"Modality": "OT", "SOPClassUID": SC}, Rejection.BURNED_IN_RISK),
        ({"ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]}, Rejection.BURNED_IN_RISK),
        ({"ConversionType": "WSD"}, Rejection.BURNED_IN_RISK),
    ],
)
def test_burned_in_risks_are_quarantined(run: Run, attrs: dict[str, object],
                                         reason: Rejection) -> None:
    result, out = run(image(**attrs))
    assert out is None
    assert result.reason is reason
    assert result.quarantined
    assert not result.ok


@pytest.mark.parametrize(
    "attrs",
    [{}, {"Modality": "US", "SOPClassUID": US, "BurnedInAnnotation": "NO"},
     {"ImageType": ["DERIVED", "SECONDARY", "MPR"]}],
)
def test_images_without_risk_pass(run: Run, attrs: dict[str, object]) -> None:
    result, out = run(image(**attrs))
    assert result.ok, result.reason
    assert out is not None


def test_objects_without_pixels_are_never_routed(run: Run) -> None:
    result, _ = run(minimal(Modality="US", SOPClassUID=US))
    assert result.ok
