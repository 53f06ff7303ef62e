"""Opaque page cursors for the HTTP query functions of every context."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any

from shared.errors import PermanentError
from shared.ports import Document, DocumentStore, Filter

MAX_PAGE_SIZE = 100


def encode_cursor(cursor: tuple[Any, str] | None) -> str | None:
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode().rstrip("=")


def decode_cursor(token: str | None) -> tuple[Any, str] | None:
    if not token:
        return None
    try:
        value, doc_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, TypeError) as error:
        raise PermanentError("invalid_cursor", "cursor is not one this API issued") from error
    if not isinstance(doc_id, str):
        raise PermanentError("invalid_cursor", "cursor is not one this API issued")
    return value, doc_id


def page_size(raw: str | None, default: int = 20) -> int:
    try:
        size = int(raw) if raw else default
    except ValueError as error:
        raise PermanentError("invalid_limit", "limit must be a whole number") from error
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
