"""This context's own views of other contexts' facts: contexts share no database.

- The catalogue: one record per image of ImageAnonymized (ingestion-events), the fields a
  dataset selects on and the object to deliver. An image ingested again is announced again;
  the record of the newest event (its CloudEvent time, then its id) wins whatever the order
  of arrival, so duplicates and any order give the same projection, and replaying the
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
from shared.ports.documents import Document, DocumentStore, DocumentTransaction, Filter
from shared.ports.envelope import Envelope

PAGE = 1_000  # catalogue records per query while a dataset is resolved
_SOURCE_EVENT = "source_event"  # the event a record comes from: the newest one wins


def _event_key(document: Document) -> tuple[str, str]:
    source = document.get(_SOURCE_EVENT) or {}
    return str(source.get("time", "")), str(source.get("id", ""))


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
        instance_key=event.instance_key,
    )


@dataclass
class Projections:
    store: DocumentStore
    collections: Collections

    def project_image(self, envelope: Envelope) -> str:
        return self._project(self.collections.catalogue, envelope)

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

    def rebuild_catalogue(self, envelopes: Iterable[Envelope], collection: str) -> int:
        """Project ImageAnonymized `envelopes` (a replay of ingestion-events, in any order)
        into `collection`, an empty one: it then equals the projection built live."""
        return sum(self._project(collection, e) == "projected" for e in envelopes)

    def _project(self, collection: str, envelope: Envelope) -> str:
        event = envelope.payload
        assert isinstance(event, ImageAnonymized)
        document = {
            **asdict(catalogue_record(event)),
            _SOURCE_EVENT: {"time": envelope.time, "id": envelope.id},
        }
        newer = (envelope.time, envelope.id)

        def put_if_newer(tx: DocumentTransaction) -> bool:
            known = tx.get(collection, event.image_id)
            if known is not None and _event_key(known) >= newer:
                return False
            tx.put(collection, event.image_id, document)
            return True

        return "projected" if self.store.run_in_transaction(put_if_newer) else "superseded"

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
                document.pop(_SOURCE_EVENT, None)
                yield CatalogueRecord(**document)
            if page.next_cursor is None:
                return
            after = page.next_cursor
