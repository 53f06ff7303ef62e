"""The answers of the API, composed in-process from the contexts' own read sides.

Each function takes the caller and answers only what that role may see: a center its own
catalogue entries and quarantine, a client its own subscriptions and data services, an
expert their assignments, an operator the dead letters and every saga (a client the sagas of
its own subscriptions). Something that exists but belongs
to someone else is answered exactly like something that does not exist (404), so ids
cannot be probed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions import bootstrap
from functions.api.principals import Principal, Role
from functions.ingestion import queries as ingestion_queries
from functions.ingestion import wiring as ingestion_wiring
from functions.subscriptions import queries as subscription_queries
from functions.subscriptions import wiring as subscriptions_wiring
from shared.entrypoints.http import HttpError
from shared.ports.documents import Filter
from shared.service import dead_letters as dead_letter_log
from shared.service.pagination import newest_first


def _subscriptions() -> subscriptions_wiring.SubscriptionsWiring:
    return bootstrap.context(subscriptions_wiring.build)


def _ingestion() -> ingestion_wiring.IngestionWiring:
    return bootstrap.context(ingestion_wiring.build)


def subscription_of(who: Principal, subscription_id: str) -> dict[str, Any]:
    w = _subscriptions()
    found = subscription_queries.get_subscription(w.platform.store, subscription_id, w.collection)
    if found is None or found["client"]["code"] != who.scope:
        raise HttpError(404, "subscription_not_found", "no such subscription")
    return found


def subscriptions_of(who: Principal, limit: int, cursor: str | None) -> dict[str, Any]:
    w = _subscriptions()
    return subscription_queries.subscriptions_of_client(
        w.platform.store, who.scope, limit=limit, cursor=cursor, collection=w.collection
    )


def command_status(command_id: str) -> dict[str, Any] | None:
    return _subscriptions().commands.status(command_id)


def image_of(who: Principal, image_id: str) -> dict[str, Any]:
    w = _ingestion()
    found = ingestion_queries.get_image(w.platform.store, w.collections.images, image_id)
    if found is None or found["data_source"] != who.scope:
        raise HttpError(404, "image_not_found", "no such image")
    return found


def images_of(
    who: Principal, parameters: Mapping[str, str], limit: int, cursor: str | None
) -> dict[str, Any]:
    # The center filter is the caller's own, whatever the query says.
    w = _ingestion()
    scoped = {**parameters, "center": who.scope}
    return ingestion_queries.list_images(
        w.platform.store, w.collections.images, scoped, limit=limit, cursor=cursor
    )


def _rejection_view(document: dict[str, Any]) -> dict[str, Any]:
    names = ("rejection_id", "reason", "detail", "package_id", "entry_index", "rejected_at")
    return {name: document.get(name) for name in names}


def quarantine_of(who: Principal, limit: int, cursor: str | None) -> dict[str, Any]:
    """Needs the composite index (data_source ASC, rejected_at DESC)."""
    w = _ingestion()
    return newest_first(
        w.platform.store, w.collections.rejections, [Filter("data_source", "==", who.scope)],
        order_by="rejected_at", view=_rejection_view, limit=limit, cursor=cursor,
    )  # fmt: skip


def dead_letters(limit: int, cursor: str | None) -> dict[str, Any]:
    platform = bootstrap.platform()
    return newest_first(
        platform.store, platform.settings.collection(dead_letter_log.COLLECTION), [],
        order_by="recorded_at", view=_dead_letter_view, limit=limit, cursor=cursor,
    )  # fmt: skip


def _dead_letter_view(document: dict[str, Any]) -> dict[str, Any]:
    # The message itself may carry personal data: an operator gets what died and why.
    names = ("dead_letter_id", "context", "ce_id", "ce_type", "reason", "delivery_attempts",
             "recorded_at", "status", "redriven_at")  # fmt: skip
    return {name: document.get(name) for name in names}


def data_services_of(who: Principal, limit: int, cursor: str | None) -> dict[str, Any]:
    from functions.data_services import queries, wiring  # the newest context: imported late

    w = bootstrap.context(wiring.build)
    return queries.data_services_of_client(
        w.platform.store, w.collections, who.scope, limit=limit, cursor=cursor
    )


def assignments_of(who: Principal, limit: int, cursor: str | None) -> dict[str, Any]:
    from functions.data_services import queries, wiring

    w = bootstrap.context(wiring.build)
    return queries.assignments_of_expert(
        w.platform.store, w.collections, who.scope, limit=limit, cursor=cursor
    )


def _sagas() -> Any:
    from functions.sagas import wiring

    return bootstrap.context(wiring.build)


def saga_of(subscription_id: str) -> dict[str, Any]:
    """The steps of the newest saga a subscription started, as its log recorded them."""
    from functions.sagas import queries

    w = _sagas()
    sagas = queries.sagas_of_subscription(w.platform.store, subscription_id, w.collections, limit=1)
    if not sagas["items"]:
        return {"available": True, "steps": []}
    return saga_steps(str(sagas["items"][0]["saga_id"]))


def saga_steps(saga_id: str) -> dict[str, Any]:
    """A saga's log as the timeline shows it."""
    from functions.sagas import queries

    w = _sagas()
    log = queries.saga_log(w.platform.store, saga_id, w.collections)["items"]
    steps = [
        {**entry, "name": f"{entry.get('step', '')} {entry.get('status', '')}".strip()}
        for entry in log
    ]
    return {"available": True, "steps": steps}


