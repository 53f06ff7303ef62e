"""A client's subscriptions: its commands sent through the subscriptions context's own
command door (commands.py), its reads at that context's query door (reads.py); and the
original design's create route, read into the same command."""

from __future__ import annotations

from collections.abc import Callable

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from functions.api import reads
from functions.api.answers import Accepted, CommandLinks, Page, Refused
from functions.api.bodies import (
    CancelBody,
    ChangePlanBody,
    CreateSubscriptionBody,
    DataRequestBody,
    PayBody,
)
from functions.api.context_doors import (
    DATA_SERVICE_COMMANDS,
    DATA_SERVICES_QUERIES,
    SUBSCRIPTION_COMMANDS,
    SUBSCRIPTIONS_QUERIES,
    CommandDoors,
)
from functions.api.context_views import Quote, shown
from functions.api.guard import current
from functions.api.original_payload import SuscripcionComando, v1_create_body
from functions.api.parameters import CommandHeaders, PageQuery, SubscriptionPath
from functions.api.routing import CLIENT, Routes, With
from functions.api.sending import send
from functions.subscriptions.messages import SubscriptionView
from shared.entrypoints.http import HttpError

NOT_YET_KNOWN_SECONDS = 5.0

routes = Routes("subscriptions", "a client's subscriptions and their commands")


class DataRequestAccepted(Accepted):
    """202 of a data request, with what the dataset would hold and the plan's price."""

    quote: Quote


# A reused Idempotency-Key with another body: the context's 422.
_COMMAND_REFUSALS = (422,)


def _accepted(
    path: str,
    body: dict[str, object],
    headers: CommandHeaders,
    to: CommandDoors = SUBSCRIPTION_COMMANDS,
) -> With:
    sent = send(path, body, headers, to=to, resource="subscription/{subject}")
    answer = Accepted(
        **sent.fields,
        subscription_id=sent.subject,
        links=CommandLinks(
            command=sent.status_url,
            timeline=f"{sent.status_url}/timeline",
            stream=f"{sent.status_url}/stream",
            subscription=f"/v1/subscriptions/{sent.subject}",
        ),
    )
    return With(answer, sent.headers)


def _create(body: CreateSubscriptionBody, headers: CommandHeaders) -> With:
    if body.client.code != current().principal.scope:
        # A client subscribes itself, never another client.
        raise HttpError(403, "not_your_client_code", "client.code must be your own", "client.code")
    return _accepted("/subscriptions", body.model_dump(mode="json"), headers)


@routes.post(
    "/v1/subscriptions", 202, Accepted, roles=CLIENT, refused=_COMMAND_REFUSALS,
    summary="subscribe (CreateSubscription)",
)  # fmt: skip
def create_subscription(body: CreateSubscriptionBody, header: CommandHeaders) -> With:
    return _create(body, header)


@routes.post(
    "/suscripciones/suscripcion-comando", 202, Accepted, roles=CLIENT,
    refused=_COMMAND_REFUSALS,
    summary="the original design's CreateSubscription (nested, Spanish)",
)  # fmt: skip
def original_create(body: SuscripcionComando, header: CommandHeaders) -> With:
    return _create(v1_create_body(body), header)


def _owned(subscription_id: str) -> str:
    """The caller's subscription (or one it created that is not processed yet): 404
    otherwise, before anything is sent."""
    call = current()
    try:
        reads.subscription_of(call.wiring.platform.doors, call.principal, subscription_id)
    except HttpError:
        if not call.wiring.commands.sent_for(call.principal, subscription_id):
            raise
    return subscription_id


@routes.post(
    "/v1/subscriptions/<id:subscription_id>/plan", 202, Accepted, roles=CLIENT,
    refused=_COMMAND_REFUSALS, summary="change plan (ChangePlan)",
)  # fmt: skip
def change_plan(path: SubscriptionPath, body: ChangePlanBody, header: CommandHeaders) -> With:
    target = f"/subscriptions/{_owned(path.subscription_id)}/plan"
    return _accepted(target, body.model_dump(mode="json", exclude_unset=True), header)


@routes.post(
    "/v1/subscriptions/<id:subscription_id>/cancel", 202, Accepted, roles=CLIENT,
    refused=_COMMAND_REFUSALS, summary="cancel (CancelSubscription)",
)  # fmt: skip
def cancel(path: SubscriptionPath, body: CancelBody, header: CommandHeaders) -> With:
    target = f"/subscriptions/{_owned(path.subscription_id)}/cancel"
    return _accepted(target, body.model_dump(mode="json", exclude_unset=True), header)


