"""Event handlers of the process manager: find the saga, let the engine decide.

Each handler is a plain function of (message, unit of work, dependencies) run by the
MessageProcessor (shared/service/processing.py) in one transaction with the inbox and
outbox: the saga's new state, its log entries and the commands it sends commit together
with the consumed event, or not at all. HANDLERS maps every event the context consumes
from a topic: each entry is one Cloud Function, made from it by entrypoints.py (named by
the event: sagas_on_plan_changed for PlanChanged), and one filtered trigger subscription in
infra/topology.yaml. IN_PROCESS_HANDLERS maps the commands the tick and the operator's
retry hand the processor in-process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.data_services.messages import (
    DataServiceCancelled,
    DataServiceCreated,
    DataServiceDelivered,
    DataServiceFailed,
    DataServicesCommandRejected,
    DataServiceStarted,
    DatasetPrepared,
    ExpertAssigned,
)
from functions.sagas.domain import ENDED, Saga
from functions.sagas.engine import Cause, Engine, SagaError
from functions.sagas.messages import RetrySaga, WakeSaga
from functions.sagas.plans import DEFINITIONS, first_facts
from functions.sagas.routing import find_saga, route_fields
from functions.sagas.unit_of_work import SagasUnitOfWork
from functions.subscriptions.messages import (
    PaymentDeclined,
    PaymentRefunded,
    PlanChanged,
    SubscriptionCancelled,
    SubscriptionCommandRejected,
    SubscriptionCreated,
    SubscriptionPaid,
)
from shared.domain.clock import Clock
from shared.domain.errors import TransientError
from shared.domain.messages import Event, Message
from shared.ports.envelope import Envelope, derived_id
from shared.service.processing import MessageHandler

ROUTE_FIELDS = route_fields(DEFINITIONS.values())


@dataclass(frozen=True)
class Dependencies:
    clock: Clock
    engine: Engine


class SagaNotYetKnown(TransientError):
    """An event of a saga plan that overtook the event starting its saga: retried."""


def _cause(uow: SagasUnitOfWork) -> Envelope:
    assert uow.cause is not None, "the message processor sets the cause"
    return uow.cause


def _saga_of(uow: SagasUnitOfWork) -> tuple[Saga, Any] | None:
    found = find_saga(uow, _cause(uow), ROUTE_FIELDS)
    if found is None:
        return None
    saga_id, route = found
    saga = uow.sagas.get(saga_id)
    if saga is None:
        raise SagaNotYetKnown("a route names a saga that is not stored")
    return saga, route


def _start(
    uow: SagasUnitOfWork,
    deps: Dependencies,
    *,
    plan: str,
    subscription_id: str,
    client_code: str,
    facts: dict[str, str],
) -> None:
    cause = _cause(uow)
    saga_id = derived_id("saga", subscription_id, cause.id)
    if uow.sagas.get(saga_id) is not None:
        return
    saga = deps.engine.start(
        DEFINITIONS[plan],
        saga_id=saga_id,
        subscription_id=subscription_id,
        client_code=client_code,
        correlation_id=cause.correlation_id,
        facts={**first_facts(saga_id, plan), **facts},
        cause=Cause(cause.id, cause.type),
        now=deps.clock(),
    )
    uow.sagas.add(saga)


def start_on_subscription_created(
    event: SubscriptionCreated, uow: SagasUnitOfWork, deps: Dependencies
) -> None:
    if event.plan in DEFINITIONS and event.provisions_data_service:
        _start(
            uow,
            deps,
            plan=event.plan,
            subscription_id=event.subscription_id,
            client_code=event.client_code,
            facts={"trigger": "created"},
        )


def on_plan_changed(event: PlanChanged, uow: SagasUnitOfWork, deps: Dependencies) -> None:
    """A change away from the plan of a running saga ends it (its abort rule); a change to
    a saga plan with no saga running starts one, undone by changing the plan back, unless
    it moves down between two such plans with nothing to pay (ENTERPRISE to PRO, the credit
    refunded): the client keeps the data service it has, and a saga would await a payment
    that never comes, then undo the change."""
    found = _saga_of(uow)
    if found is not None and found[0].status not in ENDED:
        _act(found, event, uow, deps)
        return
    paid_by_credit = event.previous_plan in DEFINITIONS and event.amount_due_cents == 0
    if event.plan in DEFINITIONS and event.provisions_data_service and not paid_by_credit:
        _start(
            uow,
            deps,
            plan=event.plan,
            subscription_id=event.subscription_id,
            client_code=event.client_code,
            facts={"trigger": "plan_changed", "previous_plan": event.previous_plan},
        )


# Events of a saga plan that may arrive before the event that starts its saga.
_MAY_PRECEDE_THE_SAGA = (SubscriptionPaid, PaymentDeclined, SubscriptionCancelled)


def on_reply(event: Event, uow: SagasUnitOfWork, deps: Dependencies) -> None:
    """Any event that answers a saga's command, or that a saga awaits or aborts on."""
    found = _saga_of(uow)
    if found is None:
        if isinstance(event, _MAY_PRECEDE_THE_SAGA) and event.plan in DEFINITIONS:
            raise SagaNotYetKnown("the saga of this subscription has not started yet")
        return  # not a saga's business (a BASIC subscription's payment, say)
    _act(found, event, uow, deps)


def _act(found: tuple[Saga, Any], event: Event, uow: SagasUnitOfWork, deps: Dependencies) -> None:
    saga, route = found
    cause = _cause(uow)
    deps.engine.on_event(saga, event, route, Cause(cause.id, cause.type), deps.clock())


def wake_saga(cmd: WakeSaga, uow: SagasUnitOfWork, deps: Dependencies) -> None:
    saga = uow.sagas.get(cmd.saga_id)
    now = deps.clock()
    # A wake that is no longer due (another tick handled it, or a reply moved the time).
    if saga is None or saga.wake_at is None or now < datetime.fromisoformat(saga.wake_at):
        return
    cause = _cause(uow)
    deps.engine.wake(saga, Cause(cause.id, cause.type), now)


def retry_saga(cmd: RetrySaga, uow: SagasUnitOfWork, deps: Dependencies) -> None:
    saga = uow.sagas.get(cmd.saga_id)
    if saga is None:
        raise SagaError("saga_not_found", "no such saga")
    cause = _cause(uow)
    deps.engine.retry(saga, Cause(cause.id, cause.type), deps.clock())


HANDLERS: Mapping[type[Message], MessageHandler[SagasUnitOfWork, Any]] = {
    SubscriptionCreated: start_on_subscription_created,
    PlanChanged: on_plan_changed,
    SubscriptionPaid: on_reply,
    PaymentDeclined: on_reply,
    SubscriptionCancelled: on_reply,
    PaymentRefunded: on_reply,
    SubscriptionCommandRejected: on_reply,
    DataServiceCreated: on_reply,
    ExpertAssigned: on_reply,
    DatasetPrepared: on_reply,
    DataServiceStarted: on_reply,
    DataServiceDelivered: on_reply,
    DataServiceFailed: on_reply,
    DataServiceCancelled: on_reply,
    DataServicesCommandRejected: on_reply,
}

IN_PROCESS_HANDLERS: Mapping[type[Message], MessageHandler[SagasUnitOfWork, Any]] = {
    WakeSaga: wake_saga,
    RetrySaga: retry_saga,
}
