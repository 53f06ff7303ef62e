"""Where the data_services context keeps its records: collections, mappers, unit of work.

An expert's national id and email are sealed with the shared field cipher, each bound to the
expert's code and the field's name (`<field>_sealed`); the registry is found by code and
speciality only, so no lookup token is kept. Documents written before are read as they are
until tools/seal_personal_fields.py seals them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from functions.data_services.datasets import ManifestEntry
from functions.data_services.domain import DataService, Delivery, ManifestSummary
from functions.data_services.experts import Expert, ExpertSlot, slot_id
from functions.data_services.messages import CloudTarget, DatasetCriteria, Status
from shared.config import Settings
from shared.domain.errors import TransientError
from shared.domain.messages import Event
from shared.ports.documents import Document, DocumentStore, DocumentTransaction
from shared.service.field_crypto import FieldCipher, SealedFields
from shared.service.unit_of_work import AggregateRepository, UnitOfWork

# An expert's fields sealed at rest (the registry shows the others).
EXPERT_SEALED = ("national_id", "email")


def expert_fields(settings: Settings) -> SealedFields:
    return SealedFields(FieldCipher.from_settings(settings), EXPERT_SEALED)


@dataclass(frozen=True)
class Collections:
    services: str  # one DataService per document (the aggregate and its read model)
    experts: str  # the expert registry, one Expert per document
    expert_slots: str  # an expert's capacity, one ExpertSlot per document (ADR 0014)
    catalogue: str  # the projection of ImageAnonymized, one image per document
    subscriptions: str  # the projection of SubscriptionCreated: which client owns which
    requests: str  # the client's data request per subscription (SubmitDataRequest)
    manifests: str  # the header of a service's latest resolution, for the prepare to freeze
    manifest_chunks: str  # the entries of a manifest, CHUNK_SIZE per document
    deliveries: str  # one record per delivered chunk: progress with no hot document
    claims: str  # one lease per chunk being copied: two deliveries of it never both copy
    revocations: str  # one record per revoked chunk
    inbox: str
    commands: str
    # How the experts' personal fields are sealed: beside the names, since everything that
    # reads or writes the registry is given these (from_settings always sets it).
    experts_sealed: SealedFields | None = field(default=None, compare=False, repr=False)

    @property
    def sealed_experts(self) -> SealedFields:
        if self.experts_sealed is None:
            raise LookupError("collections made without settings cannot open the experts")
        return self.experts_sealed

    @classmethod
    def from_settings(cls, settings: Settings) -> Collections:
        def name(suffix: str) -> str:
            return settings.collection(f"data_services{suffix}")

        return cls(
            services=name(""),
            experts=name("_experts"),
            expert_slots=name("_expert_slots"),
            catalogue=name("_catalogue"),
            subscriptions=name("_subscriptions"),
            requests=name("_requests"),
            manifests=name("_manifests"),
            manifest_chunks=name("_manifest_chunks"),
            deliveries=name("_deliveries"),
            claims=name("_delivery_claims"),
            revocations=name("_revocations"),
            inbox=name("_inbox"),
            commands=name("_commands"),
            experts_sealed=expert_fields(settings),
        )


def chunk_doc_id(manifest_id: str, index: int) -> str:
    return f"{manifest_id}-{index:05d}"


# Outside the unit of work: what the prepare, the delivery, the review and the reads do
# with a service's stored document and its frozen manifest chunks, without a transaction.
CHUNKS_PER_TRANSACTION = 20  # manifest chunk documents written together (<10 MiB)


def load_service(
    store: DocumentStore, collections: Collections, data_service_id: str
) -> DataService | None:
    """The service as its aggregate, read outside a transaction (never saved from here)."""
    document = store.get(collections.services, data_service_id)
    if document is None:
        return None
    version = int(document.pop("_version", 0))
    return DataServiceMapper().from_document(data_service_id, document, version)


def read_chunk(
    store: DocumentStore, collections: Collections, manifest_id: str, index: int
) -> list[ManifestEntry]:
    """A chunk of a frozen manifest; a missing one is transient (written a moment ago)."""
    chunk = store.get(collections.manifest_chunks, chunk_doc_id(manifest_id, index))
    if chunk is None:
        raise TransientError("a chunk of a frozen manifest is not readable")
    return [ManifestEntry(**entry) for entry in chunk["entries"]]


def write_chunks(
    store: DocumentStore,
    collections: Collections,
    data_service_id: str,
    manifest_id: str,
    chunks: Sequence[list[ManifestEntry]],
) -> None:
    """A manifest's chunks, CHUNKS_PER_TRANSACTION at a time; their ids are derived from
    the manifest's, so writing them again writes the same documents."""

    def put(tx: DocumentTransaction, first: int) -> None:
        for index in range(first, min(first + CHUNKS_PER_TRANSACTION, len(chunks))):
            tx.put(
                collections.manifest_chunks,
                chunk_doc_id(manifest_id, index),
                {
                    "data_service_id": data_service_id,
                    "manifest_id": manifest_id,
                    "chunk_index": index,
                    "entries": [entry.to_dict() for entry in chunks[index]],
                },
            )

    for first in range(0, len(chunks), CHUNKS_PER_TRANSACTION):
        store.run_in_transaction(functools.partial(put, first=first))


