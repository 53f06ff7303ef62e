"""GET /v1/dead-letters: every context's dead letters, read at each context's queries door
(`GET /dead-letters`, shared/entrypoints/dead_letter_door.py), since each keeps its own in
its own database.

With `context=<name>` the answer is that door's page as it gave it, and its cursor is that
door's. Without it the contexts are merged newest first (by `recorded_at`; equal times in a
fixed order of the contexts), and the merged cursor is sound: it holds, per context, that
context's own door cursor just after the last of its dead letters already shown ("" for
none shown yet; a context left out is exhausted). A page asks each remaining context for
`limit` from its position, takes the `limit` newest of them, and moves each context's
position past exactly what was taken from it, so no dead letter is shown twice or skipped
(one recorded after the listing began is newer than every position: it shows on a new
listing, not in this one). A context only partly taken from is asked once more, for just
that many, to learn the door's cursor after them. A cursor continues the listing it came
from: a merged cursor given with `context`, or a context's cursor given without it, is
refused as invalid_cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from functions.api.context_doors import DEAD_LETTER_DOORS, answered
from shared.domain.errors import PermanentError
from shared.ports.doors import Doors
from shared.service.pagination import MAX_CURSOR_CHARS

PATH = "/dead-letters"
_MERGED = "merged"  # the first element of a merged cursor; a door's cursor starts with a time
Positions = dict[str, str]  # context -> its door's cursor ("" = from its newest)


def _invalid_cursor() -> PermanentError:
    return PermanentError("invalid_cursor", "cursor is not one this API issued", field="cursor")


def encode(positions: Positions) -> str | None:
    if not positions:
        return None
    raw = json.dumps([_MERGED, dict(sorted(positions.items()))], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str | None) -> Positions:
    """The positions of a merged cursor; every context from its newest without one."""
    if not cursor:
        return dict.fromkeys(DEAD_LETTER_DOORS, "")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise _invalid_cursor()
    try:
        kind, positions = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError, RecursionError) as error:
        raise _invalid_cursor() from error
    valid = (
        kind == _MERGED
        and isinstance(positions, dict)
        and set(positions) <= set(DEAD_LETTER_DOORS)
        and all(isinstance(p, str) for p in positions.values())
    )
    if not valid:
        raise _invalid_cursor()
    return dict(positions)


def _door_page(doors: Doors, context: str, limit: int, cursor: str) -> dict[str, Any]:
    target = DEAD_LETTER_DOORS[context]
    params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
    found: dict[str, Any] = answered(target, doors.call(target, "GET", PATH, params=params))
    return found


def page(doors: Doors, context: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    if context is not None:
        if context not in DEAD_LETTER_DOORS:
            known = ", ".join(sorted(DEAD_LETTER_DOORS))
            raise PermanentError("unknown_context", f"one of {known}", field="context")
        return _door_page(doors, context, limit, cursor or "")
    return merged(doors, limit, cursor)


def merged(doors: Doors, limit: int, cursor: str | None) -> dict[str, Any]:
    positions = decode(cursor)
    pages = {c: _door_page(doors, c, limit, at) for c, at in sorted(positions.items())}
    taken = dict.fromkeys(pages, 0)
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        heads = {c: p["items"][taken[c]] for c, p in pages.items() if taken[c] < len(p["items"])}
        # A context whose page ran out but that has more: nothing older may be shown before
        # its next page is read (a full page of `limit` is never run out of before the end).
        ran_out = any(taken[c] == len(p["items"]) and p["next_cursor"] for c, p in pages.items())
        if not heads or ran_out:
            break
        newest = max(heads, key=lambda c: (str(heads[c].get("recorded_at") or ""), c))
        items.append(heads[newest])
        taken[newest] += 1
    following: Positions = {}
    for context, door_page in pages.items():
        count, shown = taken[context], len(door_page["items"])
        if count == 0:
            if shown:  # none of it was older than what was shown: it stays where it was
                following[context] = positions[context]
        elif count == shown:
            if door_page["next_cursor"]:
                following[context] = door_page["next_cursor"]
        else:  # the door's cursor just after the `count` taken
            after = _door_page(doors, context, count, positions[context])["next_cursor"]
            if after:
                following[context] = after
    return {"items": items, "next_cursor": encode(following)}
