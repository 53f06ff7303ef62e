"""Opaque page cursors for the HTTP query functions of every context."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from shared.domain.errors import PermanentError
from shared.ports.documents import Document, DocumentStore, Filter, is_document_id

MAX_PAGE_SIZE = 100
MAX_CURSOR_CHARS = 2048


def encode_cursor(cursor: tuple[Any, str] | None) -> str | None:
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode().rstrip("=")


def decode_cursor(token: str | None) -> tuple[Any, str] | None:
    if not token:
        return None
    refused = PermanentError("invalid_cursor", "cursor is not one this API issued")
    if len(token) > MAX_CURSOR_CHARS:
        raise refused
    try:
        value, doc_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, TypeError, RecursionError) as error:
        raise refused from error
    # Only what this API puts in a cursor: an order value of a plain type and a document id
    # the store accepts (an id like ".." or "__x__" would be an error of the store, a 500).
    if not (isinstance(doc_id, str) and is_document_id(doc_id)):
        raise refused
    if value is not None and not isinstance(value, str | int | float | bool):
        raise refused
    if isinstance(value, int) and abs(value) > 2**63:
        raise refused
    return value, doc_id


def refuse_unknown_parameters(given: Iterable[str], known: set[str]) -> None:
    """A filter the API does not know is refused: silently ignoring it would answer
    another question than the one asked."""
    unknown = sorted(set(given) - known)
    if unknown:
        raise PermanentError(
            "unknown_parameter",
            f"unknown query parameter {unknown[0][:40]!r}",
            field=unknown[0][:40],
        )


def page_size(raw: str | None, default: int = 20) -> int:
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
        raise PermanentError("invalid_limit", "limit must be a whole number")
    size = int(raw) if raw else default
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise PermanentError("invalid_limit", f"limit must be 1 to {MAX_PAGE_SIZE}")
    return size


def newest_first(
    store: DocumentStore,
    collection: str,
    where: Sequence[Filter],
    *,
    order_by: str,
    view: Callable[[Document], dict[str, Any]],
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """One page of a read model, newest first, as every query function answers it."""
    page = store.query(
        collection, where, order_by=order_by, descending=True, limit=limit,
        after=decode_cursor(cursor),
    )  # fmt: skip
    return {
        "items": [view(document) for _, document in page.items],
        "next_cursor": encode_cursor(page.next_cursor),
    }
