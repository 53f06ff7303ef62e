"""The sagas of the plans that provision a data service, as data (definition.py).

PRO: the subscription is created (or changed to PRO) → the client pays → a data service is
created → an expert is assigned and the dataset is prepared, in parallel → the dataset is
delivered → SagaCompleted, from which the
notifications context tells the client it is ready. Undone in reverse: cancel the data
service (which revokes a delivery and frees the expert), refund the payment, cancel the
subscription (or change it back to its previous plan) → SagaCompensated, from which the
client is told it failed.

ENTERPRISE is PRO with one more step, a held-out evaluation dataset: a second data service
provisioned in parallel with the first one's expert, compensated like it. Nothing in the
engine knows either plan.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from functions.data_services.messages import (
    AssignExpert,
    CancelDataService,
    CloudTarget,
    CreateDataServiceV2,
    DataServiceCancelled,
    DataServiceCreated,
    DataServiceDelivered,
    DataServiceFailed,
    DataServicesCommandRejected,
    DataServiceStarted,
    DatasetCriteria,
    DatasetPrepared,
    DatasetSpec,
    ExpertAssigned,
    PlanRef,
    PrepareDataset,
    StartDataService,
)
from functions.sagas.definition import (
    Abort,
    Action,
    Facts,
    Reply,
    SagaDefinition,
    Step,
)
from functions.subscriptions.messages import (
    CancelSubscription,
    ChangePlan,
    PaymentDeclined,
    PaymentRefunded,
    PlanChanged,
    RefundPayment,
    SubscriptionCancelled,
    SubscriptionCommandRejected,
    SubscriptionPaid,
)
from shared.domain.messages import Command
from shared.ports.envelope import derived_id

FAILED = "saga_failed"  # the cancellation and refund code of a compensation


def data_service_id(saga_id: str, role: str = "main") -> str:
    return derived_id(saga_id, "data_service", role)


# -- subscription: done when the saga starts; undone by cancelling it, or by changing it back
def _undo_subscription(facts: Facts) -> Command:
    if facts.get("trigger") == "plan_changed":
        return ChangePlan(subscription_id=facts["subscription_id"], plan=facts["previous_plan"])
    return CancelSubscription(subscription_id=facts["subscription_id"], reason=FAILED)


UNDO_SUBSCRIPTION = Action(
    name="undo_subscription",
    command=_undo_subscription,
    replies=(
        Reply(SubscriptionCancelled, "done"),
        Reply(PlanChanged, "done"),
    ),
    rejection=SubscriptionCommandRejected,
    # Cancelled by the client meanwhile, or already on the previous plan: nothing to undo.
    satisfied_by=frozenset({"already_cancelled", "subscription_cancelled", "plan_unchanged"}),
)


# -- payment: the client's own (an awaited event); undone by a refund ---------------------
def _refund(facts: Facts) -> Command:
    return RefundPayment(
        subscription_id=facts["subscription_id"],
        payment_id=facts["payment_id"],
        refund_id=derived_id(facts["saga_id"], "refund", facts["payment_id"]),
        reason=FAILED,
    )


def _payment_facts(event: Any) -> dict[str, str]:
    return {"payment_id": event.payment_id, "transaction_id": event.transaction_id}


REFUND = Action(
    name="refund_payment",
    command=_refund,
    replies=(Reply(PaymentRefunded, "done"),),
    rejection=SubscriptionCommandRejected,
    satisfied_by=frozenset({"payment_already_refunded"}),
)


# -- data service ---------------------------------------------------------------------------
def _is(fact: str) -> Any:
    """A reply is about this step when it names the data service the step provisions."""
    return lambda event, facts: event.data_service_id == facts.get(fact)


def _create(fact: str, role: str, dataset: DatasetSpec) -> Any:
    def create(facts: Facts) -> Command:
        # The client by code, a fact since SubscriptionCreated: no personal data to look up.
        return CreateDataServiceV2(
            data_service_id=facts[fact],
            subscription_id=facts["subscription_id"],
            client_code=facts["client_code"],
            plan=PlanRef(code=facts["plan"]),
            cloud=CloudTarget(code="links", name="Signed links", type="links"),
            dataset=dataset,
            # The main service: what the client asked for (SubmitDataRequest), if it did.
            from_client_request=role == "main",
        )

    return create


def _provision(fact: str, role: str, dataset: DatasetSpec) -> Action:
    return Action(
        name=f"create_data_service_{role}",
        command=_create(fact, role, dataset),
        replies=(Reply(DataServiceCreated, "done", matches=_is(fact)),),
        rejection=DataServicesCommandRejected,
    )


def _cancel(fact: str) -> Action:
    return Action(
        name="cancel_data_service",
        command=lambda facts: CancelDataService(data_service_id=facts[fact], reason=FAILED),
        replies=(Reply(DataServiceCancelled, "done", matches=_is(fact)),),
        rejection=DataServicesCommandRejected,
        # Finished, failed or cancelled already: its delivery is revoked, its expert free.
        satisfied_by=frozenset({"service_ended"}),
    )


ASSIGN = Action(
    name="assign_expert",
    command=lambda facts: AssignExpert(data_service_id=facts["data_service_id"]),
    replies=(
        Reply(
            ExpertAssigned,
            "done",
            facts=lambda event: {"expert_code": event.expert_code},
            matches=_is("data_service_id"),
        ),
    ),
    rejection=DataServicesCommandRejected,
)

# Runs beside ASSIGN: both only need the data service; the start needs both.
PREPARE = Action(
    name="prepare_dataset",
    command=lambda facts: PrepareDataset(data_service_id=facts["data_service_id"]),
    replies=(
        Reply(
            DatasetPrepared,
            "done",
            facts=lambda event: {"manifest_id": event.manifest_id},
            matches=_is("data_service_id"),
        ),
    ),
    rejection=DataServicesCommandRejected,
    resend_after=timedelta(minutes=5),  # a resolution over a large catalogue takes a while
)

DELIVER = Action(
    name="start_data_service",
    command=lambda facts: StartDataService(data_service_id=facts["data_service_id"]),
    # Started is progress: the client hears "ready" only once the dataset is delivered.
    replies=(
        Reply(
            DataServiceStarted,
            "noted",
            facts=lambda event: {"manifest_id": event.manifest_id},
            matches=_is("data_service_id"),
        ),
        Reply(DataServiceDelivered, "done", matches=_is("data_service_id")),
        Reply(DataServiceFailed, "failed", matches=_is("data_service_id")),
    ),
    rejection=DataServicesCommandRejected,
    resend_after=timedelta(minutes=5),
)

# At most the PRO allowance, so a growing catalogue never makes it too large for the plan.
STANDARD_DATASET = DatasetSpec(
    code="standard",
    name="The plan's standard dataset",
    criteria=DatasetCriteria(max_images=1_000),
)

PRO = SagaDefinition(
    name="PRO",
    steps=(
        Step("subscription", done_on_start=True, compensation=UNDO_SUBSCRIPTION),
        Step(
            "payment",
            after=("subscription",),
            awaits=(
                Reply(SubscriptionPaid, "done", facts=_payment_facts),
                # A declined card is an attempt: the client may pay with another one.
                Reply(PaymentDeclined, "retryable"),
            ),
            compensation=REFUND,
            timeout=timedelta(hours=24),
            # Three cards declined: the client is told it failed and may subscribe again.
            max_failures=3,
        ),
        Step(
            "data_service",
            after=("payment",),
            action=_provision("data_service_id", "main", STANDARD_DATASET),
            compensation=_cancel("data_service_id"),
        ),
        # Two parallel branches, no compensation of their own: cancelling the data service
        # frees the expert and drops the frozen manifest (a branch done before its sibling
        # failed is undone by it, in its place in the reverse order).
        Step("expert", after=("data_service",), action=ASSIGN),
        Step("dataset", after=("data_service",), action=PREPARE, timeout=timedelta(hours=1)),
        Step(
            "delivery",
            after=("expert", "dataset"),
            action=DELIVER,
            # A start held for the expert's review (review_required) waits for its
            # approval: up to three days (data_services/domain.py DataService.start).
            timeout=timedelta(hours=72),
        ),
    ),
    deadline=timedelta(hours=100),
    aborts=(
        Abort(SubscriptionCancelled, "subscription_cancelled", undoes=("subscription",)),
        # Moved to a plan without a data service: the subscription stays as the client chose.
        Abort(
            PlanChanged,
            "plan_changed",
            undoes=("subscription",),
            matches=lambda event, facts: not event.provisions_data_service,
        ),
        Abort(
            DataServiceCancelled,
            "data_service_cancelled",
            undoes=("data_service",),
            matches=_is("data_service_id"),
        ),
    ),
    routes=(
        ("subscription_id", "subscription_id"),
        ("data_service_id", "data_service_id"),
    ),
)

HOLDOUT_DATASET = DatasetSpec(code="holdout", name="Held-out evaluation dataset")

ENTERPRISE = PRO.extended(
    "ENTERPRISE",
    Step(
        "holdout",
        after=("payment",),
        action=_provision("holdout_id", "holdout", HOLDOUT_DATASET),
        compensation=_cancel("holdout_id"),
    ),
    before={"delivery": ("holdout",)},
    routes=(("holdout_id", "data_service_id"),),
    aborts=(
        Abort(
            DataServiceCancelled,
            "data_service_cancelled",
            undoes=("holdout",),
            matches=_is("holdout_id"),
        ),
    ),
)

DEFINITIONS: dict[str, SagaDefinition] = {d.name: d for d in (PRO, ENTERPRISE)}


def first_facts(saga_id: str, plan: str) -> dict[str, str]:
    """The ids a saga of `plan` fixes when it starts (derived, so a replay fixes the same)."""
    facts = {"plan": plan, "data_service_id": data_service_id(saga_id)}
    if "holdout" in DEFINITIONS[plan].by_name:
        facts["holdout_id"] = data_service_id(saga_id, "holdout")
    return facts
