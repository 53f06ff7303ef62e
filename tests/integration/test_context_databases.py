"""Each context owns a named Firestore database, and the emulator keeps them apart.

The boundary between contexts rests on this: a document a context writes in its own database
is not there for another context, nor in `(default)`, and transactions work in a named
database. If an emulator release merged them, the local stack would hide a cross-context
read that the cloud refuses; this test says so first.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from infra.local.environment import temporary_environment
from shared.adapters.firestore_store import FirestoreDocumentStore
from shared.service.context import database_of

pytestmark = pytest.mark.emulators


def _store(stack: Any, database: str) -> FirestoreDocumentStore:
    from google.cloud import firestore

    with temporary_environment(stack.env):
        return FirestoreDocumentStore(firestore.Client(project=stack.project_id, database=database))


def test_a_document_in_one_context_database_is_absent_from_the_others(probe_stack: Any) -> None:
    stack = probe_stack.stack
    ingestion = _store(stack, database_of("ingestion"))
    others = [_store(stack, database_of(c)) for c in ("subscriptions", "api")]
    default = _store(stack, "(default)")
    collection, key = "boundary_probe", uuid.uuid4().hex

    ingestion.run_in_transaction(lambda tx: tx.create(collection, key, {"n": 1}))

    assert (ingestion.get(collection, key) or {}).get("n") == 1
    assert all(store.get(collection, key) is None for store in [*others, default])


def test_transactions_in_a_named_database_see_their_own_writes(probe_stack: Any) -> None:
    store = _store(probe_stack.stack, database_of("sagas"))
    collection, key = "boundary_probe", uuid.uuid4().hex
    store.run_in_transaction(lambda tx: tx.put(collection, key, {"n": 1}))

    def bump(tx: Any) -> None:
        found = tx.get(collection, key)
        tx.put(collection, key, {"n": found["n"] + 1})

    store.run_in_transaction(bump)
    assert store.get(collection, key) == {"n": 2}
