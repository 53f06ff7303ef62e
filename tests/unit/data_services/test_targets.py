"""Each kind of delivery target end to end on the in-memory platform: a buyer's bucket
probed before anything is resolved, a managed folder granted until the access ends and
revoked at the end, links signed at each request and refused once the service ended,
dicomweb copying nothing; and the manifest files matching what the target holds."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from functions.bootstrap import InMemoryPlatform
from functions.data_services.adapters.memory_buckets import InMemoryBuyerBuckets
from functions.data_services.messages import CancelDataService, FinishDataService
from tests.unit.data_services.factories import CLIENT_CODE, DELIVERY
from tests.unit.data_services.flow import (
    assigned_service,
    catalogue,
    events,
    last_event,
    prepare,
    start,
    the_wiring,
)
from tests.unit.data_services.test_entrypoints import client

ACCOUNT = "delivery-dev@a-project.iam.gserviceaccount.com"
BUYER_BUCKET = "buyer-research-data"


@pytest.fixture
def buyers(platform: InMemoryPlatform) -> InMemoryBuyerBuckets:
    """Buyers' buckets that take only what their owner granted (none yet)."""
    targets: Any = the_wiring().delivery.targets
    held = InMemoryBuyerBuckets()
    targets._buyer_store = held
    targets.service_account = ACCOUNT
    return held


def stored(platform: InMemoryPlatform, service_id: str) -> dict[str, Any]:
    document = platform.store.get("data_services", service_id)
    assert document is not None
    return document


def sums_match(holder: Any, bucket: str, root: str) -> int:
    """Every line of SHA256SUMS names a file the target holds, with its digest; the
    manifest names the same files."""
    sums = holder.read_bytes(bucket, f"{root}SHA256SUMS").decode().splitlines()
    manifest = holder.read_bytes(bucket, f"{root}manifest.jsonl").decode().splitlines()
    assert sorted(json.loads(line)["name"] for line in manifest) == sorted(
        line.split("  ")[1] for line in sums
    )
    assert all("uri" not in json.loads(line) for line in manifest)  # no platform path
    for line in sums:
        digest, name = line.split("  ")
        assert hashlib.sha256(holder.read_bytes(bucket, f"{root}{name}")).hexdigest() == digest
    return len(sums)


def test_a_bucket_without_the_grant_is_refused_at_the_prepare_with_what_to_grant(
    platform: InMemoryPlatform, buyers: InMemoryBuyerBuckets
) -> None:
    catalogue(platform, 6)
    service_id = assigned_service(platform, cloud={"bucket": BUYER_BUCKET, "prefix": "st"})
    prepare(service_id)
    refused = last_event(platform)
    assert refused.reason == "delivery_target_refused"
    assert refused.command_type.endswith("prepare_dataset.v1")
    assert (
        f"gcloud storage buckets add-iam-policy-binding gs://{BUYER_BUCKET} "
        f"--member=serviceAccount:{ACCOUNT} --role=roles/storage.objectCreator"
    ) in refused.detail
    assert stored(platform, service_id)["manifest"] is None  # nothing resolved, nothing owed

    buyers.granted.add(BUYER_BUCKET)  # the buyer grants; a new prepare goes through
    start(platform, service_id).run()
    assert stored(platform, service_id)["status"] == "DELIVERED"
    assert sums_match(buyers.objects, BUYER_BUCKET, f"st/{service_id}/") == 6
    delivered = last_event(platform)
    assert delivered.location == f"gs://{BUYER_BUCKET}/st/{service_id}"
    assert delivered.fetch_hint == f"gcloud storage cp -r gs://{BUYER_BUCKET}/st/{service_id} ."
    # The copies are the buyer's: the end deletes nothing there.
    send_end(service_id, finish=True)
    assert last_event(platform).revocation == "buyer_owned"
    assert len(buyers.objects.list_names(BUYER_BUCKET, f"st/{service_id}/")) >= 8


def send_end(service_id: str, *, finish: bool) -> None:
    from tests.unit.data_services.flow import send

    if finish:
        send(FinishDataService(data_service_id=service_id))
    else:
        send(CancelDataService(data_service_id=service_id, reason="client_request"))


