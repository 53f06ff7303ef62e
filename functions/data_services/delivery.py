"""Delivery that scales: the prepare checks that the target takes writes (a buyer's bucket:
a probe object) and resolves the dataset into a frozen manifest; the start fans out one
DeliverChunk command per CHUNK_SIZE objects of it; each chunk copies its objects into the
service's target (a buyer's bucket, a managed folder; links and dicomweb copy nothing) and
leaves one progress record; whichever chunk sees every record writes the manifest files,
grants a managed folder's reader, and records the delivery with where the data is; finish,
cancel and failure revoke the grant at once and fan out RevokeChunk commands that delete
the platform's files. Links are not written here: the files route signs them at each
request (files.py).

Nothing here holds a transaction while it reads the catalogue or copies objects: those
steps are idempotent on their own (a copy that is there already is not made again, a
record is written once per chunk), and only their outcome goes through the message
processor. A crash anywhere is a redelivery that finds what was done and does the rest.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from functions.data_services.datasets import (
    CHUNK_SIZE,
    ManifestEntry,
    build_manifest,
    checksum_line,
    resolve,
)
from functions.data_services.domain import DataService, TargetSpec, manifest_uris
from functions.data_services.messages import (
    NAMES,
    CompleteDelivery,
    DeliverChunk,
    FailDelivery,
    PrepareDataset,
    RevokeChunk,
    StartDataService,
    Status,
)
from functions.data_services.ports import (
    DeliveryRefused,
    DeliveryTarget,
    SourceMissing,
    TargetFactory,
    UrlSigner,
)
from functions.data_services.projections import Projections
from functions.data_services.unit_of_work import (
    Collections,
    chunk_doc_id,
    load_service,
    read_chunk,
    write_chunks,
)
from shared.domain.clock import Clock, rfc3339
from shared.domain.errors import TransientError
from shared.domain.messages import Message
from shared.logging import get_logger
from shared.ports.documents import Document, DocumentStore, DocumentTransaction, Filter
from shared.ports.envelope import Envelope, derived_id
from shared.ports.publishing import EventPublisher
from shared.service.processing import MessageProcessor

log = get_logger(__name__)
PUBLISH_BATCH = 100
COPY_THREADS = 8  # copies in flight per chunk
_ENDED = frozenset({Status.FINISHED, Status.CANCELLED, Status.FAILED})
# How long a delivery holds a chunk it copies: the deliver-chunk trigger's ack deadline
# (infra/topology.yaml), after which Pub/Sub redelivers the message of a holder that died.
CLAIM_LEASE = timedelta(seconds=300)


class ChunkHeld(TransientError):
    """Another delivery of the chunk holds its lease: retried later, never copied twice."""


def split_uri(uri: str) -> tuple[str, str]:
    """`gs://bucket/name` → (bucket, name)."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