def saga_for(who: Principal, saga_id: str) -> dict[str, Any]:
    """One saga: any for an operator, one of its own subscriptions' for a client."""
    from functions.sagas import queries

    w = _sagas()
    found = queries.get_saga(w.platform.store, saga_id, w.collections)
    if found is None or (who.role is not Role.OPERATOR and found.get("client_code") != who.scope):
        raise HttpError(404, "saga_not_found", "no such saga")
    return found


def saga_with_log(
    who: Principal, saga_id: str, log_limit: int, log_cursor: str | None
) -> dict[str, Any]:
    from functions.sagas import queries

    saga = saga_for(who, saga_id)
    w = _sagas()
    log = queries.saga_log(
        w.platform.store, saga_id, w.collections, limit=log_limit, cursor=log_cursor
    )
    return {**saga, "log": log}


def sagas_listed(
    who: Principal, subscription_id: str, status: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Newest first: an operator's by status (STUCK when none is given) or by subscription;
    a client's by one of its own subscriptions only."""
    from functions.sagas import queries
    from functions.sagas.domain import SagaStatus

    w = _sagas()
    store, collections = w.platform.store, w.collections
    if subscription_id and status:
        raise HttpError(400, "conflicting_parameters", "give subscription_id or status")
    if who.role is not Role.OPERATOR or subscription_id:
        if not subscription_id:
            raise HttpError(
                400, "missing_parameter", "give subscription_id", field="subscription_id"
            )
        if who.role is not Role.OPERATOR:
            subscription_of(who, subscription_id)  # 404 when it is not the caller's
        page = queries.sagas_of_subscription(
            store, subscription_id, collections, limit=limit, cursor=cursor
        )
        if who.role is not Role.OPERATOR:  # never another client's, whatever is stored
            page["items"] = [s for s in page["items"] if s.get("client_code") == who.scope]
        return page
    status = status or SagaStatus.STUCK.value
    if status not in SagaStatus.__members__:
        raise HttpError(400, "invalid_status", "a saga status, e.g. STUCK", field="status")
    return queries.sagas_in_status(store, status, collections, limit=limit, cursor=cursor)


def saga_command_status(command_id: str) -> dict[str, Any]:
    """What became of a saga retry: the sagas' inbox record of the command (it is processed
    in the request that accepts it)."""
    from shared.service.command_log import processed_status

    w = _sagas()
    processed = processed_status(w.platform.store, w.processor.inbox_collection, command_id)
    return processed or {"command_id": command_id, "command_type": None, "status": "pending"}


def notifications_of(who: Principal, limit: int = 10, cursor: str | None = None) -> dict[str, Any]:
    """The newest notifications told to the caller (recipient `client-<code>`)."""
    from functions.notifications import queries, wiring

    w = bootstrap.context(wiring.build)
    page = queries.notifications_of_recipient(
        w.platform.store, w.storage.view.collection, f"client-{who.scope}", limit=limit,
        cursor=cursor,
    )  # fmt: skip
    items = [
        {**item, "summary": f"{item['template']} by {item['channel']}: {item['status']}"}
        for item in page["items"]
    ]
    return {"available": True, "items": items, "next_cursor": page["next_cursor"]}
