"""An ultrasound with the patient's name burned into its pixels: ingestion releases it cleaned
and says so in the catalogue and the event; one without text is released untouched."""

from __future__ import annotations

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.ingestion.deid.pixels.detector import available as detector_available
from functions.ingestion.messages import NAMES
from infra.samples.burned_in import make_case
from tests.support.functions import function_client
from tests.unit.ingestion.helpers import deliver_upload, upload

pytestmark = pytest.mark.skipif(
    not detector_available(), reason="the OCR detector cannot load on this machine"
)


def test_burned_in_text_is_cleaned_and_the_cleaning_catalogued(platform: InMemoryPlatform) -> None:
    case = make_case(31, kind="ultrasound", flag="NO", with_text=True)
    deliver_upload(upload(platform, "center-1/us.dcm", case.data))
    [event] = platform.publisher.messages(NAMES.events_topic)
    assert event.type == "co.saludtech.ingestion.image.anonymized.v1"
    cleaning = event.payload.model_dump()["pixel_cleaning"]
    assert cleaning["method"] == "ocr_masked" and cleaning["verified"]
    assert cleaning["regions_masked"] >= 1 and cleaning["pixels_rewritten"]
    record = function_client("ingestion_queries_http").get(f"/images/{event.subject}").get_json()
    assert record["pixel_cleaning"] == cleaning
    for value in case.identity.values():
        assert value not in event.payload.model_dump_json()


def test_an_image_without_text_is_checked_and_released_untouched(
    platform: InMemoryPlatform,
) -> None:
    case = make_case(32, kind="ultrasound", flag="NO", with_text=False)
    deliver_upload(upload(platform, "center-1/us.dcm", case.data))
    [event] = platform.publisher.messages(NAMES.events_topic)
    cleaning = event.payload.model_dump()["pixel_cleaning"]
    assert cleaning["method"] == "ocr_no_text" and not cleaning["pixels_rewritten"]
