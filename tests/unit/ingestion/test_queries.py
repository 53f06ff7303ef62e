"""GET /images/<id> and GET /images?... over HTTP, on the in-memory platform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import functions_framework

from functions.bootstrap import InMemoryPlatform
from tests.unit.ingestion.helpers import deliver_upload, study, upload

MAIN = str(Path(__file__).parents[3] / "main.py")


def client() -> Any:
    app = functions_framework.create_app("ingestion_queries_http", MAIN)  # type: ignore[no-untyped-call]
    return app.test_client()


def ingest(p: InMemoryPlatform, center: str, name: str, data: bytes, **meta: str) -> None:
    deliver_upload(upload(p, f"{center}/{name}", data, meta))


def test_get_one_image_without_clinical_history(platform: InMemoryPlatform) -> None:
    [data] = study()
    ingest(platform, "center-1", "a.dcm", data, clinical_history="diabetic", pathology="flu")
    [event] = platform.publisher.messages("ingestion-events")
    answer = client().get(f"/images/{event.subject}")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["image_id"] == event.subject and body["pathology"] == "FLU"
    assert body["has_clinical_history"] is True
    assert "diabetic" not in answer.get_data(as_text=True)
    assert "clinical_history_encrypted" not in body
    missing = client().get("/images/2.25.1")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["reason"] == "image_not_found"


def test_filters_and_cursor_pagination(platform: InMemoryPlatform) -> None:
    for n, data in enumerate(study(5, seed=21)):
        ingest(platform, "center-1", f"{n}.dcm", data, pathology="nodule" if n % 2 else "none")
    [other] = study(seed=22, modality="MR")
    ingest(platform, "center-2", "mr.dcm", other, anatomical_region="head")
    http = client()

    seen: list[str] = []
    cursor = None
    while True:
        query: dict[str, Any] = {"center": "center-1", "limit": 2}
        if cursor:
            query["cursor"] = cursor
        page = http.get("/images", query_string=query).get_json()
        seen += [item["image_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5

    nodules = http.get("/images", query_string={"pathology": "Nodule"}).get_json()["items"]
    assert len(nodules) == 2
    heads = http.get("/images", query_string={"modality": "mr", "anatomical_region": "HEAD"})
    assert [i["data_source"] for i in heads.get_json()["items"]] == ["center-2"]
    later = http.get("/images", query_string={"ingested_from": "2999-01-01"}).get_json()
    assert later["items"] == []
    earlier = http.get("/images", query_string={"ingested_to": "2999-01-01T00:00:00Z"})
    assert len(earlier.get_json()["items"]) == 6


def test_bad_parameters_are_explained(platform: InMemoryPlatform) -> None:
    http = client()
    answer = http.get("/images", query_string={"ingested_from": "yesterday"})
    assert answer.status_code == 400
    assert answer.get_json()["error"] == {
        "reason": "invalid_date",
        "detail": "use an ISO 8601 date or date-time in years 1 to 9999",
        "field": "ingested_from",
    }  # fmt: skip
    assert http.get("/images", query_string={"limit": 1000}).status_code == 400
    assert http.get("/images", query_string={"cursor": "%%%"}).status_code == 400
    # the calendar's edges have no UTC instant; an unknown filter is not silently ignored
    for edge in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "10000-01-01"):
        assert http.get("/images", query_string={"ingested_to": edge}).status_code == 400
    unknown = http.get("/images", query_string={"modalty": "CT"})
    assert unknown.status_code == 400
    assert unknown.get_json()["error"]["reason"] == "unknown_parameter"
