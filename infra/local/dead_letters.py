"""The dead letters of a running stack: read them, and publish them again (redrive).

Each context's dead-letter function records every message it was handed in the Firestore
collection `<collection_prefix>dead_letters` of that context's own database
(shared/service/dead_letters.py), so the desk reads every context's database: the message
bytes (`data_b64`), its attributes, where it died (`source_subscription`, e.g.
`trigger-subscriptions-handle-command`) and why. A redrive publishes the bytes and the
attributes again, without the `CloudPubSubDeadLetter*` ones Pub/Sub added, to the topic the
source subscription reads (from the topology), and marks the record `redriven`. Publishing
comes first: a redrive that fails to publish leaves the record `dead`, to be tried again.

Reading goes through the Firestore client; publishing is one REST call to the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from infra.local.topology import Topology
from shared.service.context import database_of
from shared.service.dead_letters import (
    COLLECTION,
    DEAD_LETTER_ATTRIBUTE_PREFIX,
    REJECTION_REASON_ATTRIBUTE,
)

DEAD, REDRIVEN = "dead", "redriven"


class RedriveError(RuntimeError):
    """A dead letter cannot be redriven (no topic known for it, or publishing failed)."""


@dataclass(frozen=True)
class DeadLetter:
    """One record, as stored; `data_b64` stays opaque (it can hold PHI)."""

    id: str
    fields: Mapping[str, Any]
    database: str = ""

    @property
    def status(self) -> str:
        return str(self.fields.get("status") or DEAD)

    @property
    def source_subscription(self) -> str | None:
        value = self.fields.get("source_subscription")
        # Pub/Sub in the cloud names it in full: projects/<p>/subscriptions/<name>.
        return str(value).rsplit("/", 1)[-1] if value else None

    def republished_attributes(self) -> dict[str, str]:
        attributes: Mapping[str, Any] = self.fields.get("attributes") or {}
        return {
            str(key): str(value)
            for key, value in attributes.items()
            # What Pub/Sub and our entry points added when it died: a redriven message
            # starts again as it was first published.
            if not str(key).startswith(DEAD_LETTER_ATTRIBUTE_PREFIX)
            and key != REJECTION_REASON_ATTRIBUTE
        }


def collection_name(collection_prefix: str) -> str:
    return f"{collection_prefix}{COLLECTION}"


def product_databases() -> list[str]:
    """The database of every context of the source tree (a folder with a wiring.py)."""
    functions = Path(__file__).parents[2] / "functions"
    return [database_of(p.parent.name) for p in sorted(functions.glob("*/wiring.py"))]


def original_topic(letter: DeadLetter, topology: Topology) -> str | None:
    """The topic the subscription it died on reads, by the topology's trigger subscriptions."""
    name = letter.source_subscription
    for subscription in topology.trigger_subscriptions():
        if subscription.name == name:
            return subscription.topic
    return None


class DeadLetterDesk:
    """List and redrive the dead letters of one project's emulators."""

    def __init__(
        self,
        project_id: str,
        collection_prefix: str,
        pubsub_host: str,
        firestore: Callable[[str], Any],
        databases: list[str] | None = None,
    ) -> None:
        self.project_id = project_id
        self.collection = collection_name(collection_prefix)
        self.pubsub_host = pubsub_host
        # database -> google.cloud.firestore.Client (untyped), one per context's database
        self._clients = {name: firestore(name) for name in databases or product_databases()}

    def list(self, status: str | None = None) -> list[DeadLetter]:
        """Every record of every context (or those with `status`), oldest first."""
        letters: list[DeadLetter] = []
        for database, client in self._clients.items():
            query = client.collection(self.collection)
            if status is not None:
                query = query.where(filter=_field_filter("status", "==", status))
            letters += [
                DeadLetter(id=doc.id, fields=doc.to_dict() or {}, database=database)
                for doc in query.stream()
            ]
        return sorted(letters, key=lambda letter: str(letter.fields.get("recorded_at") or ""))

    def get(self, dead_letter_id: str) -> DeadLetter | None:
        for database, client in self._clients.items():
            snapshot = client.collection(self.collection).document(dead_letter_id).get()
            if snapshot.exists:
                fields = snapshot.to_dict() or {}
                return DeadLetter(id=snapshot.id, fields=fields, database=database)
        return None

    def redrive(self, letter: DeadLetter, topology: Topology, topic: str | None = None) -> str:
        """Publish it again and mark it redriven; returns the topic it went to."""
        from google.cloud import firestore

        destination = topic or original_topic(letter, topology)
        if destination is None:
            raise RedriveError(
                f"{letter.id}: no trigger subscription {letter.source_subscription!r} in the "
                "topology, so its topic is unknown; name one with --topic"
            )
        message: dict[str, Any] = {"data": letter.fields.get("data_b64") or ""}
        attributes = letter.republished_attributes()
        if attributes:
            message["attributes"] = attributes
        url = (
            f"http://{self.pubsub_host}/v1/projects/{self.project_id}/topics/{destination}:publish"
        )
        try:
            response = requests.post(url, json={"messages": [message]}, timeout=10)
        except requests.RequestException as error:
            raise RedriveError(f"{letter.id}: publishing to {destination}: {error}") from None
        if not response.ok:
            raise RedriveError(
                f"{letter.id}: publishing to {destination} failed: HTTP {response.status_code}"
            )
        # One update: the three fields change together or not at all.
        client = self._clients[letter.database]
        client.collection(self.collection).document(letter.id).update(
            {
                "status": REDRIVEN,
                "redriven_at": rfc3339_now(),
                "redrive_count": firestore.Increment(1),
            }
        )
        return destination


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _field_filter(field: str, op: str, value: object) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return FieldFilter(field, op, value)
