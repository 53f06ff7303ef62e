"""The HTTP doors of the subscriptions context, each a flask-openapi3 app whose contract
(GET /openapi.json) is generated from the models below and the read models of messages.py
(the published contract, which the api reads too).

- commands (`subscriptions_commands_http`): create a subscription, change its plan, cancel
  it, pay it; each validated here, recorded, published, answered 202 (CommandDoor).
- queries (`subscriptions_queries_http`): a subscription, a client's subscriptions, the
  plans on sale with their prices, what became of a command, the context's dead letters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import flask
from pydantic import BaseModel, Field

from functions import bootstrap
from functions.subscriptions import queries as read
from functions.subscriptions import wiring
from functions.subscriptions.domain import Client, plan_or_error
from functions.subscriptions.messages import (
    NAMES,
    CancelSubscription,
    ChangePlan,
    ClientData,
    CreateSubscription,
    PaySubscription,
    PlanCatalogueView,
    PlanCode,
    SubscriptionView,
)
from shared.domain.messages import Command
from shared.domain.read_models import Page
from shared.entrypoints.command_door import (
    COMMAND_REFUSALS,
    Accepted,
    CommandDoor,
    CommandHeaders,
    CommandLink,
    add_command_status_route,
)
from shared.entrypoints.dead_letter_door import add_dead_letter_route
from shared.entrypoints.door_app import (
    DocumentId,
    DoorBody,
    NoParameters,
    PageParameters,
    Parameters,
    answer,
    answers,
    door_app,
)
from shared.entrypoints.http import HttpError
from shared.ports.envelope import derived_id, parse_payload
from shared.service.command_log import request_digest

QUERIES_PATH = f"/{NAMES.name}_queries_http"
commands = door_app(
    "subscriptions commands",
    "Create, change, cancel and pay subscriptions: 202 with where to read each command's "
    "status, at the queries door.",
)
queries = door_app(
    "subscriptions queries",
    "Subscriptions as clients see them (tax and national ids never leave storage), what "
    "became of a command, the context's dead letters.",
)


def _wiring() -> wiring.SubscriptionsWiring:
    return bootstrap.context(wiring.build)


# -- commands --------------------------------------------------------------------------------
class NewSubscription(DoorBody):
    """POST /subscriptions: CreateSubscription without its id (derived from the command's)."""

    client: ClientData
    plan: PlanCode


class NewPlan(DoorBody):
    plan: PlanCode


class Cancellation(DoorBody):
    # Free text is published as a code (domain.CANCELLATION_CODES, "other"), never as is.
    reason: Annotated[str, Field(max_length=200)] = ""


class Payment(DoorBody):
    card_token: Annotated[str, Field(min_length=1, max_length=64)]


class SubscriptionPath(BaseModel):
    subscription_id: DocumentId


class SubscriptionLinks(CommandLink):
    subscription: str


class SubscriptionAccepted(Accepted):
    subscription_id: str
    links: SubscriptionLinks


_ACCEPTED = answers(SubscriptionAccepted, *COMMAND_REFUSALS, status=202)


def _take(endpoint: str, args: dict[str, str], build: Callable[[str], Command]) -> flask.Response:
    """Validate (`build(command_id)`), check the target, record, publish, answer 202."""
    w = _wiring()
    door = CommandDoor(NAMES, w.commands, w.platform)
    envelope = door.envelope(flask.request, endpoint, args, build)
    if not isinstance(envelope.payload, CreateSubscription):
        _ensure_target_exists(w, envelope.subject)
    # The digest of the body as sent: the same key with the same request is the same command.
    door.accept_and_publish(envelope, request_digest(endpoint, args, flask.request.get_json()))
    return door.accepted(
        envelope,
        SubscriptionAccepted,
        "subscription_id",
        subscription=f"{QUERIES_PATH}/subscriptions/{envelope.subject}",
    )


def _ensure_target_exists(w: wiring.SubscriptionsWiring, subscription_id: str) -> None:
    """A command for a subscription that will never exist is refused here, not retried until
    it dies; one whose creation was accepted but not processed yet is let through."""
    if w.platform.store.get(w.collection, subscription_id) is not None:
        return
    if w.commands.accepted_for(subscription_id, CreateSubscription.TYPE):
        return
    raise HttpError(404, "subscription_not_found", "no such subscription")


def _for(path: SubscriptionPath, body: DoorBody, **extra: str) -> dict[str, Any]:
    return {**body.model_dump(), "subscription_id": path.subscription_id, **extra}


@commands.post("/subscriptions", responses=_ACCEPTED)
def create_subscription(
    body: NewSubscription, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Create a subscription for a client on a plan (PENDING_PAYMENT until paid)."""

    def build(command_id: str) -> Command:
        # The domain's rules a command can be checked against without state, here, so a
        # client learns at once what is wrong.
        subscription_id = derived_id(command_id, "subscription")
        create = parse_payload(
            CreateSubscription, {**body.model_dump(), "subscription_id": subscription_id}
        )
        Client.from_data(create.client)
        plan_or_error(create.plan)
        return create

    return _take("create", {}, build)


@commands.post("/subscriptions/<subscription_id>/plan", responses=_ACCEPTED)
def change_plan(
    path: SubscriptionPath, body: NewPlan, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Move a subscription to another plan."""

    def build(_: str) -> Command:
        change = parse_payload(ChangePlan, _for(path, body))
        plan_or_error(change.plan)
        return change

    return _take("change_plan", path.model_dump(), build)


@commands.post("/subscriptions/<subscription_id>/cancel", responses=_ACCEPTED)
def cancel_subscription(
    path: SubscriptionPath, body: Cancellation, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Cancel a subscription."""
    return _take(
        "cancel",
        path.model_dump(),
        lambda _: parse_payload(CancelSubscription, _for(path, body)),
    )


@commands.post("/subscriptions/<subscription_id>/payments", responses=_ACCEPTED)
def pay_subscription(
    path: SubscriptionPath, body: Payment, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Charge what is due to a card: the plan's price, or what a plan change left owed (its
    payment id is derived from the command's: a retried charge is never charged twice)."""
    return _take(
        "pay",
        path.model_dump(),
        lambda command_id: parse_payload(
            PaySubscription, _for(path, body, payment_id=derived_id(command_id, "payment"))
        ),
    )


# -- queries ---------------------------------------------------------------------------------
class ClientScope(Parameters):
    # Only that client's: another's is answered as if it did not exist.
    client_code: str | None = None


class ClientSubscriptions(PageParameters):
    client_code: str


@queries.get(
    "/subscriptions/<subscription_id>",
    responses=answers(SubscriptionView, 400, 404, 503),
)
def get_subscription(path: SubscriptionPath, query: ClientScope) -> flask.Response:
    """A subscription."""
    w = _wiring()
    found = read.get_subscription(w.platform.store, path.subscription_id, w.client, w.collection)
    if found is None or query.client_code not in (None, found["client"]["code"]):
        raise HttpError(404, "subscription_not_found", "no such subscription")
    return answer(SubscriptionView, found)


@queries.get("/subscriptions", responses=answers(Page[SubscriptionView], 400, 503))
def list_subscriptions(query: ClientSubscriptions) -> flask.Response:
    """A client's subscriptions, newest first."""
    w = _wiring()
    page = read.subscriptions_of_client(
        w.platform.store, query.client_code, w.client, limit=query.limit, cursor=query.cursor,
        collection=w.collection,
    )  # fmt: skip
    return answer(Page[SubscriptionView], page)


@queries.get("/plans", responses=answers(PlanCatalogueView, 400, 503))
def list_plans(query: NoParameters) -> flask.Response:
    """The plans on sale, with their prices (what the api quotes a dataset with)."""
    return answer(PlanCatalogueView, read.plan_catalogue())


def _command_status(command_id: str) -> dict[str, Any] | None:
    return _wiring().commands.status(command_id)  # the wiring when asked, never at import


add_command_status_route(queries, _command_status)
add_dead_letter_route(queries, lambda: _wiring().platform)
