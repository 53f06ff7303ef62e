"""Referrals (docs/decisions/0013-referrals.md): two centers send the same instance. Both are
accepted as their own images, neither answer says anything about the other, and a dataset
keeps one copy of the instance."""

from __future__ import annotations

from typing import Any

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.data_services.datasets import select
from functions.data_services.messages import DatasetCriteria
from functions.data_services.projections import catalogue_record
from functions.ingestion import queries
from functions.ingestion import wiring as ingestion_wiring
from functions.ingestion.domain import Arrival
from functions.ingestion.messages import NAMES, ImageAnonymized
from shared.adapters.memory_blob_store import InMemoryBlobStore
from tests.unit.ingestion.conftest import deliver_entries
from tests.unit.ingestion.helpers import deliver_upload, study, upload, zipped


def announced(p: InMemoryPlatform) -> list[ImageAnonymized]:
    events = [e.payload for e in p.publisher.messages(NAMES.events_topic)]
    return [e for e in events if isinstance(e, ImageAnonymized)]


def catalogue_of(p: InMemoryPlatform, center: str) -> list[dict[str, Any]]:
    w = bootstrap.context(ingestion_wiring.build)
    page = queries.list_images(
        p.store, w.collections.images, {"center": center}, limit=100, cursor=None
    )
    items: list[dict[str, Any]] = page["items"]
    return items


def test_two_centers_same_study_both_accepted_one_copy_per_instance_in_a_dataset(
    platform: InMemoryPlatform, blobs: InMemoryBlobStore
) -> None:
    images = study(n_instances=3, seed=26)
    for n, data in enumerate(images):
        deliver_upload(upload(platform, f"center-1/s/{n}.dcm", data))
    # center-2 refers the patient: the same study, as a package.
    deliver_upload(upload(platform, "center-2/referral.zip", zipped(
        {f"{n}.dcm": data for n, data in enumerate(images)}
    )))  # fmt: skip
    deliver_entries(platform)

    events = announced(platform)
    assert len(events) == 6 and blobs.list_names(platform.settings.bucket("quarantine")) == []
    first, second = catalogue_of(platform, "center-1"), catalogue_of(platform, "center-2")
    assert len(first) == len(second) == 3
    # Each center sees its own images only, one study, one pseudonymous patient each.
    assert len({i["study_id"] for i in second}) == 1
    assert {i["patient_token"] for i in first}.isdisjoint({i["patient_token"] for i in second})
    assert {i["image_id"] for i in first}.isdisjoint({i["image_id"] for i in second})
    assert all("instance_key" not in i for i in first + second)  # never answered
    # A dataset over both centers counts each instance once.
    records = sorted((catalogue_record(e) for e in events), key=lambda r: r.ingested_at)
    chosen = select(records, DatasetCriteria(), limit=100)
    assert len(chosen) == 3
    assert len({r.instance_key for r in chosen}) == 3
    # Restricted to center-2, its copies are what is chosen.
    only_second = select(records, DatasetCriteria(sources=["center-2"]), limit=100)
    assert {r.data_source for r in only_second} == {"center-2"} and len(only_second) == 3


def test_no_detail_or_reason_ever_mentions_another_center() -> None:
    for arrival in Arrival:
        assert "center" not in arrival.detail
    assert Arrival.REFERRAL.detail == "" and not Arrival.REFERRAL.is_conflict


def test_a_scoped_uid_is_another_stable_uid_and_standard_uids_stay() -> None:
    from functions.ingestion.deid.pseudonyms import Pseudonymizer

    uids = Pseudonymizer(b"k" * 32)
    plain, scoped = uids.uid("1.2.3.4"), uids.uid("1.2.3.4", "center-2")
    assert plain != scoped and scoped == uids.uid("1.2.3.4", "center-2")
    assert scoped != uids.uid("1.2.3.4", "center-3") and scoped.startswith("2.25.")
    assert uids.uid("1.2.840.10008.1.2", "center-2") == "1.2.840.10008.1.2"