@pytest.mark.parametrize("finish", [True, False], ids=["finish", "cancel"])
def test_a_managed_folder_is_granted_until_the_access_ends_then_revoked(
    platform: InMemoryPlatform, finish: bool
) -> None:
    catalogue(platform, 5)
    principal = "group:lab@example.org"
    service_id = assigned_service(
        platform, cloud_type="managed_folder", cloud={"principal": principal}
    )
    pump = start(platform, service_id)
    pump.run()
    document = stored(platform, service_id)
    delivered = last_event(platform)
    target = the_wiring().delivery.target_of(_service(service_id))
    [grant] = target.grants()
    assert (grant.principal, grant.role) == (principal, "roles/storage.objectViewer")
    # The grant's condition ends where the plan's access ends, counted from the delivery.
    chunks = platform.store.query("data_services_deliveries", limit=10).items
    last = max(datetime.fromisoformat(d["delivered_at"]) for _, d in chunks)
    assert grant.until == last + timedelta(hours=72)
    assert delivered.access_until == document["delivery"]["access_until"]
    assert datetime.fromisoformat(delivered.access_until) == grant.until
    assert delivered.fetch_hint == f"gcloud storage cp -r gs://{DELIVERY}/{service_id} ."
    assert sums_match(platform.blobs, DELIVERY, f"{service_id}/") == 5
    send_end(service_id, finish=finish)
    assert target.grants() == []  # at once, before the copies go
    pump.run()
    assert platform.blobs.list_names(DELIVERY, f"{service_id}/") == []


def _service(service_id: str) -> Any:
    return the_wiring().delivery._service(service_id)


def _read(platform: InMemoryPlatform, url: str) -> bytes:
    """What a signed URL of the local signer reads: its path is /<bucket>/<name>."""
    bucket, _, name = unquote(urlsplit(url).path).lstrip("/").partition("/")
    return platform.blobs.read_bytes(bucket, name)


@pytest.mark.parametrize("cloud", [{"cloud_type": "links"}, {}], ids=["links", "old_bucket"])
def test_the_files_route_signs_every_file_at_each_request_for_its_owner_only(
    platform: InMemoryPlatform, monkeypatch: pytest.MonkeyPatch, cloud: dict[str, Any]
) -> None:
    monkeypatch.setenv("SALUDTECH_DELIVERY_LINK_MINUTES", "5")
    catalogue(platform, 7)
    service_id = assigned_service(platform, **cloud)
    queries = client("data_services_queries_http")
    path = f"/data-services/{service_id}/files"
    early = queries.get(path, query_string={"client_code": CLIENT_CODE})
    assert (early.status_code, early.get_json()["error"]["reason"]) == (409, "not_delivered")
    start(platform, service_id).run()
    assert queries.get(path, query_string={"client_code": "0002"}).status_code == 404

    files: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"client_code": CLIENT_CODE, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = queries.get(path, query_string=params)
        assert page.status_code == 200, page.get_json()
        files += page.get_json()["items"]
        cursor = page.get_json()["next_cursor"]
        if cursor is None:
            break
    names = [f["name"] for f in files]
    assert names[:2] == ["manifest.jsonl", "SHA256SUMS"] and len(names) == 9
    by_name = {f["name"]: _read(platform, f["url"]) for f in files}
    sums = by_name["SHA256SUMS"].decode().splitlines()
    assert sorted(line.split("  ")[1] for line in sums) == sorted(names[2:])
    for line in sums:
        digest, name = line.split("  ")
        assert hashlib.sha256(by_name[name]).hexdigest() == digest
    lives = {int(parse_qs(urlsplit(f["url"]).query)["X-Goog-Expires"][0]) for f in files}
    assert all(240 < seconds <= 300 for seconds in lives)  # 5 minutes, not hours

    view = queries.get(f"/data-services/{service_id}").get_json()
    assert view["where"]["files_url"].endswith(f"/v1/data-services/{service_id}/files")
    assert view["where"]["available"] is True
    assert "gs://" not in json.dumps(view["delivery"])
    send_end(service_id, finish=True)
    ended = queries.get(path, query_string={"client_code": CLIENT_CODE})
    assert (ended.status_code, ended.get_json()["error"]["reason"]) == (410, "service_ended")