class DataServiceMapper:
    """The stored document doubles as the read model the queries answer from."""

    def to_document(self, aggregate: DataService) -> Document:
        return {
            "data_service_id": aggregate.id,
            "subscription_id": aggregate.subscription_id,
            # The code only: a service created from a v1 command kept the client's names
            # here too, and loses them on its next save (nothing reads them).
            "client": {"code": aggregate.client_code},
            "client_code": aggregate.client_code,
            "plan_code": aggregate.plan_code,
            "cloud": aggregate.cloud.model_dump(),
            "dataset": {
                "code": aggregate.dataset_code,
                "name": aggregate.dataset_name,
                "criteria": aggregate.criteria.model_dump(),
            },
            "speciality": aggregate.speciality,
            "status": aggregate.status.value,
            "created_at": aggregate.created_at,
            "expert_code": aggregate.expert_code,
            "assigned_at": aggregate.assigned_at,
            "manifest": asdict(aggregate.manifest) if aggregate.manifest else None,
            "delivery": asdict(aggregate.delivery) if aggregate.delivery else None,
            "prepared_at": aggregate.prepared_at,
            "started_at": aggregate.started_at,
            "ended_at": aggregate.ended_at,
            "end_reason": aggregate.end_reason,
            "review_required": aggregate.review_required,
            "approved_at": aggregate.approved_at,
            "start_requested_at": aggregate.start_requested_at,
            "previous_manifests": list(aggregate.previous_manifests),
        }

    def from_document(self, aggregate_id: str, document: Document, version: int) -> DataService:
        dataset: dict[str, Any] = document["dataset"]
        manifest, delivery = document.get("manifest"), document.get("delivery")
        return DataService(
            id=aggregate_id,
            version=version,
            subscription_id=document["subscription_id"],
            client_code=document["client_code"],
            plan_code=document["plan_code"],
            cloud=CloudTarget(**document["cloud"]),
            dataset_code=dataset["code"],
            dataset_name=dataset["name"],
            criteria=DatasetCriteria.model_validate(dataset["criteria"]),
            speciality=document["speciality"],
            status=Status(document["status"]),
            created_at=document["created_at"],
            expert_code=document.get("expert_code"),
            assigned_at=document.get("assigned_at"),
            manifest=ManifestSummary(**manifest) if manifest else None,
            delivery=Delivery(**delivery) if delivery else None,
            prepared_at=document.get("prepared_at"),
            started_at=document.get("started_at"),
            ended_at=document.get("ended_at"),
            end_reason=document.get("end_reason"),
            review_required=bool(document.get("review_required", False)),
            approved_at=document.get("approved_at"),
            start_requested_at=document.get("start_requested_at"),
            previous_manifests=list(document.get("previous_manifests", [])),
        )


