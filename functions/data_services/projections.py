"""This context's own views of other contexts' facts: contexts share no database.

- The catalogue: one record per ImageAnonymized (ingestion-events), the fields a dataset
  selects on and the object to deliver. A record is a pure function of its event, written
  with a plain put: duplicates and any order give the same projection, and replaying the
  events into an empty collection rebuilds it from zero (`rebuild_catalogue`).
- Subscriptions: which client owns which subscription (SubscriptionCreated), so that a
  data service for an unknown client is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from functions.data_services.datasets import CatalogueRecord
from functions.data_services.messages import DatasetCriteria
from functions.data_services.unit_of_work import Collections
from functions.ingestion.messages import ImageAnonymized
from functions.subscriptions.messages import SubscriptionCreated
from shared.ports.documents import DocumentStore, Filter
from shared.ports.envelope import Envelope

PAGE = 1_000  # catalogue records per query while a dataset is resolved


def catalogue_record(event: ImageAnonymized) -> CatalogueRecord:
    return CatalogueRecord(
        image_id=event.image_id,
        patient_token=event.patient_token,
        study_id=event.study_id,
        data_source=event.data_source,
        ingested_at=event.ingested_at,
        uri=event.uri,
        size=event.size,
        sha256=event.sha256,
        modality=event.modality,
        anatomical_region=event.anatomical_region,
        pathology=event.pathology,
    )


@dataclass
class Projections:
    store: DocumentStore
    collections: Collections

    def project_image(self, envelope: Envelope) -> str:
        event = envelope.payload
        assert isinstance(event, ImageAnonymized)
        self._put_record(self.collections.catalogue, catalogue_record(event))
        return "projected"

    def project_subscription(self, envelope: Envelope) -> str:
        event = envelope.payload
        assert isinstance(event, SubscriptionCreated)
        document = {
            "subscription_id": event.subscription_id,
            "client_code": event.client_code,
            "plan": event.plan,
            "created_at": event.created_at,
        }
        collection = self.collections.subscriptions
        self.store.run_in_transaction(
            lambda tx: tx.put(collection, event.subscription_id, document)
        )
        return "projected"

    def rebuild_catalogue(self, events: Iterable[ImageAnonymized], collection: str) -> int:
        """Project `events` (a replay of ingestion-events) into `collection`, an empty
        one: the projection then equals the one built as the events came."""
        count = 0
        for event in events:
            self._put_record(collection, catalogue_record(event))
            count += 1
        return count

    def _put_record(self, collection: str, record: CatalogueRecord) -> None:
        document = asdict(record)
        self.store.run_in_transaction(lambda tx: tx.put(collection, record.image_id, document))

    # -- read while a dataset is resolved -----------------------------------------------------
    def matching(self, criteria: DatasetCriteria) -> Iterator[CatalogueRecord]:
        """The records the store can pre-select for the criteria, in catalogue order
        (ingested_at, then image id), page by page; datasets.select() checks every rule
        again. Needs the composite indexes declared in infra/topology.yaml."""
        where = [
            Filter(name, "==", value)
            for name, value in (
                ("modality", criteria.modality),
                ("anatomical_region", criteria.anatomical_region),
                ("pathology", criteria.pathology),
            )
            if value is not None
        ]
        if criteria.sources:
            where.append(Filter("data_source", "in", list(criteria.sources)))
        if criteria.ingested_from:
            where.append(Filter("ingested_at", ">=", criteria.ingested_from))
        if criteria.ingested_to:
            where.append(Filter("ingested_at", "<", criteria.ingested_to))
        after: tuple[Any, str] | None = None
        while True:
            page = self.store.query(
                self.collections.catalogue, where, order_by="ingested_at", limit=PAGE, after=after
            )
            for _, document in page.items:
                yield CatalogueRecord(**document)
            if page.next_cursor is None:
                return
            after = page.next_cursor
