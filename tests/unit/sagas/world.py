"""The other contexts as the saga sees them, scripted: every command the saga sends is
answered the way the receiving context answers it (same command id, same reply id: an
inbox), unless a test says otherwise. Nothing is delivered until a test says so, so a test
decides every interleaving: lost, duplicated, reordered, late.

Failure injection, per command type:
- "lost": the command never arrives (before the side effect);
- "reply_lost": it takes effect, its reply is lost (after the side effect);
- "rejected" / "dead_lettered": the receiver refuses it, or gives up on it;
- "failed": it takes effect and then fails (a delivery that fails after its start).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.data_services.messages import (
    AssignExpert,
    CancelDataService,
    CreateDataServiceV2,
    DataServiceCancelled,
    DataServiceCreated,
    DataServiceDelivered,
    DataServiceFailed,
    DataServicesCommandRejected,
    DataServiceStarted,
    DatasetPrepared,
    ExpertAssigned,
    PrepareDataset,
    StartDataService,
)
from functions.sagas import wiring
from functions.sagas.messages import SagaCompensated, SagaCompleted
from functions.sagas.tick import wake_due_sagas
from functions.sagas.unit_of_work import SagaCollections
from functions.subscriptions.messages import (
    CancelSubscription,
    ChangePlan,
    PaymentRefunded,
    PlanChanged,
    RefundPayment,
    SubscriptionCancelled,
    SubscriptionCommandRejected,
    SubscriptionCreated,
    SubscriptionPaid,
)
from shared.domain.clock import FixedClock, rfc3339
from shared.domain.errors import TransientError
from shared.domain.messages import Command, Event
from shared.ports.envelope import Envelope
from shared.service.processing import Processed

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
NOW = rfc3339(T0)
# What the subscriptions context's events say of the client (its names they never carry).
CLIENT = {"code": "0001", "email": "pperez@example.com"}


@dataclass
class Subscription:
    plan: str
    status: str = "PENDING_PAYMENT"
    paid: set[str] = field(default_factory=set)
    refunded: set[str] = field(default_factory=set)


@dataclass
class World:
    platform: InMemoryPlatform
    clock: FixedClock
    w: wiring.SagasWiring
    # Messages for the saga, in the order they would arrive; tests reorder, drop, repeat.
    inbox: list[Envelope] = field(default_factory=list)
    faults: dict[str, str] = field(default_factory=dict)  # command class name -> fault
    fault_reason: dict[str, str] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    data_services: dict[str, str] = field(default_factory=dict)  # id -> status
    # Data services with an expert, and with a frozen manifest: a start needs both.
    staffed: set[str] = field(default_factory=set)
    prepared: set[str] = field(default_factory=set)
    answered: dict[str, list[Envelope]] = field(default_factory=dict)  # command id -> replies
    commands_seen: list[Envelope] = field(default_factory=list)
    told_ready: set[str] = field(default_factory=set)  # subscription ids
    told_failed: set[str] = field(default_factory=set)
    redeliver: bool = False  # on a transient error, deliver again later instead of raising

    # -- the subscriptions context's side ------------------------------------------------
    def create_subscription(self, subscription_id: str, plan: str = "PRO") -> Envelope:
        # Only the event: the saga reads no subscriptions store (it could not: each context
        # has its own database).
        self.subscriptions[subscription_id] = Subscription(plan)
        return self.event(
            SubscriptionCreated(
                subscription_id=subscription_id,
                client_code=CLIENT["code"],
                client_email=CLIENT["email"],
                plan=plan,
                price_cents=49_900,
                currency="USD",
                billing_period="monthly",
                provisions_data_service=True,
                status="PENDING_PAYMENT",
                created_at=NOW,
            ),
            correlation_id=f"http-{subscription_id}",
        )

    def pay(self, subscription_id: str, payment_id: str = "pay-1") -> Envelope:
        subscription = self.subscriptions[subscription_id]
        subscription.paid.add(payment_id)
        subscription.status = "ACTIVE"
        return self.event(
            SubscriptionPaid(
                subscription_id=subscription_id,
                client_code=CLIENT["code"],
                plan=subscription.plan,
                payment_id=payment_id,
                transaction_id=f"txn-{payment_id}",
                amount_cents=49_900,
                currency="USD",
                paid_through=NOW,
                paid_at=NOW,
            )
        )

    def cancel_by_client(self, subscription_id: str) -> Envelope:
        subscription = self.subscriptions[subscription_id]
        subscription.status = "CANCELLED"
        return self.event(
            SubscriptionCancelled(
                subscription_id=subscription_id,
                client_code=CLIENT["code"],
                plan=subscription.plan,
                reason="budget",
                cancelled_at=NOW,
            )
        )

    def event(self, payload: Event, correlation_id: str = "") -> Envelope:
        envelope = Envelope(payload=payload, source="/test", correlation_id=correlation_id)
        self.inbox.append(envelope)
        return envelope

    # -- driving ----------------------------------------------------------------------------
    def process(self, envelope: Envelope) -> Processed | None:
        """Hand one message to the saga's processor, then let the world answer what it sent.
        A transient error is what Pub/Sub answers with a redelivery: the message goes back."""
        try:
            result = self.w.processor.process(envelope)
        except TransientError:
            if not self.redeliver:
                raise
            self.inbox.append(envelope)
            return None
        self._answer_sent()
        return result

    def run(self, limit: int = 200) -> None:
        """Deliver everything pending, in order, until quiet."""
        for _ in range(limit):
            if not self.inbox:
                return
            self.process(self.inbox.pop(0))
        raise AssertionError("the saga never went quiet")

    def tick(self, **advance: float) -> dict[str, int]:
        """Move time on, then run the scheduled tick (the deliveries it causes stay pending)."""
        self.clock.advance(**advance)
        answer = wake_due_sagas(self.w)
        self._answer_sent()
        return answer

    def _answer_sent(self) -> None:
        for topic in ("subscriptions-commands", "data-services-commands"):
            for envelope in self.platform.publisher.messages(topic):
                self.commands_seen.append(envelope)
                self._receive(envelope)
            self.platform.publisher.clear_topic(topic)
        for envelope in self.platform.publisher.messages("sagas-events"):
            payload = envelope.payload
            if isinstance(payload, SagaCompleted):
                self.told_ready.add(payload.subscription_id)
            if isinstance(payload, SagaCompensated):
                self.told_failed.add(payload.subscription_id)

    def _receive(self, command: Envelope) -> None:
        """A context's inbox: a command id seen before answers its first replies again."""
        if command.id in self.answered:
            self.inbox.extend(self.answered[command.id])
            return
        kind = type(command.payload).__name__
        fault = self.faults.get(kind, "")
        if fault == "lost":
            return
        if fault in ("rejected", "dead_lettered"):
            reason = self.fault_reason.get(kind, "refused") if fault == "rejected" else fault
            replies = [self._rejection(command, reason)]
        else:
            assert isinstance(command.payload, Command)
            replies = self._effect(command.payload, failing=fault == "failed")
        envelopes = [command.caused(reply, "/world", i) for i, reply in enumerate(replies)]
        self.answered[command.id] = envelopes
        if fault != "reply_lost":
            self.inbox.extend(envelopes)

    def _rejection(self, command: Envelope, reason: str) -> Event:
        rejection = (
            DataServicesCommandRejected
            if command.type.startswith("co.saludtech.data_services")
            else SubscriptionCommandRejected
        )
        return rejection(command_id=command.id, command_type=command.type, reason=reason)

    def _effect(self, command: Command, failing: bool) -> list[Event]:
        handler = _EFFECTS[type(command)]
        return handler(self, command, failing)


