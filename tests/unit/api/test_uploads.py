"""Upload URLs: under the caller's own prefix only, for a .dcm or .zip, signed and expiring."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.unit.api.conftest import Api


def test_a_center_gets_a_signed_put_url_under_its_own_prefix(api: Api) -> None:
    token = api.login("center-a")
    answer = api.call("POST", "/v1/uploads", {"file_name": "study.zip"}, token=token)
    assert answer.status == 201
    grant = answer.body
    assert grant["method"] == "PUT"
    assert grant["object"].startswith("hospital-1/uploads/")
    # The caller's file name gives the type only: a PACS export named after the patient
    # must not become an object name (listings, notification topics, audit, storage logs).
    assert re.fullmatch(r"hospital-1/uploads/[0-9a-f]{32}\.zip", grant["object"])
    assert grant["headers"] == {"Content-Type": "application/zip"}
    url = urlparse(grant["url"])
    query = parse_qs(url.query)
    assert url.path == f"/{api.platform.settings.bucket('ingest')}/{grant['object']}"
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
    assert query["X-Goog-Expires"] == [str(api.platform.settings.api_upload_url_seconds)]
    assert "content-type" in query["X-Goog-SignedHeaders"][0]
    assert len(query["X-Goog-Signature"][0]) == 512  # RSA-2048, hex


@pytest.mark.parametrize(
    "name", ["../hospital-2/x.dcm", "hospital-2/x.dcm", "x.exe", ".dcm", "a" * 200 + ".dcm", 7]
)
def test_no_file_name_reaches_outside_the_prefix(api: Api, name: object) -> None:
    token = api.login("center-a")
    answer = api.call("POST", "/v1/uploads", {"file_name": name}, token=token)
    assert answer.status == 400
    assert answer.body["error"]["field"] == "file_name"


def test_only_centers_get_upload_urls(api: Api) -> None:
    token = api.login("client-a")
    assert api.call("POST", "/v1/uploads", {"file_name": "x.dcm"}, token=token).status == 403
