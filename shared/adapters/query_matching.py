"""How a Filter matches a document and how documents sort, as Firestore does it.

Used by the in-memory store so that it answers queries like the real one.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from shared.ports.documents import Document, Filter

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda value, options: value in options,
    "array_contains": lambda value, item: isinstance(value, list) and item in value,
}
_MISSING = object()


def matches(data: Document, where: Filter) -> bool:
    value = _lookup(data, where.field)
    if value is _MISSING:
        return False
    try:
        return bool(_OPERATORS[where.op](value, where.value))
    except TypeError:  # Firestore never matches values of different types
        return False


def has_field(data: Document, dotted: str) -> bool:
    return _lookup(data, dotted) is not _MISSING


def sort_key(row: tuple[str, Document], order_by: str | None) -> tuple[Any, ...]:
    doc_id, data = row
    if order_by is None:
        return (doc_id,)
    value = _lookup(data, order_by)
    return ((0, "") if value is _MISSING else (1, value), doc_id)


def _lookup(data: Document, dotted: str) -> Any:
    current: Any = data
    for part in dotted.split("."):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current
