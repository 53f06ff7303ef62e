"""The api's routes of a client's data service: `where` and the files route, for the
owner only (404 for another client's), through the data services' query door."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.data_services.messages import FinishDataService
from tests.unit.api.conftest import Api, make_api
from tests.unit.data_services.flow import assigned_service, catalogue, send, start


@pytest.fixture
def api() -> Iterator[Api]:
    yield from make_api()


def test_the_owner_reads_where_its_data_is_and_its_files_until_the_end(api: Api) -> None:
    catalogue(api.platform, 4)
    service_id = assigned_service(api.platform, cloud_type="links")
    start(api.platform, service_id).run()
    mine, theirs = api.login("client-a"), api.login("client-b")

    view = api.call("GET", f"/v1/data-services/{service_id}", token=mine)
    assert view.status == 200, view.body
    where = view.body["where"]
    assert where["target_type"] == "links" and where["available"] is True
    assert where["files_url"].endswith(f"/v1/data-services/{service_id}/files")
    assert "gs://" not in str(view.body["delivery"]) + str(where)
    assert api.call("GET", f"/v1/data-services/{service_id}", token=theirs).status == 404

    files = api.call("GET", f"/v1/data-services/{service_id}/files", token=mine,
                     query={"limit": "10"})  # fmt: skip
    assert files.status == 200, files.body
    names = [f["name"] for f in files.body["items"]]
    assert names[:2] == ["manifest.jsonl", "SHA256SUMS"] and len(names) == 6
    other = api.call("GET", f"/v1/data-services/{service_id}/files", token=theirs)
    assert other.status == 404

    send(FinishDataService(data_service_id=service_id))
    ended = api.call("GET", f"/v1/data-services/{service_id}/files", token=mine)
    assert (ended.status, ended.body["error"]["reason"]) == (410, "service_ended")
    after = api.call("GET", f"/v1/data-services/{service_id}", token=mine).body
    assert after["where"]["available"] is False