def _create(world: World, cmd: CreateDataServiceV2, failing: bool) -> list[Event]:
    # The saga asks for a data service only once the subscription is paid.
    assert world.subscriptions[cmd.subscription_id].paid
    world.data_services[cmd.data_service_id] = "CREATED"
    return [
        DataServiceCreated(
            data_service_id=cmd.data_service_id,
            subscription_id=cmd.subscription_id,
            client_code=cmd.client_code,
            plan=cmd.plan.code,
            cloud_type=cmd.cloud.type,
            dataset_code=cmd.dataset.code,
            speciality="GENERAL",
            status="CREATED",
            created_at=NOW,
        )
    ]


def _assign(world: World, cmd: AssignExpert, failing: bool) -> list[Event]:
    world.staffed.add(cmd.data_service_id)
    return [
        ExpertAssigned(
            data_service_id=cmd.data_service_id,
            expert_code="exp-1",
            speciality="GENERAL",
            assigned_at=NOW,
        )
    ]


def _prepare(world: World, cmd: PrepareDataset, failing: bool) -> list[Event]:
    world.prepared.add(cmd.data_service_id)
    return [
        DatasetPrepared(
            data_service_id=cmd.data_service_id,
            manifest_id="man-1",
            images=3,
            patients=1,
            chunks=1,
            splits={"train": 3},
            manifest_digest="d",
            prepared_at=NOW,
        )
    ]