def test_a_bucket_or_folder_is_not_offered_as_links(platform: InMemoryPlatform) -> None:
    catalogue(platform, 3)
    service_id = assigned_service(
        platform, cloud_type="managed_folder", cloud={"principal": "user:ana@example.com"}
    )
    start(platform, service_id).run()
    answer = client("data_services_queries_http").get(
        f"/data-services/{service_id}/files", query_string={"client_code": CLIENT_CODE}
    )
    assert answer.status_code == 409
    assert answer.get_json()["error"]["reason"] == "files_not_offered"
    assert "gcloud storage cp -r" in answer.get_json()["error"]["detail"]


def test_dicomweb_copies_nothing_and_says_its_base_url(platform: InMemoryPlatform) -> None:
    catalogue(platform, 4)
    service_id = assigned_service(platform, cloud_type="dicomweb")
    start(platform, service_id).run()
    assert stored(platform, service_id)["status"] == "DELIVERED"
    assert platform.blobs.list_names(DELIVERY, f"{service_id}/") == [
        f"{service_id}/SHA256SUMS", f"{service_id}/manifest.jsonl"
    ]  # fmt: skip
    delivered = last_event(platform)
    assert delivered.target_type == "dicomweb"
    assert delivered.location.endswith(f"/v1/data-services/{service_id}/dicomweb")
    assert events(platform)[-1] == "delivered"


@pytest.mark.parametrize(
    ("cloud_type", "cloud", "reason"),
    [
        ("bucket", {"bucket": "Not_A_Bucket"}, "invalid_bucket_name"),
        ("bucket", {"bucket": "googley-data"}, "invalid_bucket_name"),
        ("bucket", {"prefix": "x/"}, "unexpected_cloud_field"),
        ("bucket", {"bucket": "ok-bucket", "prefix": "../up"}, "invalid_prefix"),
        ("managed_folder", {}, "invalid_principal"),
        ("managed_folder", {"principal": "allUsers"}, "invalid_principal"),
        ("links", {"principal": "user:ana@example.com"}, "unexpected_cloud_field"),
        ("ftp", {}, "unknown_cloud_type"),
    ],
)
def test_a_target_is_checked_at_the_door(
    platform: InMemoryPlatform, cloud_type: str, cloud: dict[str, str], reason: str
) -> None:
    from functions.data_services.domain import DataServiceError, delivery_mode
    from functions.data_services.messages import CloudTarget

    with pytest.raises(DataServiceError) as refused:
        delivery_mode(CloudTarget(code="c", type=cloud_type, **cloud))
    assert refused.value.reason == reason


def test_the_doors_answer_a_refusing_bucket_at_once_with_what_to_grant(
    platform: InMemoryPlatform, buyers: InMemoryBuyerBuckets
) -> None:
    from tests.unit.data_services.factories import create_command, subscription_created
    from tests.unit.data_services.flow import send

    send(subscription_created())
    body = create_command(anatomical_region="chest").model_dump(
        exclude={"data_service_id", "cloud_place"}
    )
    body["cloud"] = {**body["cloud"], "bucket": BUYER_BUCKET}
    commands = client("data_services_commands_http")
    refused = commands.post("/data-services", json=body)
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert (error["reason"], error["field"]) == ("delivery_target_refused", "cloud.bucket")
    assert f"--member=serviceAccount:{ACCOUNT}" in error["detail"]
    request = {k: body[k] for k in ("dataset", "cloud")}
    answer = commands.post("/subscriptions/sub-1/data-request", json=request)
    assert answer.status_code == 422
    buyers.granted.add(BUYER_BUCKET)
    assert commands.post("/data-services", json=body).status_code == 202
    assert commands.post("/subscriptions/sub-1/data-request", json=request).status_code == 202
