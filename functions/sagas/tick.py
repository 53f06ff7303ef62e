"""The scheduled tick: wake every saga whose deadline or resend time has come.

Each wake is an internal WakeSaga command with an id derived from the saga and its due
time, processed like any message (inbox, state, outbox in one transaction), so two ticks
running at once, or a retried one, wake a saga once.
"""

from __future__ import annotations

from functions.sagas.messages import NAMES, WakeSaga
from functions.sagas.queries import sagas_due
from functions.sagas.wiring import SagasWiring
from shared.domain.clock import rfc3339
from shared.domain.errors import TransientError
from shared.logging import get_logger
from shared.ports.envelope import Envelope, derived_id

log = get_logger(__name__)
# Sagas woken per tick; the next tick takes the rest (each is one short transaction).
TICK_BATCH = 200


def wake_due_sagas(w: SagasWiring, batch: int = TICK_BATCH) -> dict[str, int]:
    now = w.platform.clock()
    due = sagas_due(w.platform.store, rfc3339(now), w.collections, batch)
    woken, retry_later = 0, 0
    for saga_id, wake_at in due:
        envelope = Envelope(
            payload=WakeSaga(saga_id=saga_id, due=wake_at),
            source=NAMES.source,
            id=derived_id("saga-wake", saga_id, wake_at),
        )
        try:
            w.processor.process(envelope)
            woken += 1
        except TransientError as error:  # this saga at the next tick, the others now
            retry_later += 1
            log.warning("saga_wake_retry", saga_id=saga_id, error=type(error).__name__)
    log.info("sagas_tick", due=len(due), woken=woken, retry_later=retry_later)
    return {"due": len(due), "woken": woken, "retry_later": retry_later}
