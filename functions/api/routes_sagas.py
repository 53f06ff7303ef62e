"""The sagas' read side for operators (and for clients, of their own subscriptions) and an
operator's retry of a STUCK saga, at the sagas' doors."""

from __future__ import annotations

from functions.api import reads
from functions.api.answers import Page, SagaRetryAccepted, SagaRetryLinks
from functions.api.context_doors import SAGAS_QUERIES
from functions.api.context_views import Saga, SagaWithLog, shown
from functions.api.guard import current
from functions.api.parameters import SagaPath, SagaQuery, SagasQuery
from functions.api.routing import CLIENT_OR_OPERATOR, OPERATOR, Routes, With
from functions.sagas.messages import RetrySaga

routes = Routes("sagas", "sagas, their logs, and an operator's retry")


@routes.get(
    "/v1/sagas", Page[Saga], roles=CLIENT_OR_OPERATOR, refused=(404,),
    summary="sagas newest first: an operator's by status (STUCK by default) or by "
    "subscription; a client's by one of its subscriptions",
)  # fmt: skip
def list_sagas(query: SagasQuery) -> Page[Saga]:
    call = current()
    subscription_id, status = query.subscription_id or "", query.status or ""
    call.resource.append(f"subscription/{subscription_id}/sagas" if subscription_id else "sagas")
    listed = reads.sagas_listed(
        call.wiring.platform.doors, call.principal, subscription_id=subscription_id,
        status=status, limit=query.limit, cursor=query.cursor,
    )  # fmt: skip
    return shown(Page[Saga], listed, SAGAS_QUERIES)


@routes.get(
    "/v1/sagas/<id:saga_id>", SagaWithLog, roles=CLIENT_OR_OPERATOR,
    summary="a saga with its log (RECEIVED / PROCESSED / FAILED, oldest first)",
)  # fmt: skip
def get_saga(path: SagaPath, query: SagaQuery) -> SagaWithLog:
    call = current()
    call.resource.append(f"saga/{path.saga_id}")
    found = reads.saga_with_log(
        call.wiring.platform.doors, call.principal, path.saga_id, query.log_limit,
        query.log_cursor,
    )  # fmt: skip
    return shown(SagaWithLog, found, SAGAS_QUERIES)


@routes.post(
    "/v1/sagas/<id:saga_id>/retry", 202, SagaRetryAccepted, roles=OPERATOR, refused=(409,),
    summary="retry a STUCK saga's compensations (RetrySaga); 409 saga_not_stuck otherwise",
)  # fmt: skip
def retry_saga(path: SagaPath) -> With:
    call = current()
    saga_id = path.saga_id
    call.resource.append(f"saga/{saga_id}")
    reads.saga_for(call.wiring.platform.doors, call.principal, saga_id)  # 404 first
    accepted = call.wiring.commands.retry_saga(call.principal, saga_id)
    status_url = f"/v1/commands/{accepted.command_id}"
    answer = SagaRetryAccepted(
        command_id=accepted.command_id,
        command_type=RetrySaga.TYPE,
        saga_id=saga_id,
        saga_status=accepted.answer.get("status"),
        links=SagaRetryLinks(command=status_url, saga=f"/v1/sagas/{saga_id}"),
    )
    return With(answer, {"Location": status_url})
