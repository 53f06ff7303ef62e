"""The answers of the API, read at the owning contexts' query doors.

Each function takes the caller and answers only what that role may see: a center its own
catalogue entries and quarantine, a client its own subscriptions, data services,
notifications and the sagas of its subscriptions, an expert their assignments, an operator
the dead letters and every saga. The caller's scope goes to the door as a filter
(`client_code`, `center`, ...), so a door never hands the api another tenant's data, and
the api checks every answer again. Something that exists but belongs to someone else is
answered exactly like something that does not exist (404, the api's own reason and
detail), so ids cannot be probed.

A door's refusal (400 invalid_cursor, invalid_status, ...) is answered as it came; a door
that does not answer raises DoorUnavailable, a 503.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from functions.api import dead_letters as dead_letter_listing
from functions.api.context_doors import (
    COMMAND_DOORS,
    DATA_SERVICES_QUERIES,
    INGESTION_QUERIES,
    NOTIFICATIONS_QUERIES,
    SAGAS_QUERIES,
    SUBSCRIPTIONS_QUERIES,
    answered,
    refusal,
    segment,
)
from functions.api.principals import Principal
from functions.identity.messages import Role
from shared.entrypoints.http import HttpError
from shared.ports.doors import DoorAnswer, Doors, DoorUnavailable

# The catalogue filters a center may give /v1/images (the center is always its own).
CATALOGUE_FILTERS = frozenset(
    {"modality", "anatomical_region", "pathology", "ingested_from", "ingested_to"}
)
DEFAULT_SAGA_STATUS = "STUCK"  # what an operator looks for first
SAGA_STEPS_SHOWN = 100
Params = Mapping[str, object]  # a None value is left out


def _no_subscription() -> HttpError:
    return HttpError(404, "subscription_not_found", "no such subscription")


def _no_image() -> HttpError:
    return HttpError(404, "image_not_found", "no such image")


def _no_saga() -> HttpError:
    return HttpError(404, "saga_not_found", "no such saga")


def _find(doors: Doors, target: str, path: str, params: Params | None = None) -> Any:
    """GET a door; None for its 404, whatever its reason (the caller answers its own)."""
    sent = {name: str(value) for name, value in (params or {}).items() if value is not None}
    answer = doors.call(target, "GET", path, params=sent)
    return None if answer.status == 404 else answered(target, answer)


def _page(
    doors: Doors,
    target: str,
    path: str,
    params: Params,
    mine: Callable[[dict[str, Any]], bool],
    *,
    owner_in_path: bool = False,
) -> dict[str, Any]:
    """A page of the caller's own: an item that is not the caller's is dropped, whatever
    the door sent. A 404 is an empty page when the owner is in the path (an id the door's
    router refuses owns nothing); of a listing route it is a door without that route (a
    deploy half done): 503, never an empty page that looks like an answer."""
    page = _find(doors, target, path, params)
    if page is None:
        if not owner_in_path:
            raise DoorUnavailable(f"{target} has no route for {path}")
        page = {"items": [], "next_cursor": None}
    return {"items": [i for i in page["items"] if mine(i)], "next_cursor": page["next_cursor"]}


# -- subscriptions -------------------------------------------------------------------------
def subscription_of(doors: Doors, who: Principal, subscription_id: str) -> dict[str, Any]:
    path = f"/subscriptions/{segment(subscription_id)}"
    scope = {"client_code": who.scope}
    found = _find(doors, SUBSCRIPTIONS_QUERIES, path, scope)
    if found is None or found["client"]["code"] != who.scope:
        raise _no_subscription()
    return dict(found)


def subscriptions_of(
    doors: Doors, who: Principal, limit: int, cursor: str | None
) -> dict[str, Any]:
    params = {"client_code": who.scope, "limit": limit, "cursor": cursor}
    return _page(
        doors, SUBSCRIPTIONS_QUERIES, "/subscriptions", params,
        lambda s: s["client"]["code"] == who.scope,
    )  # fmt: skip


def command_status(doors: Doors, command_id: str, context: str = "") -> dict[str, Any] | None:
    """What became of a command sent to a context's command door, as the context's query
    door tells it (None: the context accepted no such command)."""
    queries = COMMAND_DOORS[context].queries
    found = _find(doors, queries, f"/commands/{segment(command_id)}")
    return None if found is None else dict(found)


# -- centers -------------------------------------------------------------------------------
def image_of(doors: Doors, who: Principal, image_id: str) -> dict[str, Any]:
    path = f"/images/{segment(image_id)}"
    found = _find(doors, INGESTION_QUERIES, path, {"center": who.scope})
    if found is None or found["data_source"] != who.scope:
        raise _no_image()
    return dict(found)


def images_of(
    doors: Doors, who: Principal, filters: Mapping[str, str], limit: int, cursor: str | None
) -> dict[str, Any]:
    # The center filter is the caller's own, whatever the query says.
    chosen = {name: value for name, value in filters.items() if name in CATALOGUE_FILTERS}
    params = {**chosen, "center": who.scope, "limit": limit, "cursor": cursor}
    return _page(
        doors, INGESTION_QUERIES, "/images", params, lambda i: i["data_source"] == who.scope
    )


def quarantine_of(doors: Doors, who: Principal, limit: int, cursor: str | None) -> dict[str, Any]:
    """The center's rejected uploads, newest first (without the center: it is the caller)."""
    params = {"center": who.scope, "limit": limit, "cursor": cursor}
    page = _page(
        doors, INGESTION_QUERIES, "/rejections", params, lambda r: r["data_source"] == who.scope
    )
    items = [{k: v for k, v in r.items() if k != "data_source"} for r in page["items"]]
    return {"items": items, "next_cursor": page["next_cursor"]}


