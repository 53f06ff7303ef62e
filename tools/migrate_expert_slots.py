"""`python -m tools.migrate_expert_slots [--dry-run]`: move the services that experts'
documents list (`assignments`, written before docs/decisions/0014-expert-capacity.md) into
the experts' slots.

Every read counts both while this runs (the list fills an expert's last slots, the slots the
rest), so the functions keep assigning and releasing meanwhile. Each expert is changed in
one transaction that reads it and all its slots again: each listed service not holding a
slot already takes a free one, then the list is emptied (the expert's version moves on, as
any change of it does). An expert with an empty list is left alone, so a second run changes
nothing. It prints counts, never a value. In the cloud it runs with Application Default
Credentials and the SALUDTECH_* settings of the functions, as tools/accounts.py does.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer

from functions import bootstrap
from functions.data_services.experts import ExpertSlot, slot_id
from functions.data_services.unit_of_work import Collections, DataServicesUnitOfWork
from shared.config import get_settings
from shared.domain.clock import Clock, utc_now
from shared.ports.documents import DocumentStore, DocumentTransaction

PAGE = 100


def run(
    store: DocumentStore, collections: Collections, clock: Clock, *, dry_run: bool = False
) -> dict[str, int]:
    """Experts examined, experts changed (or, dry, that would be), services moved."""
    counts = {"examined": 0, "changed": 0, "moved": 0}
    after = None
    while True:
        page = store.query(collections.experts, limit=PAGE, after=after)
        counts["examined"] += len(page.items)
        for code, document in page.items:
            if not document.get("assignments"):
                continue
            counts["changed"] += 1
            if dry_run:
                counts["moved"] += len(document["assignments"])
            else:
                moved = partial(_move, collections=collections, code=code, clock=clock)
                counts["moved"] += store.run_in_transaction(moved)
        if page.next_cursor is None:
            return counts
        after = page.next_cursor


def _move(tx: DocumentTransaction, *, collections: Collections, code: str, clock: Clock) -> int:
    uow = DataServicesUnitOfWork(tx, collections)
    expert = uow.experts.get(code)
    if expert is None or not expert.assignments:
        return 0  # moved by another run meanwhile
    ids = [slot_id(code, n) for n in range(expert.capacity)]
    slots = [
        slot or ExpertSlot.free(code, number) for number, slot in enumerate(uow.read_slots(ids))
    ]
    holding = {slot.data_service_id for slot in slots}
    free = iter([slot for slot in slots if slot.data_service_id is None])
    left: list[str] = []
    moved = 0
    for data_service_id in expert.unlist():
        if data_service_id in holding:
            continue
        # The list filled the slots the others left free: there is one for each.
        slot = next(free, None)
        if slot is None:
            left.append(data_service_id)
            continue
        service = uow.services.get(data_service_id)
        slot.take(data_service_id, service.speciality if service else "", clock())
        if slot.version == 0:
            uow.slots.add(slot)
        moved += 1
    expert.assignments = left  # none, unless the expert was over its capacity
    uow.stage_changes()
    return moved


app = typer.Typer(help=__doc__, add_completion=False)


@app.command()
def main(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would change; write nothing.")
    ] = False,
) -> None:
    """Move the experts' listed services into their slots; prints counts."""
    settings = get_settings()
    counts = run(
        bootstrap.platform("data_services").store,
        Collections.from_settings(settings),
        utc_now,
        dry_run=dry_run,
    )
    verb = "would change" if dry_run else "changed"
    typer.echo(
        f"experts: {counts['examined']} examined, {counts['changed']} {verb}, "
        f"{counts['moved']} services into slots"
    )


if __name__ == "__main__":
    app()
