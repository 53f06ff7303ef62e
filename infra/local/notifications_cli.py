"""`python -m infra.local notifications ...`: the notifications read model against a stack.

rebuild   replay the event store's global log from zero into a scratch collection, compare
          it with the live read model document by document, and say whether they agree
          (--apply: rebuild the live read model itself, positions from zero)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from infra.local.stack import DEFAULT_STATE_DIR, LocalStack

notifications_app = typer.Typer(help=__doc__, no_args_is_help=True)
_console = Console(highlight=False)


def _all(store: Any, collection: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        page = store.query(collection, limit=500, after=after)
        found.update(page.items)
        if page.next_cursor is None:
            return found
        after = page.next_cursor


@notifications_app.command()
def rebuild(
    state_dir: Annotated[
        Path, typer.Option(help="The stack's state directory.")
    ] = DEFAULT_STATE_DIR,
    apply: Annotated[bool, typer.Option(help="Rebuild the live read model itself.")] = False,
) -> None:
    """Replay the projections from the store; report whether they equal the live ones."""
    stack = LocalStack.attach(state_dir)
    os.environ.update(stack.env)  # the Google clients read the emulator hosts when built
    from functions.bootstrap import cloud_platform
    from functions.notifications import wiring
    from shared.config import Settings
    from shared.service.context import database_of

    w = wiring.build(cloud_platform(Settings(), database_of("notifications")))
    live_collection = w.storage.view.collection
    target = None if apply else f"{live_collection}_rebuild"
    result = w.projection_runner(target).rebuild()
    _console.print(f"replayed {result.applied} events, skipped {result.skipped} unknown")
    if apply:
        return
    live = _all(w.platform.store, live_collection)
    rebuilt = _all(w.platform.store, target or live_collection)
    differing = sorted(k for k in live.keys() | rebuilt.keys() if live.get(k) != rebuilt.get(k))
    _console.print(f"{len(live)} live documents, {len(rebuilt)} rebuilt, {len(differing)} differ")
    if differing:
        for doc_id in differing[:10]:
            _console.print(f"  differs: {doc_id}")
        raise typer.Exit(1)