@dataclass
class DeliveryService:
    store: DocumentStore
    processor: MessageProcessor[Any, Any]
    publisher: EventPublisher
    projections: Projections
    targets: TargetFactory
    signer: UrlSigner  # the files route's (files.py): nothing is signed at delivery
    collections: Collections
    delivery_bucket: str
    clock: Clock
    chunk_size: int = CHUNK_SIZE  # objects per DeliverChunk command

    def spec_of(self, service: DataService) -> TargetSpec:
        return service.target(self.delivery_bucket)

    def target_of(self, service: DataService) -> DeliveryTarget:
        return self.targets(self.spec_of(service))

    # -- prepare, then start ----------------------------------------------------------------
    def prepare(self, envelope: Envelope) -> str:
        """Resolve the dataset (outside any transaction: it reads the catalogue page by
        page), then let the domain freeze it or refuse it (empty, too large, started)."""
        command = envelope.payload
        assert isinstance(command, PrepareDataset)
        loaded = self._service(command.data_service_id)
        if (
            loaded is not None
            and loaded.status in (Status.CREATED, Status.EXPERT_ASSIGNED)
            and loaded.manifest is None
            and not self._resolved_for(loaded.id, envelope.id)
        ):
            refusal = self._probe(loaded)
            if refusal is None:
                self._resolve(loaded, envelope.id)
            else:
                self._refuse(loaded, envelope.id, refusal)
        return self.processor.process(envelope).outcome

    def _probe(self, service: DataService) -> DeliveryRefused | None:
        """A buyer's bucket is tried before anything is resolved, so a missing grant fails
        the prepare (and the saga) at once, with what to grant; never a refund after a
        delivery that could not start."""
        spec = self.spec_of(service)
        if not spec.buyer_bucket:
            return None
        try:
            self.targets(spec).probe()
        except DeliveryRefused as refused:
            log.warning("delivery_target_refused", data_service_id=service.id)
            return refused
        return None

    def _refuse(self, service: DataService, command_id: str, refused: DeliveryRefused) -> None:
        """The prepare's header says the target refused: the handler rejects the command
        with its reason and detail (recorded with the command, so a redelivery agrees)."""
        header = {
            "for_command": command_id,
            "for_version": service.version,
            "refused_reason": refused.reason,
            "refused_detail": refused.detail,
            "resolved_at": rfc3339(self.clock()),
        }
        collection = self.collections.manifests
        self.store.run_in_transaction(lambda tx: tx.put(collection, service.id, header))

    def start(self, envelope: Envelope) -> str:
        command = envelope.payload
        assert isinstance(command, StartDataService)
        # The domain decides (no expert, no prepared dataset, started already).
        result = self.processor.process(envelope)
        if result.outcome == "applied":
            self._fan_out(envelope, command.data_service_id, DeliverChunk, "deliver")
        return result.outcome

    def _resolved_for(self, service_id: str, command_id: str) -> bool:
        """A redelivered prepare whose resolution was written already (a crash before the
        commit) freezes that one instead of resolving again."""
        header = self.store.get(self.collections.manifests, service_id)
        return header is not None and header.get("for_command") == command_id

    def _resolve(self, service: DataService, command_id: str) -> None:
        """Resolve the dataset and write the manifest, then its header: the prepare handler
        freezes the header it finds for its own command."""
        criteria, allowance = service.criteria, service.allowance
        chosen = resolve(self.projections.matching(criteria), criteria, allowance.max_images)
        manifest_id = derived_id(service.id, "manifest", str(uuid.uuid4()))
        manifest = build_manifest(service.dataset_code, chosen, criteria.split)
        too_large = len(manifest.entries) > allowance.max_images
        chunks = [] if too_large else list(manifest.chunks(self.chunk_size))
        write_chunks(self.store, self.collections, service.id, manifest_id, chunks)
        header = {
            "manifest_id": manifest_id,
            "images": len(manifest.entries),
            "patients": manifest.patients,
            "chunks": len(chunks),
            "bytes": manifest.bytes,
            "splits": manifest.splits,
            "digest": manifest.digest,
            "for_command": command_id,
            "for_version": service.version,
            "resolved_at": rfc3339(self.clock()),
        }
        collection = self.collections.manifests
        self.store.run_in_transaction(lambda tx: tx.put(collection, service.id, header))
        log.info("dataset_resolved", data_service_id=service.id, images=header["images"])

    # -- one chunk ---------------------------------------------------------------------------
    def deliver_chunk(self, envelope: Envelope) -> str:
        command = envelope.payload
        assert isinstance(command, DeliverChunk)
        key = chunk_doc_id(command.manifest_id, command.chunk_index)
        if self.store.get(self.collections.deliveries, key) is not None:
            self._check_completion(envelope, command)
            return "duplicate"
        service = self._service(command.data_service_id)
        if service is None or not service.is_delivering(command.manifest_id):
            return "ignored"  # cancelled or failed meanwhile: nothing more is delivered
        entries = self._entries(command.manifest_id, command.chunk_index)
        token = self._claim(key, command, envelope)
        # None: recorded by another delivery since the first look.
        outcome = "duplicate" if token is None else self._copy(envelope, service, entries, token)
        if outcome in ("duplicate", "delivered"):
            self._check_completion(envelope, command)
        return outcome

    def _copy(
        self, envelope: Envelope, service: DataService, entries: list[ManifestEntry], token: str
    ) -> str:
        """Copy a claimed chunk into its target (links and dicomweb: nothing) and record it."""
        command = envelope.payload
        assert isinstance(command, DeliverChunk)
        key = chunk_doc_id(command.manifest_id, command.chunk_index)
        target = self.target_of(service)
        try:
            record = self._deliver(service, target, command, entries)
        except (DeliveryRefused, SourceMissing) as failure:
            self._fail(envelope, command, failure.reason, failure.detail)
            return "failed"
        except BaseException:
            self._release(key, token)  # a retry may copy at once; the copies made stay
            raise
        if not self._record(key, record):
            return "duplicate"
        again = self._service(command.data_service_id)
        if again is not None and again.status in _ENDED and again.has_copies:
            # Ended while this chunk copied: its revocation may have run before the copies.
            self._remove(target, entries, with_files=False)
            return "revoked"
        return "delivered"

    def _claim(self, key: str, command: DeliverChunk, envelope: Envelope) -> str | None:
        """Take the chunk's lease in a transaction (None: the chunk is recorded already).
        A lease held by another delivery raises ChunkHeld: Pub/Sub retries that delivery
        later, when the chunk is recorded (a duplicate) or the holder died (lease over)."""
        token = uuid.uuid4().hex
        now = self.clock()
        claims, deliveries = self.collections.claims, self.collections.deliveries

        def claim(tx: DocumentTransaction) -> str | None:
            if tx.get(deliveries, key) is not None:
                return None
            held = tx.get(claims, key)
            if held is not None and str(held["lease_until"]) > rfc3339(now):
                raise ChunkHeld("another delivery of the chunk is copying it")
            tx.put(
                claims,
                key,
                {
                    "data_service_id": command.data_service_id,
                    "manifest_id": command.manifest_id,
                    "chunk_index": command.chunk_index,
                    "token": token,
                    "message_id": envelope.id,
                    "lease_until": rfc3339(now + CLAIM_LEASE),
                },
            )
            return token

        return self.store.run_in_transaction(claim)

    def _release(self, key: str, token: str) -> None:
        claims = self.collections.claims

        def release(tx: DocumentTransaction) -> None:
            held = tx.get(claims, key)
            if held is not None and held.get("token") == token:
                tx.put(claims, key, {**held, "lease_until": rfc3339(self.clock())})

        self.store.run_in_transaction(release)

    def _record(self, key: str, record: Document) -> bool:
        """The chunk's one progress record, create-only: a second writer never replaces
        the first one's counts."""
        deliveries = self.collections.deliveries

        def write(tx: DocumentTransaction) -> bool:
            if tx.get(deliveries, key) is not None:
                return False
            tx.create(deliveries, key, record)
            return True

        return self.store.run_in_transaction(write)

    def _deliver(
        self,
        service: DataService,
        target: DeliveryTarget,
        command: DeliverChunk,
        entries: list[ManifestEntry],
    ) -> Document:
        record: Document = {
            "data_service_id": service.id,
            "manifest_id": command.manifest_id,
            "chunk_index": command.chunk_index,
            "objects": len(entries),
            "bytes": sum(e.size for e in entries),
            "delivered_at": rfc3339(self.clock()),
        }
        if not target.spec.copies:
            # links and dicomweb: the images stay where they are, read through the api.
            return {**record, "copied": 0}
        # Copies wait on the network, not the CPU: several at once.
        with ThreadPoolExecutor(COPY_THREADS) as pool:
            placed = list(
                pool.map(lambda e: target.place(*split_uri(e.uri), e.delivered_name("")), entries)
            )
        return {**record, "copied": sum(p.copied for p in placed)}

    def _check_completion(self, envelope: Envelope, command: DeliverChunk) -> None:
        """After a chunk is recorded: if every chunk is, write the manifest files and
        record the delivery (a derived id: racing finishers give one record, one event)."""
        service = self._service(command.data_service_id)
        if service is None or service.manifest is None:
            return
        if not service.is_delivering(command.manifest_id):
            return
        manifest = service.manifest
        done = self.store.query(
            self.collections.deliveries,
            [Filter("manifest_id", "==", manifest.manifest_id)],
            limit=manifest.chunks + 1,
        ).items
        if len(done) < manifest.chunks:
            return
        target = self.target_of(service)
        self._write_manifest_files(service, target)
        # From the chunks' records, so that racing finishers grant the same end.
        last = max(datetime.fromisoformat(str(d["delivered_at"])) for _, d in done)
        access_until = service.access_until(last)
        if access_until is not None:
            target.grant(datetime.fromisoformat(access_until))
        where = target.where(access_until)
        manifest_uri, checksums_uri = manifest_uris(where)
        complete = CompleteDelivery(
            data_service_id=service.id,
            manifest_id=manifest.manifest_id,
            objects=sum(int(d["objects"]) for _, d in done),
            bytes=sum(int(d["bytes"]) for _, d in done),
            manifest_uri=manifest_uri,
            checksums_uri=checksums_uri,
            target_type=where.target_type,
            location=where.location,
            fetch_hint=where.fetch_hint,
            access_until=access_until,
        )
        self._process(envelope, complete, derived_id(manifest.manifest_id, "complete"))
        log.info("delivery_complete", data_service_id=service.id, chunks=manifest.chunks)

    def _write_manifest_files(self, service: DataService, target: DeliveryTarget) -> None:
        """manifest.jsonl and SHA256SUMS at the dataset's root, from the frozen chunks (so
        a second writer would write the same bytes; the first one stays). Both name each
        file as the target offers it (`<split>/<image_id>.dcm`, what the copies are called
        and what the files route lists), never the platform's own object."""
        assert service.manifest is not None
        entries = [
            entry
            for index in range(service.manifest.chunks)
            for entry in self._entries(service.manifest.manifest_id, index)
        ]
        target.put_text(MANIFEST, "".join(delivered_line(e) + "\n" for e in entries), _JSONL)
        target.put_text(
            CHECKSUMS, "".join(checksum_line(e, "") + "\n" for e in entries), "text/plain"
        )

    def _fail(self, envelope: Envelope, command: DeliverChunk, reason: str, detail: str) -> None:
        fail = FailDelivery(
            data_service_id=command.data_service_id,
            manifest_id=command.manifest_id,
            reason=reason,
            detail=detail[:300],
        )
        result = self._process(envelope, fail, derived_id(command.manifest_id, "fail"))
        log.warning("delivery_failed", data_service_id=command.data_service_id, reason=reason)
        if result == "applied":
            self._revoke_grant(command.data_service_id)
            self._fan_out(envelope, command.data_service_id, RevokeChunk, "revoke")

    # -- the end ------------------------------------------------------------------------------
    def end(self, envelope: Envelope) -> str:
        """FinishDataService or CancelDataService: the domain decides; then a managed
        folder's grant is revoked at once and the platform's files deleted chunk by chunk
        (the files route refuses an ended service's links as soon as it is recorded).
        A redelivery finds the outcome recorded and revokes again: both steps repeat."""
        result = self.processor.process(envelope)
        if result.outcome == "applied":
            self._revoke_grant(envelope.subject)
            self._fan_out(envelope, envelope.subject, RevokeChunk, "revoke")
        return result.outcome

    def _revoke_grant(self, service_id: str) -> None:
        service = self._service(service_id)
        if service is not None:
            self.target_of(service).revoke()

    def revoke_chunk(self, envelope: Envelope) -> str:
        command = envelope.payload
        assert isinstance(command, RevokeChunk)
        key = chunk_doc_id(command.manifest_id, command.chunk_index)
        if self.store.get(self.collections.revocations, key) is not None:
            return "duplicate"
        service = self._service(command.data_service_id)
        if service is None:
            raise TransientError("the data service of a revocation is not readable")
        entries = self._entries(command.manifest_id, command.chunk_index)
        target = self.target_of(service)
        removed = self._remove(target, entries, with_files=command.chunk_index == 0)
        record = {
            "data_service_id": command.data_service_id,
            "manifest_id": command.manifest_id,
            "chunk_index": command.chunk_index,
            "removed": removed,
            "revoked_at": rfc3339(self.clock()),
        }
        collection = self.collections.revocations
        self.store.run_in_transaction(lambda tx: tx.put(collection, key, record))
        return "revoked"

    @staticmethod
    def _remove(target: DeliveryTarget, entries: list[ManifestEntry], *, with_files: bool) -> int:
        names = [e.delivered_name("") for e in entries] if target.spec.copies else []
        if with_files:
            names += [MANIFEST, CHECKSUMS]
        return sum(target.remove(name) for name in names)

    # -- helpers ------------------------------------------------------------------------------
    def _fan_out(
        self, cause: Envelope, service_id: str, kind: type[DeliverChunk | RevokeChunk], verb: str
    ) -> None:
        """One command per chunk of the service's manifest, with ids derived from the
        manifest: a fan-out done twice publishes the same commands, and each chunk's own
        record makes the second delivery of one a no-op."""
        service = self._service(service_id)
        if service is None or service.manifest is None:
            return
        if kind is RevokeChunk and not (service.status in _ENDED and service.has_copies):
            return
        if kind is DeliverChunk and service.status is not Status.STARTED:
            return
        manifest_id = service.manifest.manifest_id
        commands = [
            Envelope(
                payload=kind(data_service_id=service_id, manifest_id=manifest_id, chunk_index=i),
                source=NAMES.source,
                id=derived_id(manifest_id, verb, str(i)),
                correlation_id=cause.correlation_id,
                causation_id=cause.id,
            )
            for i in range(service.manifest.chunks)
        ]
        for start in range(0, len(commands), PUBLISH_BATCH):
            self.publisher.publish(NAMES.commands_topic, commands[start : start + PUBLISH_BATCH])
        log.info(f"{verb}_fanned_out", data_service_id=service_id, chunks=len(commands))

    def _process(self, cause: Envelope, payload: Message, message_id: str) -> str:
        envelope = Envelope(
            payload=payload,
            source=NAMES.source,
            id=message_id,
            correlation_id=cause.correlation_id,
            causation_id=cause.id,
        )
        return self.processor.process(envelope).outcome

    def _service(self, service_id: str) -> DataService | None:
        return load_service(self.store, self.collections, service_id)

    def _entries(self, manifest_id: str, index: int) -> list[ManifestEntry]:
        return read_chunk(self.store, self.collections, manifest_id, index)


_JSONL = "application/x-ndjson"
MANIFEST, CHECKSUMS = "manifest.jsonl", "SHA256SUMS"


def delivered_line(entry: ManifestEntry) -> str:
    """A manifest line as the buyer gets it: the file's name as delivered instead of the
    platform's object (`uri`, a bucket the buyer cannot read)."""
    fields = {k: v for k, v in entry.to_dict().items() if k != "uri"}
    fields["name"] = entry.delivered_name("")
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))
