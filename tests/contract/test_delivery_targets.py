"""The DeliveryTarget contract, run against the in-memory stores and fake-gcs-server.

One target per kind of delivery (a buyer's bucket, a managed folder, links, dicomweb),
built by the same factory the delivery uses (adapters/targets.py). In memory a buyer's
bucket is InMemoryBuyerBuckets (creation only, as roles/storage.objectCreator allows); on
fake-gcs-server, which has no IAM, a bucket refuses when it does not exist, and managed
folders' grants are recorded (adapters/folder_access.py says why: the JSON API's requests
are checked in tests/unit/data_services/test_folder_access.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from functions.data_services.adapters.folder_access import (
    InMemoryFolderAccess,
    RecordedFolderAccess,
)
from functions.data_services.adapters.memory_buckets import InMemoryBuyerBuckets
from functions.data_services.adapters.targets import StorageTargets
from functions.data_services.domain import OBJECT_CREATOR, OBJECT_VIEWER, target_spec
from functions.data_services.messages import CloudTarget
from functions.data_services.ports import DeliveryRefused, DeliveryTarget, SourceMissing
from shared.ports.blobs import BlobStore

ACCOUNT = "delivery-test@a-project.iam.gserviceaccount.com"
PUBLIC = "https://api.example.com"


@dataclass
class World:
    targets: StorageTargets
    sources: BlobStore
    source_bucket: str
    delivery_bucket: str
    buyer_bucket: str  # granted
    refusing_bucket: str  # not granted (memory) or gone (fake-gcs-server)
    # What a buyer's bucket holds, read as its owner would (the target may not read it).
    buyer_view: BlobStore

    def target(self, service_id: str, **cloud: str) -> DeliveryTarget:
        spec = target_spec(service_id, CloudTarget(code="c", **cloud), self.delivery_bucket)
        return self.targets(spec)


@pytest.fixture(params=["memory", pytest.param("gcs", marks=pytest.mark.emulators)])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    suffix = uuid.uuid4().hex[:8]
    names = [f"contract-{kind}-{suffix}" for kind in ("src", "delivery", "buyer", "refusing")]
    buckets = (names[0], names[1], names[2], names[3])
    if request.param == "memory":
        from shared.adapters.memory_blob_store import InMemoryBlobStore

        platform = InMemoryBlobStore()
        buyers = InMemoryBuyerBuckets(granted={names[2]})
        targets = StorageTargets(
            platform, platform, lambda: buyers, InMemoryFolderAccess(), lambda: PUBLIC, ACCOUNT
        )
        yield World(targets, platform, *buckets, buyer_view=buyers.objects)
        return
    stack = request.getfixturevalue("stack")
    from google.cloud import storage  # type: ignore[attr-defined]

    from shared.adapters.gcs_blob_store import GcsBlobStore
    from shared.adapters.memory_store import InMemoryDocumentStore

    client = storage.Client(project=stack.project_id)
    for name in names[:3]:
        client.create_bucket(name)
    blobs = GcsBlobStore(client)
    folders = RecordedFolderAccess(InMemoryDocumentStore(), "folder_grants")
    targets = StorageTargets(blobs, blobs, lambda: blobs, folders, lambda: PUBLIC, ACCOUNT)
    yield World(targets, blobs, *buckets, buyer_view=blobs)


def _source(world: World, name: str, data: bytes) -> None:
    world.sources.write(world.source_bucket, name, data, create_only=False)


def test_a_granted_buyer_bucket_passes_the_probe_again_and_again(world: World) -> None:
    target = world.target("ds-1", type="bucket", bucket=world.buyer_bucket, prefix="in/")
    target.probe()
    target.probe()  # a redelivered prepare probes again (its object may have stayed)


def test_a_bucket_that_refuses_says_what_to_grant(world: World) -> None:
    target = world.target("ds-1", type="bucket", bucket=world.refusing_bucket)
    with pytest.raises(DeliveryRefused) as refused:
        target.probe()
    assert refused.value.reason == "delivery_target_refused"
    assert (
        f"gcloud storage buckets add-iam-policy-binding gs://{world.refusing_bucket} "
        f"--member=serviceAccount:{ACCOUNT} --role={OBJECT_CREATOR}"
    ) in refused.value.detail
    _source(world, "a.dcm", b"a")
    with pytest.raises(DeliveryRefused) as again:
        target.place(world.source_bucket, "a.dcm", "train/a.dcm")
    assert again.value.reason == "delivery_target_refused"


@pytest.mark.parametrize("kind", ["buyer", "managed_folder", "legacy_bucket"])
def test_an_image_is_placed_once_under_the_root(world: World, kind: str) -> None:
    cloud = {
        "buyer": {"type": "bucket", "bucket": world.buyer_bucket, "prefix": "deliveries"},
        "managed_folder": {"type": "managed_folder", "principal": "user:ana@example.com"},
        "legacy_bucket": {"type": "bucket"},
    }[kind]
    target = world.target("ds-2", **cloud)
    _source(world, "img-1.dcm", b"pixels of img-1")
    first = target.place(world.source_bucket, "img-1.dcm", "train/img-1.dcm")
    second = target.place(world.source_bucket, "img-1.dcm", "train/img-1.dcm")
    assert (first.copied, second.copied) == (True, False)
    assert first.size == second.size == len(b"pixels of img-1")
    spec = target.spec
    holder = world.buyer_view if spec.buyer_bucket else world.sources
    expected_root = "deliveries/ds-2/" if spec.buyer_bucket else "ds-2/"
    assert spec.root == expected_root
    assert holder.read_bytes(spec.bucket, f"{spec.root}train/img-1.dcm") == b"pixels of img-1"
    with pytest.raises(SourceMissing):
        target.place(world.source_bucket, "gone.dcm", "train/gone.dcm")


@pytest.mark.parametrize("kind", ["links", "dicomweb", "managed_folder", "buyer"])
def test_manifest_files_are_written_create_only(world: World, kind: str) -> None:
    cloud = {
        "links": {"type": "links"},
        "dicomweb": {"type": "dicomweb"},
        "managed_folder": {"type": "managed_folder", "principal": "group:team@example.com"},
        "buyer": {"type": "bucket", "bucket": world.buyer_bucket},
    }[kind]
    target = world.target(f"ds-{kind}", **cloud)
    assert target.put_text("SHA256SUMS", "abc  train/a.dcm\n", "text/plain") is True
    assert target.put_text("SHA256SUMS", "other\n", "text/plain") is False
    spec = target.spec
    holder = world.buyer_view if spec.buyer_bucket else world.sources
    assert holder.read_bytes(spec.bucket, f"{spec.root}SHA256SUMS") == b"abc  train/a.dcm\n"


def test_the_platforms_files_are_removed_and_a_buyers_are_left(world: World) -> None:
    ours = world.target("ds-3", type="links")
    ours.put_text("manifest.jsonl", "{}\n", "application/x-ndjson")
    assert ours.remove("manifest.jsonl") is True
    assert ours.remove("manifest.jsonl") is False
    theirs = world.target("ds-3", type="bucket", bucket=world.buyer_bucket)
    theirs.put_text("manifest.jsonl", "{}\n", "application/x-ndjson")
    theirs.remove("manifest.jsonl")  # refused in memory (objectCreator), done on the emulator
    assert theirs.where().location == f"gs://{world.buyer_bucket}/ds-3"


def test_a_managed_folder_is_readable_by_its_principal_until_the_end(world: World) -> None:
    target = world.target("ds-4", type="managed_folder", principal="user:ana@example.com")
    assert target.grants() == []
    until = datetime(2027, 1, 8, 10, 0, tzinfo=UTC)
    target.grant(until)
    target.grant(until + timedelta(hours=1))  # granting again replaces the grant
    [grant] = target.grants()
    assert (grant.principal, grant.role) == ("user:ana@example.com", OBJECT_VIEWER)
    assert grant.until == until + timedelta(hours=1)
    target.revoke()
    target.revoke()
    assert target.grants() == []
    # Other kinds grant nothing.
    links = world.target("ds-4", type="links")
    links.grant(until)
    assert links.grants() == []


def test_where_says_where_the_data_is_and_how_to_fetch_it(world: World) -> None:
    buyer = world.target("ds-5", type="bucket", bucket=world.buyer_bucket, prefix="/x/y/")
    assert buyer.where().fetch_hint == f"gcloud storage cp -r gs://{world.buyer_bucket}/x/y/ds-5 ."
    folder = world.target("ds-5", type="managed_folder", principal="user:ana@example.com")
    where = folder.where("2027-01-08T10:00:00.000Z")
    assert where.fetch_hint == f"gcloud storage cp -r gs://{world.delivery_bucket}/ds-5 ."
    assert where.access_until == "2027-01-08T10:00:00.000Z"
    links = world.target("ds-5", type="links").where()
    assert links.files_url == f"{PUBLIC}/v1/data-services/ds-5/files"
    assert world.delivery_bucket not in links.location + links.fetch_hint
    dicomweb = world.target("ds-5", type="dicomweb").where()
    assert dicomweb.location == f"{PUBLIC}/v1/data-services/ds-5/dicomweb"
    legacy = world.target("ds-5", type="bucket").where()  # no bucket of the buyer's
    assert legacy.files_url is not None and "gs://" not in legacy.fetch_hint
