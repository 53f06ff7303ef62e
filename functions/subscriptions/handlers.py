"""Command handlers: load the aggregate, let it decide, leave saving to the unit of work.

Each handler is a plain function of (command, unit of work, dependencies); the message
processor (shared/service/processing.py) runs it inside one transaction with the inbox and
outbox. HANDLERS is the context's map of every command it consumes from its topic: each entry
is one Cloud Function, made from it by entrypoints.py (named by the message:
subscriptions_create_subscription for CreateSubscription), and one filtered trigger
subscription in infra/topology.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions.subscriptions.domain import (
    PLAN_CHANGE,
    Client,
    Subscription,
    SubscriptionError,
    plan_or_error,
)
from functions.subscriptions.messages import (
    CancelSubscription,
    ChangePlan,
    CreateSubscription,
    PaySubscription,
    RefundPayment,
)
from functions.subscriptions.ports import Charge, PaymentGateway, Refund
from functions.subscriptions.unit_of_work import SubscriptionsUnitOfWork
from shared.domain.clock import Clock
from shared.domain.errors import TransientError
from shared.domain.messages import Message
from shared.ports.envelope import derived_id
from shared.service.processing import MessageHandler


@dataclass(frozen=True)
class Dependencies:
    clock: Clock
    payments: PaymentGateway


class SubscriptionNotYetKnown(TransientError):
    """The subscription a command names is not stored (yet): its creation may still be on
    its way, since messages arrive in any order. Retried, then dead-lettered."""


def create_subscription(
    cmd: CreateSubscription, uow: SubscriptionsUnitOfWork, deps: Dependencies
) -> None:
    client = Client.from_data(cmd.client)
    plan = plan_or_error(cmd.plan)
    if uow.subscriptions.get(cmd.subscription_id) is not None:
        raise SubscriptionError(
            "subscription_exists", "that subscription id is taken", field="subscription_id"
        )
    uow.subscriptions.add(Subscription.create(cmd.subscription_id, client, plan, deps.clock()))


def change_plan(cmd: ChangePlan, uow: SubscriptionsUnitOfWork, deps: Dependencies) -> None:
    plan = plan_or_error(cmd.plan)
    subscription = _load(uow, cmd.subscription_id)
    # Named by the version the change applies to: the same refund on every retry of this
    # transaction (the gateway's idempotency key), another for any other change.
    version = str(subscription.version)
    refunds = subscription.change_plan(
        plan,
        deps.clock(),
        refund_id=lambda payment_id: derived_id(
            subscription.id, "plan_change", version, payment_id
        ),
    )
    # A downgrade's refund takes the refund path a saga's compensation takes: a RefundPayment
    # on this context's commands topic, in the outbox of this very transaction.
    for refund in refunds:
        uow.issue(
            RefundPayment(
                subscription_id=subscription.id,
                payment_id=refund.payment_id,
                refund_id=refund.refund_id,
                reason=PLAN_CHANGE,
                amount_cents=refund.amount_cents,
            )
        )


def cancel_subscription(
    cmd: CancelSubscription, uow: SubscriptionsUnitOfWork, deps: Dependencies
) -> None:
    _load(uow, cmd.subscription_id).cancel(cmd.reason, deps.clock())


def pay_subscription(
    cmd: PaySubscription, uow: SubscriptionsUnitOfWork, deps: Dependencies
) -> None:
    subscription = _load(uow, cmd.subscription_id)
    subscription.ensure_payable(cmd.payment_id)
    # One moment for the amount charged and the payment recorded: the same cents in both.
    now = deps.clock()
    # The payment id is the gateway's idempotency key: if this transaction is retried, the
    # charge answers the same result instead of charging again.
    result = deps.payments.charge(
        Charge(
            idempotency_key=cmd.payment_id,
            reference=subscription.id,
            amount_cents=subscription.amount_due(now),
            currency=subscription.plan.currency,
            card_token=cmd.card_token,
        )
    )
    subscription.record_payment(cmd.payment_id, result, now)


def refund_payment(cmd: RefundPayment, uow: SubscriptionsUnitOfWork, deps: Dependencies) -> None:
    subscription = _load(uow, cmd.subscription_id)
    invoice = subscription.refundable_invoice(cmd.payment_id)
    amount = subscription.refund_amount(cmd.payment_id, cmd.amount_cents)
    # The refund id is the gateway's idempotency key, as the payment id is for a charge.
    result = deps.payments.refund(
        Refund(
            idempotency_key=cmd.refund_id,
            reference=subscription.id,
            transaction_id=invoice.transaction_id,
            amount_cents=amount,
            currency=invoice.currency,
        )
    )
    subscription.record_refund(
        cmd.payment_id, cmd.refund_id, result, cmd.reason, deps.clock(), amount_cents=amount
    )


def _load(uow: SubscriptionsUnitOfWork, subscription_id: str) -> Subscription:
    subscription = uow.subscriptions.get(subscription_id)
    if subscription is None:
        raise SubscriptionNotYetKnown("the subscription is not stored")
    return subscription


HANDLERS: Mapping[type[Message], MessageHandler[SubscriptionsUnitOfWork, Any]] = {
    CreateSubscription: create_subscription,
    ChangePlan: change_plan,
    CancelSubscription: cancel_subscription,
    PaySubscription: pay_subscription,
    RefundPayment: refund_payment,
}
