"""The document store port: transactions, optimistic versions, queries; adapters live in
shared/adapters/.

Documents are plain JSON-like dicts. Every document written through `save` or `create` carries
an integer `_version`, which is how aggregates get optimistic concurrency on any backend.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from shared.domain.errors import ConcurrencyConflict

T = TypeVar("T")
Document = dict[str, Any]
VERSION_FIELD = "_version"
Operator = Literal["==", "<", "<=", ">", ">=", "in", "array_contains"]


# The characters of an id of ours (the HTTP doors document it as the pattern of a path id).
DOCUMENT_ID_PATTERN = r"^[A-Za-z0-9_.:@+=-]{1,200}$"
_DOCUMENT_ID = re.compile(DOCUMENT_ID_PATTERN)


def is_document_id(value: str) -> bool:
    """Whether every store takes `value` as a document id: Firestore refuses "/", ".",
    "..", ids of the form __x__ and ids over 1,500 bytes; ours are plain tokens."""
    return bool(
        _DOCUMENT_ID.match(value)
        and value not in (".", "..")
        and not (value.startswith("__") and value.endswith("__"))
    )


class DocumentExists(ConcurrencyConflict):
    """A create-only write found the document already there."""


class StaleVersion(ConcurrencyConflict):
    """A versioned save found another version than the one it was based on."""


class TransactionContended(ConcurrencyConflict):
    """The store gave up on a transaction that other transactions held locks against (its
    own retries included): transient, so the message is redelivered later, not retried here."""


@dataclass(frozen=True)
class Filter:
    field: str
    op: Operator
    value: Any


@dataclass(frozen=True)
class Page:
    items: list[tuple[str, Document]]
    # Opaque to callers; pass it back as `after` to get the next page. None: no more pages.
    next_cursor: tuple[Any, str] | None


class DocumentTransaction(Protocol):
    """One atomic, isolated set of reads and writes. Writes are staged and applied together
    when the work returns, so reads and writes may be interleaved in any order."""

    def get(self, collection: str, doc_id: str) -> Document | None: ...

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[Document | None]:
        """Read several documents in one round trip; later `get`s of them are answered
        from what was read."""

    def create(self, collection: str, doc_id: str, data: Document) -> None:
        """Create-only: the commit fails with DocumentExists if the document exists."""

    def save(self, collection: str, doc_id: str, data: Document, *, expected_version: int) -> None:
        """Write `data` as version expected_version + 1; StaleVersion if another version is
        stored (0 means: must not exist)."""

    def put(self, collection: str, doc_id: str, data: Document) -> None:
        """Unconditional write, for documents that are not aggregates (read models)."""


class DocumentStore(Protocol):
    def run_in_transaction(self, work: Callable[[DocumentTransaction], T]) -> T:
        """Run `work` in a transaction, again from the start if it conflicts with another."""

    def get(self, collection: str, doc_id: str) -> Document | None: ...

    def query(
        self,
        collection: str,
        where: Sequence[Filter] = (),
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 50,
        after: tuple[Any, str] | None = None,
    ) -> Page: ...

    def count(self, collection: str, where: Sequence[Filter] = (), *, up_to: int) -> int:
        """How many documents match, counting no further than `up_to`: a yes/no or "are
        they all there" answer without fetching the documents (Firestore's count()
        aggregation bills one read per 1,000 index entries counted, a query one per
        document)."""