class ExpertMapper:
    def __init__(self, sealed: SealedFields) -> None:
        self.sealed = sealed

    def to_document(self, aggregate: Expert) -> Document:
        personal = {"national_id": aggregate.national_id, "email": aggregate.email}
        return {
            "expert_code": aggregate.id,
            "first_names": aggregate.first_names,
            "last_names": aggregate.last_names,
            "username": aggregate.username,
            **self.sealed.seal(aggregate.id, personal),
            "specialities": aggregate.specialities,
            "capacity": aggregate.capacity,
            "registered_at": aggregate.registered_at,
            # The legacy list only; the load is counted from the slots (queries.py).
            "assignments": aggregate.assignments,
            "retired_at": aggregate.retired_at,
        }

    def from_document(self, aggregate_id: str, document: Document, version: int) -> Expert:
        personal = self.sealed.open(aggregate_id, document)
        return Expert(
            id=aggregate_id,
            version=version,
            first_names=document["first_names"],
            last_names=document["last_names"],
            username=document["username"],
            national_id=personal["national_id"],
            email=personal["email"],
            specialities=list(document["specialities"]),
            capacity=int(document["capacity"]),
            registered_at=document["registered_at"],
            assignments=list(document.get("assignments", [])),
            retired_at=document.get("retired_at"),
        )


class ExpertSlotMapper:
    def to_document(self, aggregate: ExpertSlot) -> Document:
        return {
            "expert_code": aggregate.expert_code,
            "number": aggregate.number,
            # Queried for (expert_code in ..., taken == True): equalities only, which
            # Firestore answers from its single-field indexes.
            "taken": aggregate.data_service_id is not None,
            "data_service_id": aggregate.data_service_id,
            "speciality": aggregate.speciality,
            "taken_at": aggregate.taken_at,
            # Queried for (expert_code in ..., reserved == True), then (reserved_for == id):
            # an expired reservation stays until the slot is taken or reserved again.
            "reserved": aggregate.reserved_for is not None,
            "reserved_for": aggregate.reserved_for,
            "reserved_until": aggregate.reserved_until,
        }

    def from_document(self, aggregate_id: str, document: Document, version: int) -> ExpertSlot:
        return ExpertSlot(
            id=aggregate_id,
            version=version,
            expert_code=document["expert_code"],
            number=int(document["number"]),
            data_service_id=document.get("data_service_id"),
            speciality=document.get("speciality"),
            taken_at=document.get("taken_at"),
            reserved_for=document.get("reserved_for"),
            reserved_until=document.get("reserved_until"),
        )


class DataServicesUnitOfWork(UnitOfWork):
    def __init__(self, tx: DocumentTransaction, collections: Collections) -> None:
        super().__init__(tx)
        self.collections = collections
        self.services = AggregateRepository(tx, collections.services, DataServiceMapper())
        self.experts = AggregateRepository(
            tx, collections.experts, ExpertMapper(collections.sealed_experts)
        )
        self.slots = AggregateRepository(tx, collections.expert_slots, ExpertSlotMapper())
        # Events of handlers that write plain records instead of aggregates.
        self.events: list[Event] = []

    def read_slots(self, ids: Sequence[str]) -> list[ExpertSlot | None]:
        """Slots in one round trip (None: never taken)."""
        self.tx.get_many([(self.collections.expert_slots, slot) for slot in ids])
        return [self.slots.get(slot) for slot in ids]

    def taken_slots(self, expert: Expert) -> list[int]:
        """The numbers of the expert's slots a service holds, read in this transaction: its
        exact load for a rule of the registry (at most 100 reads, a registry change is rare)."""
        ids = [slot_id(expert.id, n) for n in range(expert.capacity)]
        return [s.number for s in self.read_slots(ids) if s is not None and s.data_service_id]

    def stage_changes(self) -> list[Any]:
        events, self.events = self.events, []
        return [*super().stage_changes(), *events]
