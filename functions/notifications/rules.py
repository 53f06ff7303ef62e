"""Who is told what about each event of the other contexts: one rule per event type.

A rule names the recipient, the template and the facts the template shows. Facts are
picked field by field from the event, so nothing else of it (an email address, a
quarantine path that may hold a patient's name, a free-text detail) can reach a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from functions.data_services.messages import (
    DataServiceCreated,
    DataServiceDelivered,
    DataServiceFailed,
    ExpertAssigned,
)
from functions.ingestion.messages import ImageRejected, StudyIngested
from functions.notifications.messages import Fact
from functions.sagas.messages import SagaCompensated, SagaCompleted, SagaStuck
from functions.subscriptions.messages import (
    PaymentDeclined,
    PlanChanged,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionPaid,
)
from shared.domain.messages import Event


def client(code: str) -> str:
    return f"client-{code}"


def center(center_id: str) -> str:
    return f"center-{center_id}"


def expert(expert_code: str) -> str:
    return f"expert-{expert_code}"


# The operator on call: its channels come from configuration (SALUDTECH_OPERATOR_EMAIL),
# unless they were set by command (SetRecipientChannels), which always win.
OPERATOR = "operator"


# The recipient of a data service's later events is its client, named only by its
# DataServiceCreated: the handler remembers the owner then, and looks it up after.
OWNER_OF_DATA_SERVICE = "owner-of-data-service"
# How a delivered data service's data is fetched (DataServiceDelivered's fetch_hint), kept
# for the saga's "ready" notification, which knows only the service's id.
WHERE_OF_DATA_SERVICE = "where-of-data-service"


@dataclass(frozen=True)
class Rule:
    template: str
    recipient: Callable[[Event], str]
    facts: tuple[str, ...]
    # Clients become known from their SubscriptionCreated, which may arrive after their
    # other events: until then the event is retried. Centers are registered by command; an
    # unregistered one simply has no channel.
    waits_for_recipient: bool = False
    # When set, `recipient` names a key to look up (the owner of a data service).
    looked_up: str | None = None
    # The recipient's channels come from configuration (the operator).
    configured: bool = False
    # Facts that are not a field of the event as it is (picked from inside it, or joined).
    derived: Callable[[Event], dict[str, Fact]] | None = None

    def facts_of(self, event: Event) -> dict[str, Fact]:
        facts: dict[str, Fact] = {name: getattr(event, name) for name in self.facts}
        if self.derived is not None:
            facts.update(self.derived(event))
        return facts


def _client(event: Event) -> str:
    return client(str(getattr(event, "client_code")))  # noqa: B009 - every client event has it


def _center(event: Event) -> str:
    return center(str(getattr(event, "data_source")))  # noqa: B009 - every center event has it


def _data_service(event: Event) -> str:
    return str(getattr(event, "data_service_id"))  # noqa: B009 - every data service event has it


def _expert(event: Event) -> str:
    return expert(str(getattr(event, "expert_code")))  # noqa: B009


def _operator(event: Event) -> str:
    return OPERATOR


def _ready_facts(event: Event) -> dict[str, Fact]:
    """Of the ids a completed saga collected, only the data services the client bought."""
    assert isinstance(event, SagaCompleted)
    return {
        "plan": event.definition,
        "data_service_id": event.facts.get("data_service_id"),
        "holdout_id": event.facts.get("holdout_id"),
    }


def _undone_facts(event: Event) -> dict[str, Fact]:
    assert isinstance(event, SagaCompensated)
    return {"plan": event.definition, "undone": ",".join(event.undone)}


def _stuck_facts(event: Event) -> dict[str, Fact]:
    assert isinstance(event, SagaStuck)
    return {"plan": event.definition}


RULES: dict[type[Event], Rule] = {
    SubscriptionCreated: Rule(
        "subscription_created", _client, ("subscription_id", "plan", "price_cents", "currency",
                                          "billing_period", "status"),
    ),
    SubscriptionPaid: Rule(
        "subscription_paid", _client,
        ("subscription_id", "plan", "amount_cents", "currency", "paid_through"),
        waits_for_recipient=True,
    ),
    PaymentDeclined: Rule(
        "payment_declined", _client,
        ("subscription_id", "plan", "amount_cents", "currency", "reason"),
        waits_for_recipient=True,
    ),
    PlanChanged: Rule(
        "plan_changed", _client,
        ("subscription_id", "previous_plan", "plan", "price_cents", "currency"),
        waits_for_recipient=True,
    ),
    SubscriptionCancelled: Rule(
        "subscription_cancelled", _client, ("subscription_id", "plan", "reason"),
        waits_for_recipient=True,
    ),
    StudyIngested: Rule(
        "study_ingested", _center, ("package_id", "entry_count", "anonymized", "rejected"),
    ),
    ImageRejected: Rule("image_rejected", _center, ("rejection_id", "reason", "package_id")),
    DataServiceCreated: Rule(
        "data_service_created", _client, ("data_service_id", "plan", "dataset_code",
                                          "speciality"),
        waits_for_recipient=True,
    ),
    DataServiceDelivered: Rule(
        "data_service_delivered", _data_service,
        ("data_service_id", "delivery_mode", "objects", "links_expire_at", "target_type",
         "location", "fetch_hint", "access_until"),
        waits_for_recipient=True, looked_up=OWNER_OF_DATA_SERVICE,
    ),
    DataServiceFailed: Rule(
        "data_service_failed", _data_service, ("data_service_id", "reason"),
        waits_for_recipient=True, looked_up=OWNER_OF_DATA_SERVICE,
    ),
    # Experts are registered with their channels by command (SetRecipientChannels).
    ExpertAssigned: Rule("expert_assigned", _expert, ("data_service_id", "speciality")),
    # The PRO saga's outcomes. "Ready" only from SagaCompleted, which the saga announces
    # once every step is done; a compensated saga's template says what was undone and never
    # that anything is ready; a stuck one goes to the operator, never to the client.
    SagaCompleted: Rule(
        "data_service_ready", _client, ("saga_id", "subscription_id"),
        waits_for_recipient=True, derived=_ready_facts,
    ),
    SagaCompensated: Rule(
        "data_service_setup_failed", _client,
        ("saga_id", "subscription_id", "failed_step", "reason"),
        waits_for_recipient=True, derived=_undone_facts,
    ),
    SagaStuck: Rule(
        "saga_stuck", _operator, ("saga_id", "subscription_id", "step", "reason"),
        configured=True, derived=_stuck_facts,
    ),
}  # fmt: skip