# -- operators -----------------------------------------------------------------------------
def dead_letters(
    doors: Doors, context: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Every context's dead letters newest first, or one context's (functions/api/
    dead_letters.py says how the merged listing pages)."""
    return dead_letter_listing.page(doors, context, limit, cursor)


# -- clients and experts -------------------------------------------------------------------
def data_services_of(
    doors: Doors, who: Principal, limit: int, cursor: str | None
) -> dict[str, Any]:
    params = {"client_code": who.scope, "limit": limit, "cursor": cursor}
    return _page(
        doors, DATA_SERVICES_QUERIES, "/data-services", params,
        lambda s: s["client"]["code"] == who.scope,
    )  # fmt: skip


def assignments_of(doors: Doors, who: Principal, limit: int, cursor: str | None) -> dict[str, Any]:
    path = f"/experts/{segment(who.scope)}/assignments"
    params = {"limit": limit, "cursor": cursor}
    return _page(
        doors, DATA_SERVICES_QUERIES, path, params, lambda s: s["expert_code"] == who.scope,
        owner_in_path=True,
    )  # fmt: skip


def notifications_of(
    doors: Doors, who: Principal, limit: int = 10, cursor: str | None = None
) -> dict[str, Any]:
    """The newest notifications told to the caller (recipient `client-<code>`)."""
    recipient = f"client-{who.scope}"
    path = f"/recipients/{segment(recipient)}/notifications"
    page = _page(
        doors, NOTIFICATIONS_QUERIES, path, {"limit": limit, "cursor": cursor},
        lambda n: n["recipient_id"] == recipient, owner_in_path=True,
    )  # fmt: skip
    items = [
        {**item, "summary": f"{item['template']} by {item['channel']}: {item['status']}"}
        for item in page["items"]
    ]
    return {"available": True, "items": items, "next_cursor": page["next_cursor"]}


# -- buyers, before buying -----------------------------------------------------------------
def catalogue_counts(doors: Doors, filters: Params) -> dict[str, Any]:
    """What the catalogue holds for a buyer's criteria: data services answers counts only,
    under its minimum cell size; the api never sees a record of the catalogue."""
    found = _find(doors, DATA_SERVICES_QUERIES, "/catalogue/counts", filters)
    if found is None:  # a door without the route (a deploy half done)
        raise DoorUnavailable(f"{DATA_SERVICES_QUERIES} has no route for /catalogue/counts")
    return dict(found)


def dataset_quote(doors: Doors, request: Mapping[str, Any]) -> dict[str, Any]:
    """Data services' quote of a dataset (POST /quotes, a read): its refusals (unknown_plan,
    dataset_too_small, dataset_exceeds_plan, the criteria's) are answered as they came."""
    answer = doors.call(DATA_SERVICES_QUERIES, "POST", "/quotes", body=dict(request))
    if answer.status == 404:
        raise DoorUnavailable(f"{DATA_SERVICES_QUERIES} has no route for /quotes")
    return dict(answered(DATA_SERVICES_QUERIES, answer))


def plan_price(doors: Doors, plan_code: str) -> dict[str, Any]:
    """A plan as subscriptions sells it (code, name, price, billing period)."""
    plans = _find(doors, SUBSCRIPTIONS_QUERIES, "/plans")
    found = next((p for p in (plans or {}).get("items", []) if p.get("code") == plan_code), None)
    if found is None:  # data services quotes a plan subscriptions does not sell
        raise DoorUnavailable(f"{SUBSCRIPTIONS_QUERIES} lists no plan {plan_code}")
    return dict(found)


# -- sagas ---------------------------------------------------------------------------------
def _client_scope(who: Principal) -> dict[str, str]:
    """The filter of a client's saga reads (an operator reads every saga)."""
    return {} if who.role is Role.OPERATOR else {"client_code": who.scope}


def _saga_is_theirs(who: Principal, saga: Mapping[str, Any]) -> bool:
    return who.role is Role.OPERATOR or saga.get("client_code") == who.scope


def saga_of(doors: Doors, who: Principal, subscription_id: str) -> dict[str, Any]:
    """The steps of the newest saga a subscription started, as its log recorded them."""
    params = {"subscription_id": subscription_id, "limit": 1, **_client_scope(who)}
    sagas = _page(doors, SAGAS_QUERIES, "/sagas", params, lambda s: _saga_is_theirs(who, s))
    if not sagas["items"]:
        return {"available": True, "steps": []}
    return saga_steps(doors, str(sagas["items"][0]["saga_id"]))


def saga_steps(doors: Doors, saga_id: str) -> dict[str, Any]:
    """A saga's log as the timeline shows it."""
    path = f"/sagas/{segment(saga_id)}/log"
    params = {"limit": SAGA_STEPS_SHOWN}
    log = _page(doors, SAGAS_QUERIES, path, params, lambda _: True, owner_in_path=True)
    steps = [
        {**entry, "name": f"{entry.get('step', '')} {entry.get('status', '')}".strip()}
        for entry in log["items"]
    ]
    return {"available": True, "steps": steps}


def saga_for(doors: Doors, who: Principal, saga_id: str) -> dict[str, Any]:
    """One saga: any for an operator, one of its own subscriptions' for a client."""
    path = f"/sagas/{segment(saga_id)}"
    found = _find(doors, SAGAS_QUERIES, path, _client_scope(who))
    if found is None or not _saga_is_theirs(who, found):
        raise _no_saga()
    return dict(found)


def saga_with_log(
    doors: Doors, who: Principal, saga_id: str, log_limit: int, log_cursor: str | None
) -> dict[str, Any]:
    saga = saga_for(doors, who, saga_id)
    path = f"/sagas/{segment(saga_id)}/log"
    params = {"limit": log_limit, "cursor": log_cursor}
    log = _find(doors, SAGAS_QUERIES, path, params)
    if log is None:  # gone since it was read (sagas are not deleted; kept for the contract)
        raise _no_saga()
    return {**saga, "log": log}


def sagas_listed(
    doors: Doors,
    who: Principal,
    *,
    subscription_id: str,
    status: str,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Newest first: an operator's by status (STUCK when none is given) or by subscription;
    a client's by one of its own subscriptions only. The sagas door checks the status."""
    if subscription_id and status:
        raise HttpError(400, "conflicting_parameters", "give subscription_id or status")
    if who.role is not Role.OPERATOR and not subscription_id:
        raise HttpError(400, "missing_parameter", "give subscription_id", field="subscription_id")
    if who.role is not Role.OPERATOR:
        subscription_of(doors, who, subscription_id)  # 404 when it is not the caller's
    chosen = {"subscription_id": subscription_id} if subscription_id else {}
    if not subscription_id:
        chosen = {"status": status or DEFAULT_SAGA_STATUS}
    params = {**chosen, **_client_scope(who), "limit": limit, "cursor": cursor}
    return _page(doors, SAGAS_QUERIES, "/sagas", params, lambda s: _saga_is_theirs(who, s))


def saga_command_status(doors: Doors, command_id: str) -> dict[str, Any]:
    """What became of an operator's saga retry, as the sagas' query door tells it (pending
    until the sagas have a record of it; the api knows it sent it)."""
    found = _find(doors, SAGAS_QUERIES, f"/commands/{segment(command_id)}")
    if found is None:
        return {"command_id": command_id, "command_type": None, "status": "pending"}
    return dict(found)


# -- an expert's work (routes_experts.py) ----------------------------------------------------
def _no_assignment() -> HttpError:
    return HttpError(404, "assignment_not_found", "no such assignment")


def assignment_of(doors: Doors, who: Principal, data_service_id: str) -> dict[str, Any]:
    """A data service the calling expert is assigned to now (404 otherwise, as for one that
    does not exist: a reassigned expert loses it)."""
    path = f"/data-services/{segment(data_service_id)}"
    found = _find(doors, DATA_SERVICES_QUERIES, path)
    if found is None or found.get("expert_code") != who.scope:
        raise _no_assignment()
    return dict(found)


def assignment_manifest(
    doors: Doors, data_service_id: str, chunk: int, manifest_id: str | None
) -> dict[str, Any] | None:
    """A chunk of the assignment's manifest: the current version, or an older one by id
    (None for a chunk or a version the door does not have). Ask assignment_of first."""
    base = f"/data-services/{segment(data_service_id)}"
    path = f"{base}/manifests/{segment(manifest_id)}" if manifest_id else f"{base}/manifest"
    found = _find(doors, DATA_SERVICES_QUERIES, path, {"chunk": chunk})
    return None if found is None else dict(found)


def assignment_preview(doors: Doors, data_service_id: str, image_id: str) -> DoorAnswer:
    """The PNG preview of an image of the assignment's dataset, as the door rendered it
    (its bytes in `content`). Ask assignment_of first."""
    path = f"/data-services/{segment(data_service_id)}/images/{segment(image_id)}/preview"
    answer = doors.call(DATA_SERVICES_QUERIES, "GET", path)
    if answer.status == 404:
        raise _no_image()
    if not answer.ok:
        raise refusal(answer)
    if answer.content is None or answer.status != 200:
        raise DoorUnavailable(f"{DATA_SERVICES_QUERIES} answered no preview")
    return answer


def experts_listed(doors: Doors, limit: int, cursor: str | None) -> dict[str, Any]:
    """The expert registry (an operator's), newest first."""
    params = {"limit": limit, "cursor": cursor}
    return _page(doors, DATA_SERVICES_QUERIES, "/experts", params, lambda _: True)


def expert_of(doors: Doors, expert_code: str) -> dict[str, Any]:
    found = _find(doors, DATA_SERVICES_QUERIES, f"/experts/{segment(expert_code)}")
    if found is None:
        raise HttpError(404, "expert_not_found", "no such expert")
    return dict(found)


# -- a client's data service and its files (routes_data_services.py) ------------------------
def _no_data_service() -> HttpError:
    return HttpError(404, "data_service_not_found", "no such data service")


def data_service_of(doors: Doors, who: Principal, data_service_id: str) -> dict[str, Any]:
    """One of the caller's data services, with its progress and `where` (404 for another
    client's, exactly as for one that does not exist)."""
    path = f"/data-services/{segment(data_service_id)}"
    found = _find(doors, DATA_SERVICES_QUERIES, path)
    if found is None or found["client"]["code"] != who.scope:
        raise _no_data_service()
    return dict(found)


def data_service_files(
    doors: Doors, who: Principal, data_service_id: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """A page of the caller's delivered files, each with a URL the door signed now. The
    door checks the owner too (`client_code`); its 409 and 410 are answered as they came."""
    path = f"/data-services/{segment(data_service_id)}/files"
    params = {"client_code": who.scope, "limit": limit, "cursor": cursor}
    found = _find(doors, DATA_SERVICES_QUERIES, path, params)
    if found is None or found.get("data_service_id") != data_service_id:
        raise _no_data_service()
    return dict(found)


# -- a center's uploads and studies (ingestion's query door, the center as the filter) -----
def _no_upload() -> HttpError:
    return HttpError(404, "upload_not_found", "no such upload")


def upload_of(doors: Doors, who: Principal, upload_id: str) -> dict[str, Any]:
    found = _find(doors, INGESTION_QUERIES, f"/uploads/{segment(upload_id)}", {"center": who.scope})
    if found is None or found["data_source"] != who.scope:
        raise _no_upload()
    return dict(found)


def uploads_of(
    doors: Doors, who: Principal, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    params = {"center": who.scope, "status": status, "limit": limit, "cursor": cursor}
    return _page(
        doors, INGESTION_QUERIES, "/uploads", params, lambda u: u["data_source"] == who.scope
    )


def study_of(doors: Doors, who: Principal, study_id: str) -> dict[str, Any]:
    """The center's own images of a study; a study it has no image in is missing, whoever
    else has (another center's copies of a referral are other studies)."""
    found = _find(doors, INGESTION_QUERIES, f"/studies/{segment(study_id)}", {"center": who.scope})
    if found is None or any(i["data_source"] != who.scope for i in found["items"]):
        raise HttpError(404, "study_not_found", "no such study")
    return dict(found)


def quarantine_review(
    doors: Doors, center: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Every center's quarantined uploads (an operator's), or one center's."""
    params = {"center": center, "limit": limit, "cursor": cursor}
    return _page(doors, INGESTION_QUERIES, "/quarantine", params, lambda _: True)