@routes.post(
    "/v1/subscriptions/<id:subscription_id>/payments", 202, Accepted, roles=CLIENT,
    refused=_COMMAND_REFUSALS, summary="pay (PaySubscription)",
)  # fmt: skip
def pay(path: SubscriptionPath, body: PayBody, header: CommandHeaders) -> With:
    target = f"/subscriptions/{_owned(path.subscription_id)}/payments"
    return _accepted(target, body.model_dump(mode="json", exclude_unset=True), header)


@routes.post(
    "/v1/subscriptions/<id:subscription_id>/data-request", 202, DataRequestAccepted, roles=CLIENT,
    refused=(404, 409, 422), summary="say what data you want, with its quote, before paying",
)  # fmt: skip
def submit_data_request(
    path: SubscriptionPath, body: DataRequestBody, header: CommandHeaders
) -> With:
    """Checked against the subscription's plan at once and answered with its quote; the
    data service the payment provisions takes the latest request sent before it is created.
    A request the quote refuses (`dataset_too_small`, `dataset_exceeds_plan`) is not sent;
    one whose speciality's experts have no free slot is refused 409 `no_expert_capacity`,
    before anything is paid."""
    call = current()
    call.resource.append(f"subscription/{path.subscription_id}/data-request")
    doors = call.wiring.platform.doors
    subscription = reads.subscription_of(doors, call.principal, path.subscription_id)
    plan = str(subscription["plan"]["code"])
    criteria = body.dataset.criteria.model_dump(mode="json")
    quoted = reads.dataset_quote(
        doors, {"plan": plan, "dataset_code": body.dataset.code, "criteria": criteria}
    )
    quote = shown(Quote, {**quoted, "price": reads.plan_price(doors, plan)}, DATA_SERVICES_QUERIES)
    target = f"/subscriptions/{path.subscription_id}/data-request"
    sent = _when_known(
        lambda: _accepted(target, body.model_dump(mode="json"), header, to=DATA_SERVICE_COMMANDS)
    )
    answer = DataRequestAccepted(**sent.model.model_dump(), quote=quote)
    return With(answer, sent.headers)


def _not_yet_known(error: BaseException) -> bool:
    return isinstance(error, HttpError) and error.reason == "subscription_not_found"


def _when_known(send_request: Callable[[], With]) -> With:
    """Data services learns of a subscription from its SubscriptionCreated event, a moment
    after subscriptions answered "applied": a buyer who sends the request at once would be
    told the subscription they just read does not exist. Subscriptions has just shown it
    (reads.subscription_of), so the door's 404 is data services' copy lagging: asked again
    for a few seconds, then answered 409 with a Retry-After, never a 404. Safe to repeat:
    a refused request published nothing, and an accepted one carries the caller's key."""
    try:
        for attempt in Retrying(
            retry=retry_if_exception(_not_yet_known),
            stop=stop_after_delay(NOT_YET_KNOWN_SECONDS),
            wait=wait_exponential(multiplier=0.05, max=1),
            reraise=True,
        ):
            with attempt:
                return send_request()
    except HttpError as error:
        if not _not_yet_known(error):
            raise
    raise Refused(
        409, "subscription_not_ready", "the subscription is being set up; retry shortly",
        {"Retry-After": "2"},
    )  # fmt: skip


@routes.get(
    "/v1/subscriptions", Page[SubscriptionView], roles=CLIENT,
    summary="your subscriptions, newest first",
)  # fmt: skip
def list_subscriptions(query: PageQuery) -> Page[SubscriptionView]:
    call = current()
    call.resource.append(f"client/{call.principal.scope}/subscriptions")
    found = reads.subscriptions_of(
        call.wiring.platform.doors, call.principal, query.limit, query.cursor
    )
    return shown(Page[SubscriptionView], found, SUBSCRIPTIONS_QUERIES)


@routes.get(
    "/v1/subscriptions/<id:subscription_id>", SubscriptionView, roles=CLIENT,
    summary="one of your subscriptions",
)  # fmt: skip
def get_subscription(path: SubscriptionPath) -> SubscriptionView:
    call = current()
    call.resource.append(f"subscription/{path.subscription_id}")
    doors = call.wiring.platform.doors
    found = reads.subscription_of(doors, call.principal, path.subscription_id)
    return shown(SubscriptionView, found, SUBSCRIPTIONS_QUERIES)
