"""What a notification says: subject and text per template, from its facts only."""

from __future__ import annotations

from dataclasses import dataclass

from functions.notifications.messages import Fact


@dataclass(frozen=True)
class Template:
    subject: str
    body: str


def _money(facts: dict[str, Fact], field: str) -> str:
    cents = facts.get(field)
    return f"{int(cents) / 100:.2f} {facts.get('currency', '')}" if isinstance(cents, int) else ""


# How a compensated saga's undone steps read to the client (a step not listed: its code).
UNDONE_STEPS: dict[str, str] = {
    "delivery": "the delivery was revoked",
    "data_service": "the data service was cancelled and any delivery of it revoked",
    "holdout": "the evaluation data service was cancelled",
    "payment": "your payment was refunded",
    "subscription": "the subscription was cancelled, or returned to its previous plan",
}


def _undone(facts: dict[str, Fact]) -> str:
    steps = [s for s in str(facts.get("undone") or "").split(",") if s]
    if not steps:
        return "Everything that had been done for it has been undone."
    return "What we undid: " + "; ".join(UNDONE_STEPS.get(s, s) for s in steps) + "."


def _where(facts: dict[str, Fact]) -> str:
    """Where the data is and how to fetch it, as the delivery said (DataServiceDelivered's
    location and fetch_hint); an event of before those fields says what it knew, and
    otherwise the route that tells it. Never an empty link or date."""
    hint, location = facts.get("fetch_hint"), facts.get("location")
    service = facts.get("data_service_id")
    if hint:
        text = f"To fetch it: {hint}."
        if location and str(location) not in str(hint):
            text = f"It is at {location}. {text}"
        until = facts.get("access_until")
        return f"{text} Your access ends at {until}." if until else text
    expiry = facts.get("links_expire_at")
    if not service:
        return ""
    route = f"GET /v1/data-services/{service} says where it is and how to fetch it."
    return f"Its links expire at {expiry}. {route}" if expiry else route


def _holdout(facts: dict[str, Fact]) -> str:
    held = facts.get("holdout_id")
    return f" Its held-out evaluation data service is {held}." if held else ""


TEMPLATES: dict[str, Template] = {
    "subscription_created": Template(
        "Your {plan} subscription is created",
        "Subscription {subscription_id} ({plan}, {price} per {billing_period}) is {status}.",
    ),
    "subscription_paid": Template(
        "Payment received for your {plan} subscription",
        "We received {amount} for subscription {subscription_id}. Paid through {paid_through}.",
    ),
    "payment_declined": Template(
        "Your payment was declined",
        "The payment of {amount} for subscription {subscription_id} was declined ({reason}).",
    ),
    "plan_changed": Template(
        "Your plan changed to {plan}",
        "Subscription {subscription_id} moved from {previous_plan} to {plan} ({price}).",
    ),
    "subscription_cancelled": Template(
        "Your subscription is cancelled",
        "Subscription {subscription_id} ({plan}) is cancelled ({reason}).",
    ),
    "study_ingested": Template(
        "Study package {package_id} ingested",
        "{entry_count} entries: {anonymized} anonymized, {rejected} quarantined.",
    ),
    "image_rejected": Template(
        "An upload was quarantined",
        "Upload {rejection_id} was quarantined: {reason}.",
    ),
    "data_service_created": Template(
        "Your data service is being prepared",
        "Data service {data_service_id} ({plan}): dataset {dataset_code}, {speciality}.",
    ),
    "data_service_delivered": Template(
        "Your dataset is delivered",
        "Data service {data_service_id}: {objects} objects delivered ({delivery_mode}). "
        "{where_text}",
    ),
    "data_service_failed": Template(
        "Your data service could not be delivered",
        "Data service {data_service_id} failed ({reason}). We will contact you.",
    ),
    "expert_assigned": Template(
        "You are assigned to a data service",
        "Data service {data_service_id} needs your review ({speciality}).",
    ),
    # Sent to the client's current address; the mail adds the new one, masked, and the
    # link that confirms it (address_change.AddressChangeMail).
    "address_change_requested": Template(
        "Confirm the new address for your notifications",
        "A subscription of your account gave another address for our notifications. They "
        "keep coming to this address until you confirm the new one.",
    ),
    # The PRO saga's outcomes (functions/sagas): the only "ready" a client hears.
    "data_service_ready": Template(
        "Your data service is ready",
        "The {plan} data service {data_service_id} of subscription {subscription_id} is "
        "ready: its dataset is delivered and an expert is assigned. {where_text}"
        "{holdout_text}",
    ),
    "data_service_setup_failed": Template(
        "We could not set up your data service",
        "Setting up the {plan} data service of subscription {subscription_id} failed at "
        "step {failed_step} ({reason}). {undone_text}",
    ),
    "saga_stuck": Template(
        "Operator action needed: saga {saga_id} is stuck",
        "The {plan} saga {saga_id} (subscription {subscription_id}) is stuck at step {step} "
        "({reason}): its compensation kept failing. See GET /v1/sagas/{saga_id} or "
        "`python -m infra.local saga show {saga_id}`, and retry it once the cause is fixed "
        "(POST /v1/sagas/{saga_id}/retry).",
    ),
}


def render(template: str, facts: dict[str, Fact]) -> tuple[str, str]:
    """(subject, text) of a notification."""
    chosen = TEMPLATES[template]
    values = {
        **{k: "" if v is None else v for k, v in facts.items()},
        "price": _money(facts, "price_cents"),
        "amount": _money(facts, "amount_cents"),
        "undone_text": _undone(facts),
        "holdout_text": _holdout(facts),
        "where_text": _where(facts),
    }
    return chosen.subject.format_map(values), chosen.body.format_map(values)