def _start(world: World, cmd: StartDataService, failing: bool) -> list[Event]:
    # The data services domain refuses a start without an expert and a prepared dataset:
    # the saga sends it only once both parallel branches are done.
    assert cmd.data_service_id in world.staffed and cmd.data_service_id in world.prepared
    world.data_services[cmd.data_service_id] = "STARTED"
    started = DataServiceStarted(
        data_service_id=cmd.data_service_id,
        manifest_id="man-1",
        delivery_mode="links",
        images=3,
        patients=1,
        chunks=1,
        splits={"train": 3},
        manifest_digest="d",
        started_at=NOW,
    )
    if failing:
        world.data_services[cmd.data_service_id] = "FAILED"
        failed = DataServiceFailed(
            data_service_id=cmd.data_service_id,
            manifest_id="man-1",
            reason="image_missing",
            failed_at=NOW,
        )
        return [started, failed]
    world.data_services[cmd.data_service_id] = "DELIVERED"
    delivered = DataServiceDelivered(
        data_service_id=cmd.data_service_id,
        manifest_id="man-1",
        delivery_mode="links",
        objects=3,
        bytes=10,
        manifest_uri="gs://d/m",
        checksums_uri="gs://d/c",
        delivered_at=NOW,
    )
    return [started, delivered]


def _cancel_data_service(world: World, cmd: CancelDataService, failing: bool) -> list[Event]:
    previous = world.data_services.get(cmd.data_service_id, "")
    world.data_services[cmd.data_service_id] = "CANCELLED"
    return [
        DataServiceCancelled(
            data_service_id=cmd.data_service_id,
            previous_status=previous,
            reason="saga_failed",
            cancelled_at=NOW,
        )
    ]


def _refund(world: World, cmd: RefundPayment, failing: bool) -> list[Event]:
    subscription = world.subscriptions[cmd.subscription_id]
    subscription.refunded.add(cmd.payment_id)
    return [
        PaymentRefunded(
            subscription_id=cmd.subscription_id,
            client_code=CLIENT["code"],
            plan=subscription.plan,
            payment_id=cmd.payment_id,
            refund_id=cmd.refund_id,
            transaction_id="re-1",
            amount_cents=49_900,
            currency="USD",
            reason="saga_failed",
            refunded_at=NOW,
        )
    ]


def _cancel_subscription(world: World, cmd: CancelSubscription, failing: bool) -> list[Event]:
    subscription = world.subscriptions[cmd.subscription_id]
    subscription.status = "CANCELLED"
    return [
        SubscriptionCancelled(
            subscription_id=cmd.subscription_id,
            client_code=CLIENT["code"],
            plan=subscription.plan,
            reason="saga_failed",
            cancelled_at=NOW,
        )
    ]


def _change_plan(world: World, cmd: ChangePlan, failing: bool) -> list[Event]:
    subscription = world.subscriptions[cmd.subscription_id]
    previous, subscription.plan = subscription.plan, cmd.plan
    return [
        PlanChanged(
            subscription_id=cmd.subscription_id,
            client_code=CLIENT["code"],
            previous_plan=previous,
            plan=cmd.plan,
            price_cents=4_900,
            currency="USD",
            billing_period="monthly",
            provisions_data_service=False,
            changed_at=NOW,
        )
    ]


_EFFECTS: dict[type[Command], Callable[[World, Any, bool], list[Event]]] = {
    CreateDataServiceV2: _create,
    AssignExpert: _assign,
    PrepareDataset: _prepare,
    StartDataService: _start,
    CancelDataService: _cancel_data_service,
    RefundPayment: _refund,
    CancelSubscription: _cancel_subscription,
    ChangePlan: _change_plan,
}


def new_world() -> World:
    clock = FixedClock(T0)
    platform = bootstrap.in_memory_platform()
    platform = dataclasses.replace(platform, clock=clock)
    bootstrap.use(platform)
    return World(platform=platform, clock=clock, w=bootstrap.context(wiring.build))


def saga_id_of(world: World, subscription_id: str) -> str:
    from functions.sagas.queries import sagas_of_subscription

    page = sagas_of_subscription(world.platform.store, subscription_id, world.w.collections)
    assert page["items"], "no saga for that subscription"
    return str(page["items"][0]["saga_id"])


def saga(world: World, subscription_id: str) -> dict[str, Any]:
    from functions.sagas.queries import get_saga

    found = get_saga(world.platform.store, saga_id_of(world, subscription_id), world.w.collections)
    assert found is not None
    return found


def log_of(world: World, subscription_id: str) -> list[dict[str, Any]]:
    from functions.sagas.queries import saga_log

    return list(
        saga_log(world.platform.store, saga_id_of(world, subscription_id), world.w.collections)[
            "items"
        ]
    )


def collections(world: World) -> SagaCollections:
    return world.w.collections
