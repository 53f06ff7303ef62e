"""The HTTP doors of the data_services context, each a flask-openapi3 app whose contract
(GET /openapi.json) is generated from the models below and the read models of messages.py
(the published contract, which the api reads too).

- commands (`data_services_commands_http`): create a data service, assign its expert,
  prepare its dataset, start, finish, cancel it; register an expert; a client's data
  request for its subscription. Each validated here, recorded, published, answered 202.
- queries (`data_services_queries_http`): a data service with its progress, its manifest
  page by page, a client's data services, an expert (without the person) and the services
  assigned to them, what became of a command, the context's dead letters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import flask
from pydantic import BaseModel, BeforeValidator, Field

from functions import bootstrap
from functions.data_services import queries as read
from functions.data_services import wiring
from functions.data_services.domain import (
    ENDED_STATUSES,
    validate_create,
    validate_data_request,
)
from functions.data_services.experts import Expert
from functions.data_services.messages import (
    NAMES,
    AssignExpert,
    CancelDataService,
    ClientRef,
    CloudTarget,
    Code,
    CreateDataService,
    CreateDataServiceV2,
    DataServiceView,
    DatasetSpec,
    ExpertView,
    FinishDataService,
    Id,
    ManifestPage,
    PlanRef,
    PrepareDataset,
    RegisterExpert,
    StartDataService,
    SubmitDataRequest,
)
from shared.domain.clock import utc_now
from shared.domain.messages import Command, Message
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
    or_not_found,
)
from shared.entrypoints.http import HttpError
from shared.ports.documents import Filter
from shared.ports.envelope import Envelope, derived_id, parse_payload
from shared.service.command_log import request_digest

QUERIES_PATH = f"/{NAMES.name}_queries_http"
commands = door_app(
    "data services commands",
    "Data services, their experts and deliveries, the expert registry and clients' data "
    "requests: 202 with where to read each command's status, at the queries door.",
)
queries = door_app(
    "data services queries",
    "Data services with their progress and manifests, the expert registry without the "
    "person behind a code, what became of a command, the context's dead letters.",
)


def _wiring() -> wiring.DataServicesWiring:
    return bootstrap.context(wiring.build)


# -- commands --------------------------------------------------------------------------------
class NewDataService(DoorBody):
    """POST /data-services: CreateDataServiceV2 without its id (derived from the command's).
    A body of the v1 shape (`client` with names instead of `client_code`) is still taken,
    checked as before and published as v2: the names stop here, never on the topic."""

    subscription_id: Id
    client_code: Code | None = None
    client: Annotated[ClientRef | None, Field(deprecated=True)] = None
    plan: PlanRef
    cloud: CloudTarget
    dataset: DatasetSpec
    speciality: Code | None = None
    expert_code: Code | None = None
    from_client_request: bool = False


class ExpertChoice(DoorBody):
    # Without one, the least loaded expert of the service's speciality is chosen.
    expert_code: Code | None = None


class NoBody(DoorBody):
    """`{}`: the command is all in the path."""


class Cancellation(DoorBody):
    reason: Annotated[str, Field(max_length=200)] = ""


class DataRequest(DoorBody):
    """POST /subscriptions/<id>/data-request: SubmitDataRequest without its subscription."""

    dataset: DatasetSpec
    cloud: CloudTarget
    speciality: Code | None = None


class DataServicePath(BaseModel):
    data_service_id: DocumentId


class SubscriptionPath(BaseModel):
    subscription_id: DocumentId


class DataServiceLinks(CommandLink):
    data_service: str


class ExpertLinks(CommandLink):
    expert: str


class DataServiceAccepted(Accepted):
    subject: str
    links: DataServiceLinks


class ExpertAccepted(Accepted):
    subject: str
    links: ExpertLinks


class DataRequestAccepted(Accepted):
    """The data service the request shapes does not exist yet: no link to it."""

    subject: str
    links: CommandLink


_CREATES = (CreateDataServiceV2, CreateDataService)


def _take(
    endpoint: str, args: dict[str, str], build: Callable[[str], Command]
) -> tuple[CommandDoor, Envelope]:
    """Validate (`build(command_id)`), check what it names, record, publish: its envelope."""
    w = _wiring()
    door = CommandDoor(NAMES, w.commands, w.platform)
    envelope = door.envelope(flask.request, endpoint, args, build)
    _ensure_targets_exist(w, envelope.payload)
    # The digest of the body as sent: the same key with the same request is the same command.
    door.accept_and_publish(envelope, request_digest(endpoint, args, flask.request.get_json()))
    return door, envelope


def _ensure_targets_exist(w: wiring.DataServicesWiring, command: Message) -> None:
    """A command for something that will never exist is refused here, not retried until it
    dies; a data service whose creation was accepted but not processed yet is let through."""
    store, c = w.platform.store, w.collections
    if isinstance(command, RegisterExpert):
        return
    expert_code = getattr(command, "expert_code", None)
    if expert_code and store.get(c.experts, expert_code) is None:
        raise HttpError(404, "expert_not_found", "no such expert", field="expert_code")
    if isinstance(command, CreateDataServiceV2 | SubmitDataRequest):
        if store.get(c.subscriptions, command.subscription_id) is None:
            raise HttpError(
                404, "subscription_not_found", "no such subscription", field="subscription_id"
            )
        return
    subject = command.subject
    if store.get(c.services, subject) is not None:
        return
    # A creation accepted before v2 was deployed was logged as v1.
    if any(w.commands.accepted_for(subject, t.TYPE) for t in _CREATES):
        return
    raise HttpError(404, "data_service_not_found", "no such data service")


def _service_command(
    endpoint: str, path: DataServicePath, body: DoorBody, command: type[Command]
) -> flask.Response:
    fields = {**body.model_dump(), "data_service_id": path.data_service_id}
    door, envelope = _take(endpoint, path.model_dump(), lambda _: parse_payload(command, fields))
    return door.accepted(
        envelope,
        DataServiceAccepted,
        "subject",
        data_service=f"{QUERIES_PATH}/data-services/{envelope.subject}",
    )


_ACCEPTED = answers(DataServiceAccepted, *COMMAND_REFUSALS, status=202)


@commands.post("/data-services", responses=_ACCEPTED)
def create_data_service(
    body: NewDataService, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Create a data service for a subscription."""

    def build(command_id: str) -> Command:
        # The keys as sent: a v1 body is told from a v2 one by its `client`.
        fields = {
            **body.model_dump(exclude_unset=True),
            "data_service_id": derived_id(command_id, "data_service"),
        }
        if "client" in fields:
            create = parse_payload(CreateDataService, fields).upgraded()
        else:
            create = parse_payload(CreateDataServiceV2, fields)
        validate_create(create)  # the rules a command can be checked against without state
        return create

    door, envelope = _take("create", {}, build)
    return door.accepted(
        envelope,
        DataServiceAccepted,
        "subject",
        data_service=f"{QUERIES_PATH}/data-services/{envelope.subject}",
    )


@commands.post("/data-services/<data_service_id>/expert", responses=_ACCEPTED)
def assign_expert(
    path: DataServicePath, body: ExpertChoice, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Assign an expert, or reassign."""
    return _service_command("assign", path, body, AssignExpert)


@commands.post("/data-services/<data_service_id>/dataset", responses=_ACCEPTED)
def prepare_dataset(
    path: DataServicePath, body: NoBody, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Resolve the dataset's criteria into the service's frozen manifest."""
    return _service_command("prepare", path, body, PrepareDataset)


@commands.post("/data-services/<data_service_id>/start", responses=_ACCEPTED)
def start_data_service(
    path: DataServicePath, body: NoBody, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Deliver the prepared manifest."""
    return _service_command("start", path, body, StartDataService)


@commands.post("/data-services/<data_service_id>/finish", responses=_ACCEPTED)
def finish_data_service(
    path: DataServicePath, body: NoBody, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Finish the service, then revoke the delivered copies."""
    return _service_command("finish", path, body, FinishDataService)


@commands.post("/data-services/<data_service_id>/cancel", responses=_ACCEPTED)
def cancel_data_service(
    path: DataServicePath, body: Cancellation, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Cancel the service, then revoke the delivered copies."""
    return _service_command("cancel", path, body, CancelDataService)


@commands.post("/experts", responses=answers(ExpertAccepted, *COMMAND_REFUSALS, status=202))
def register_expert(
    body: RegisterExpert, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Add an expert to the registry, or update one."""

    def build(_: str) -> Command:
        Expert.register(body, utc_now())  # the registry's rules, on a throwaway
        return body

    door, envelope = _take("register", {}, build)
    return door.accepted(
        envelope, ExpertAccepted, "subject", expert=f"{QUERIES_PATH}/experts/{envelope.subject}"
    )


@commands.post(
    "/subscriptions/<subscription_id>/data-request",
    responses=answers(DataRequestAccepted, *COMMAND_REFUSALS, status=202),
)
def submit_data_request(
    path: SubscriptionPath, body: DataRequest, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """What the client wants of the data service its subscription pays for."""

    w = _wiring()
    store, c = w.platform.store, w.collections

    def build(_: str) -> Command:
        fields = {**body.model_dump(), "subscription_id": path.subscription_id}
        request = parse_payload(SubmitDataRequest, fields)
        subscription = store.get(c.subscriptions, path.subscription_id)
        if subscription is None:
            raise HttpError(
                404, "subscription_not_found", "no such subscription", field="subscription_id"
            )
        # Checked against the plan now, so the client learns at once what is wrong.
        validate_data_request(request, str(subscription.get("plan", "")))
        open_services = [
            doc
            for _, doc in store.query(
                c.services, [Filter("subscription_id", "==", path.subscription_id)], limit=20
            ).items
            if doc.get("status") not in ENDED_STATUSES
        ]
        if open_services:
            raise HttpError(
                409,
                "data_service_exists",
                "the subscription's data service is created already; a request shapes only "
                "the one its next payment provisions",
            )
        return request

    door, envelope = _take("request", path.model_dump(), build)
    return door.accepted(envelope, DataRequestAccepted, "subject")


# -- queries ---------------------------------------------------------------------------------
class ExpertPath(BaseModel):
    expert_code: DocumentId


def _chunk(raw: Any) -> Any:
    if isinstance(raw, str) and not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
        raise HttpError(400, "invalid_chunk", "chunk is a whole number", field="chunk")
    return raw


class ManifestChunk(Parameters):
    chunk: Annotated[
        int, Field(ge=0, le=999_999, description="the chunk, from 0"), BeforeValidator(_chunk)
    ] = 0


class ClientDataServices(PageParameters):
    client_code: str


@queries.get(
    "/data-services/<data_service_id>",
    responses=answers(DataServiceView, 400, 404, 503),
)
def get_data_service(path: DataServicePath, query: NoParameters) -> flask.Response:
    """A data service, and its progress."""
    w = _wiring()
    found = read.get_data_service(w.platform.store, w.collections, path.data_service_id)
    return answer(
        DataServiceView, or_not_found(found, "data_service_not_found", "no such data service")
    )


@queries.get(
    "/data-services/<data_service_id>/manifest",
    responses=answers(ManifestPage, 400, 404, 503),
)
def get_manifest(path: DataServicePath, query: ManifestChunk) -> flask.Response:
    """One chunk of a service's frozen manifest; `next_chunk` pages on."""
    w = _wiring()
    page = read.manifest_page(w.platform.store, w.collections, path.data_service_id, query.chunk)
    return answer(ManifestPage, or_not_found(page, "manifest_not_found", "no such manifest chunk"))


@queries.get("/data-services", responses=answers(Page[DataServiceView], 400, 503))
def list_data_services(query: ClientDataServices) -> flask.Response:
    """A client's data services, newest first."""
    w = _wiring()
    page = read.data_services_of_client(
        w.platform.store, w.collections, query.client_code, limit=query.limit,
        cursor=query.cursor,
    )  # fmt: skip
    return answer(Page[DataServiceView], page)


@queries.get("/experts/<expert_code>", responses=answers(ExpertView, 400, 404, 503))
def get_expert(path: ExpertPath, query: NoParameters) -> flask.Response:
    """An expert of the registry."""
    w = _wiring()
    found = read.get_expert(w.platform.store, w.collections, path.expert_code)
    return answer(ExpertView, or_not_found(found, "expert_not_found"))


@queries.get(
    "/experts/<expert_code>/assignments",
    responses=answers(Page[DataServiceView], 400, 404, 503),
)
def list_assignments(path: ExpertPath, query: PageParameters) -> flask.Response:
    """The services an expert is assigned to, newest assignment first."""
    w = _wiring()
    page = read.assignments_of_expert(
        w.platform.store, w.collections, path.expert_code, limit=query.limit,
        cursor=query.cursor,
    )  # fmt: skip
    return answer(Page[DataServiceView], page)


def _command_status(command_id: str) -> dict[str, Any] | None:
    return _wiring().commands.status(command_id)  # the wiring when asked, never at import


add_command_status_route(queries, _command_status)
add_dead_letter_route(queries, lambda: _wiring().platform)
