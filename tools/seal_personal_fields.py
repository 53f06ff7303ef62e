"""`python -m tools.seal_personal_fields [--dry-run]`: seal the personal data that documents
written before security finding 6 keep in clear (docs/security.md).

New documents are written sealed and every read accepts a field sealed or in clear, so the
functions keep serving while this runs, and a stack that only ever wrote sealed documents
(a fresh local stack) has nothing to run it for. It walks, a page at a time:

- subscriptions: the client's RUT, national id and email, sealed (`client.<field>_sealed`);
- subscriptions' inbox: the envelopes its records keep (SubscriptionCreated's email), sealed;
- data services' experts: the national id and email, sealed;
- data services' services: the client's names a v1 CreateDataService left, dropped;
- notifications' recipients: each channel's email address and webhook URL, sealed
  (`channels[].<field>_sealed`);
- sagas' inbox: the v1 CreateDataService copies (the client's names and username) that a
  redelivery would publish again, rewritten as the v2 command (same id, the code only).

Each document is changed in a transaction that reads it again, keeping its version (the
aggregate is the same); a document with nothing in clear is left alone, so a second run
changes nothing. It prints counts per collection, never a value. In the cloud it runs with
Application Default Credentials and the SALUDTECH_* settings of the functions (the field
encryption key from Secret Manager), as tools/accounts.py does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import typer

from functions import bootstrap
from functions.data_services.messages import CreateDataService, CreateDataServiceV2
from functions.data_services.unit_of_work import Collections
from functions.notifications.recipients import COLLECTION as RECIPIENTS
from functions.notifications.recipients import Recipient, channel_fields, stored_channels
from functions.sagas.messages import NAMES as SAGAS
from functions.subscriptions.messages import NAMES as SUBSCRIPTIONS
from functions.subscriptions.unit_of_work import COLLECTION, client_fields
from shared.config import Settings, get_settings
from shared.ports.documents import Document, DocumentStore, DocumentTransaction
from shared.service.field_crypto import FieldCipher, SealedFields
from shared.service.processing import seal_outbox_entry

PAGE = 100
# What a document should become; None: it has nothing in clear.
Change = Callable[[str, Document], Document | None]


@dataclass(frozen=True)
class Migration:
    context: str  # whose database holds the collection
    collection: str
    change: Change


def migrations(settings: Settings) -> list[Migration]:
    client = client_fields(settings)
    data_services = Collections.from_settings(settings)
    return [
        Migration("subscriptions", settings.collection(COLLECTION), partial(_seal_client, client)),
        Migration(
            "subscriptions",
            settings.collection(f"{SUBSCRIPTIONS.name}_inbox"),
            partial(_seal_outbox, client.cipher),
        ),
        Migration(
            "data_services",
            data_services.experts,
            partial(_seal_expert, data_services.sealed_experts),
        ),
        Migration("data_services", data_services.services, _drop_client_names),
        Migration(
            "notifications",
            settings.collection(RECIPIENTS),
            partial(_seal_channels, channel_fields(settings)),
        ),
        Migration("sagas", settings.collection(f"{SAGAS.name}_inbox"), _upgrade_v1_copies),
    ]


def run(
    store_of: Callable[[str], DocumentStore], todo: list[Migration], *, dry_run: bool = False
) -> dict[str, dict[str, int]]:
    """Per collection: documents examined, and changed (or, dry, that would be)."""
    counts: dict[str, dict[str, int]] = {}
    for migration in todo:
        store = store_of(migration.context)
        count = counts.setdefault(migration.collection, {"examined": 0, "changed": 0})
        after = None
        while True:
            page = store.query(migration.collection, limit=PAGE, after=after)
            stale = [doc_id for doc_id, doc in page.items if migration.change(doc_id, doc)]
            count["examined"] += len(page.items)
            if stale and not dry_run:
                count["changed"] += store.run_in_transaction(
                    partial(_rewrite, migration=migration, doc_ids=stale)
                )
            elif stale:
                count["changed"] += len(stale)
            if page.next_cursor is None:
                break
            after = page.next_cursor
    return counts


def _rewrite(tx: DocumentTransaction, *, migration: Migration, doc_ids: list[str]) -> int:
    """Change each document as it is now (a function may have written it since the page
    was read); the writes are plain puts that keep `_version`."""
    current = tx.get_many([(migration.collection, doc_id) for doc_id in doc_ids])
    changes = [
        (doc_id, changed)
        for doc_id, document in zip(doc_ids, current, strict=True)
        if document is not None and (changed := migration.change(doc_id, document)) is not None
    ]
    for doc_id, changed in changes:
        tx.put(migration.collection, doc_id, changed)
    return len(changes)


# -- the changes --------------------------------------------------------------------------
def _seal_client(client: SealedFields, doc_id: str, document: Document) -> Document | None:
    stored = document.get("client") or {}
    if not client.in_clear(stored):
        return None
    return {**document, "client": client.seal(doc_id, stored)}


def _seal_expert(expert: SealedFields, doc_id: str, document: Document) -> Document | None:
    return expert.seal(doc_id, document) if expert.in_clear(document) else None


def _seal_channels(fields: SealedFields, doc_id: str, document: Document) -> Document | None:
    channels = document.get("channels") or []
    if "recipient_id" not in document or not any(fields.in_clear(c) for c in channels):
        return None  # sealed already, or one of the collection's owner records (no channels)
    recipient = Recipient.from_document(document, fields)
    sealed = stored_channels(fields, recipient.recipient_id, recipient.channels)
    return {**document, "channels": sealed}


def _seal_outbox(cipher: FieldCipher, doc_id: str, record: Document) -> Document | None:
    outbox: list[dict[str, Any]] = record.get("outbox") or []
    if not any("envelope" in entry for entry in outbox):
        return None
    sealed = [seal_outbox_entry(cipher, doc_id, i, entry) for i, entry in enumerate(outbox)]
    return {**record, "outbox": sealed}


def _drop_client_names(doc_id: str, document: Document) -> Document | None:
    client = document.get("client")
    if not isinstance(client, dict) or set(client) <= {"code"}:
        return None
    return {**document, "client": {"code": document.get("client_code", client.get("code"))}}


def _upgrade_v1_copies(doc_id: str, record: Document) -> Document | None:
    outbox: list[dict[str, Any]] = record.get("outbox") or []
    if not any(_is_v1(entry) for entry in outbox):
        return None
    upgraded = [_as_v2(entry) if _is_v1(entry) else entry for entry in outbox]
    types = [entry["envelope"]["type"] for entry in upgraded if "envelope" in entry]
    return {**record, "outbox": upgraded, "event_types": types}


def _is_v1(entry: dict[str, Any]) -> bool:
    return (entry.get("envelope") or {}).get("type") == CreateDataService.TYPE


def _as_v2(entry: dict[str, Any]) -> dict[str, Any]:
    """The same command, as v2 (the consumer treats both alike): same id, so a redelivery
    still answers with the first reply; the client by code only."""
    envelope = entry["envelope"]
    command = CreateDataService.model_validate(envelope["data"]).upgraded()
    data = command.model_dump(mode="json")
    return {**entry, "envelope": {**envelope, "type": CreateDataServiceV2.TYPE, "data": data}}


app = typer.Typer(help=__doc__, add_completion=False)


@app.command()
def main(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would change; write nothing.")
    ] = False,
) -> None:
    """Seal what is still in clear; prints counts per collection."""
    counts = run(
        lambda context: bootstrap.platform(context).store,
        migrations(get_settings()),
        dry_run=dry_run,
    )
    verb = "would change" if dry_run else "changed"
    for collection, count in counts.items():
        typer.echo(f"{collection}: {count['examined']} examined, {count['changed']} {verb}")


if __name__ == "__main__":
    app()
