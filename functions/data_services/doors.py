"""The HTTP doors of the data_services context, each a flask-openapi3 app whose contract
(GET /openapi.json) is generated from the models below and the read models of messages.py
(the published contract, which the api reads too).

- commands (`data_services_commands_http`): create a data service, assign its expert,
  prepare its dataset, start, finish, cancel it; register an expert; a client's data
  request for its subscription. Each validated here, recorded, published, answered 202.
- queries (`data_services_queries_http`): a data service with its progress, its manifest
  page by page, a client's data services, an expert (without the person) and the services
  assigned to them, what became of a command, the context's dead letters; what the
  catalogue holds for a buyer's criteria (`GET /catalogue/counts`) and the quote of a
  dataset (`POST /quotes`, a read: it changes nothing), in counts that identify no one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import flask
from pydantic import BaseModel, BeforeValidator, Field, ValidationError

from functions import bootstrap
from functions.data_services import expert_slots, review, wiring
from functions.data_services import queries as read
from functions.data_services.delivery import split_uri
from functions.data_services.dicomweb_door import add_dicomweb_routes
from functions.data_services.domain import (
    ENDED_STATUSES,
    speciality_of,
    target_spec,
    validate_create,
    validate_data_request,
)
from functions.data_services.experts import Expert, free_slots
from functions.data_services.messages import (
    MAX_EXCLUDED_PER_COMMAND,
    NAMES,
    ApproveDataset,
    AssignExpert,
    CancelDataService,
    CatalogueCountsView,
    ClientRef,
    CloudTarget,
    Code,
    CreateDataService,
    CreateDataServiceV2,
    DataServiceView,
    DatasetCriteria,
    DatasetQuoteRequest,
    DatasetQuoteView,
    DatasetSpec,
    ExcludeImages,
    ExclusionReason,
    ExpertContact,
    ExpertView,
    FilesPage,
    FinishDataService,
    GroupBy,
    Id,
    ImageId,
    ManifestPage,
    PlanRef,
    PrepareDataset,
    RegisterExpert,
    RetireExpert,
    StartDataService,
    SubmitDataRequest,
)
from functions.data_services.ports import DeliveryRefused
from functions.data_services.preview import NotRenderable, render_png
from shared.domain.clock import utc_now
from shared.domain.errors import PermanentError
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
from shared.ports.blobs import BlobNotFound
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
    review_required: bool = False  # the start waits for the expert's approval


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
    review_required: bool = False  # an expert reviews the dataset before its delivery


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


def _place_apart(fields: dict[str, Any]) -> dict[str, Any] | None:
    """A body's `cloud` as a command carries it: its place (bucket, prefix, principal)
    moved out of `cloud` into `cloud_place`, beside the v1 shape a strict reader takes."""
    cloud = dict(fields.get("cloud") or {})
    place = {k: cloud.pop(k) for k in ("bucket", "prefix", "principal") if k in cloud}
    fields["cloud"] = cloud
    found = {k: v for k, v in place.items() if v is not None}
    return found or None


def _take(
    endpoint: str, args: dict[str, str], build: Callable[[str], Command]
) -> tuple[CommandDoor, Envelope]:
    """Validate (`build(command_id)`), check what it names, record, publish: its envelope."""
    w = _wiring()
    door = CommandDoor(NAMES, w.commands, w.platform)
    envelope = door.envelope(flask.request, endpoint, args, build)
    _ensure_targets_exist(w, envelope.payload)
    _probe_delivery_target(w, envelope.payload)
    # The digest of the body as sent: the same key with the same request is the same command.
    door.accept_and_publish(envelope, request_digest(endpoint, args, flask.request.get_json()))
    return door, envelope


def _probe_delivery_target(w: wiring.DataServicesWiring, command: Message) -> None:
    """A buyer's bucket that refuses our test write is answered at once (422, with what to
    grant), not accepted to fail at the prepare; the prepare probes again, since a grant
    can be withdrawn in between."""
    if not isinstance(command, CreateDataServiceV2 | SubmitDataRequest):
        return
    cloud = command.target_cloud
    if not cloud.bucket:
        return
    subject = (
        command.data_service_id
        if isinstance(command, CreateDataServiceV2)
        else f"request-{command.subscription_id}"
    )
    try:
        w.delivery.targets(target_spec(subject, cloud, w.delivery.delivery_bucket)).probe()
    except DeliveryRefused as refused:
        raise HttpError(422, refused.reason, refused.detail, field="cloud.bucket") from None


def _ensure_targets_exist(w: wiring.DataServicesWiring, command: Message) -> None:
    """A command for something that will never exist is refused here, not retried until it
    dies; a data service whose creation was accepted but not processed yet is let through."""
    store, c = w.platform.store, w.collections
    if isinstance(command, RegisterExpert):
        return
    expert_code = getattr(command, "expert_code", None)
    if expert_code and store.get(c.experts, expert_code) is None:
        raise HttpError(404, "expert_not_found", "no such expert", field="expert_code")
    if isinstance(command, RetireExpert):
        return
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
        place = _place_apart(fields)
        if "client" in fields:
            create = parse_payload(CreateDataService, fields).upgraded()
            create = create.model_copy(update={"cloud_place": place})
        else:
            create = parse_payload(CreateDataServiceV2, {**fields, "cloud_place": place})
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
        fields["cloud_place"] = _place_apart(fields)
        request = parse_payload(SubmitDataRequest, fields)
        subscription = store.get(c.subscriptions, path.subscription_id)
        if subscription is None:
            raise HttpError(
                404, "subscription_not_found", "no such subscription", field="subscription_id"
            )
        # Checked against the plan now, so the client learns at once what is wrong.
        criteria = validate_data_request(request, str(subscription.get("plan", "")))
        # And before it pays: the experts of its speciality with no free slot now (taken,
        # or reserved for another subscription's request) would assign none after the
        # payment either. The request's handler reserves one for this subscription, so a
        # slot taken between now and the payment ends in no refund (ADR 0014).
        speciality = speciality_of(request.speciality, criteria)
        seen = expert_slots.experts_of(
            store, c, speciality, path.subscription_id, clock=w.platform.clock
        )
        if seen and not free_slots(seen, speciality):
            raise HttpError(
                409,
                "no_expert_capacity",
                f"no expert of {speciality} has a free slot now: ask again later",
                field="speciality",
            )
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
    found = read.get_data_service(w.platform.store, w.collections, path.data_service_id, _place(w))
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
        cursor=query.cursor, place=_place(w),
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


_Sources = Annotated[str, Field(max_length=30 * 65, description="codes, comma-separated")]
_Instant = Annotated[str, Field(max_length=40, description="ISO 8601 date-time with its zone")]


class CatalogueFilters(Parameters):
    """A buyer's criteria, each left out matching everything (DatasetCriteria's filters;
    ingested_from inclusive, ingested_to exclusive)."""

    modality: Annotated[str, Field(max_length=16)] | None = None
    anatomical_region: Annotated[str, Field(max_length=128)] | None = None
    pathology: Annotated[str, Field(max_length=128)] | None = None
    sources: _Sources | None = None
    ingested_from: _Instant | None = None
    ingested_to: _Instant | None = None
    group_by: GroupBy | None = None


# A quote the request is well formed for, but that cannot be given: 422.
_UNQUOTABLE = frozenset({"unknown_plan", "dataset_exceeds_plan", "dataset_too_small"})


@queries.get("/catalogue/counts", responses=answers(CatalogueCountsView, 400, 503))
def catalogue_counts(query: CatalogueFilters) -> flask.Response:
    """What the catalogue holds for the criteria: images, studies and patients, by one
    dimension too, each count under the minimum cell size (catalogue_counts.py)."""
    w = _wiring()
    sources = [s for s in (query.sources or "").split(",") if s.strip()]
    filters = query.model_dump(exclude={"group_by", "sources"}, exclude_none=True)
    try:
        criteria = DatasetCriteria.model_validate({**filters, "sources": sources})
    except ValidationError as error:  # too many sources, or one too long
        where = ".".join(str(part) for part in error.errors()[0]["loc"])
        raise HttpError(400, "schema_violation", "sources: at most 30 codes of 64", where) from None
    counted = read.catalogue_counts(
        w.projections, criteria, query.group_by, w.platform.settings.catalogue_min_cell
    )
    return answer(CatalogueCountsView, counted)


@queries.post("/quotes", responses=answers(DatasetQuoteView, 400, 422, 503))
def quote_dataset(body: DatasetQuoteRequest, query: NoParameters) -> flask.Response:
    """What a dataset would hold on a plan (queries.dataset_quote), before it is asked for:
    a read, nothing is recorded. 422 `unknown_plan`, `dataset_exceeds_plan`,
    `dataset_too_small`; 400 for criteria a data request would be refused for too."""
    w = _wiring()
    try:
        quoted = read.dataset_quote(w.projections, body, w.platform.settings.catalogue_min_cell)
    except PermanentError as error:
        status = 422 if error.reason in _UNQUOTABLE else 400
        raise HttpError(status, error.reason, error.detail, error.field) from None
    return answer(DatasetQuoteView, quoted)


def _place(w: wiring.DataServicesWiring) -> read.Place:
    """What the views need to say where a service's data is (the buyer's view of it)."""
    return read.Place(w.delivery.delivery_bucket, w.platform.settings.require_public_url())


class FilesQuery(PageParameters):
    # The owner: a service of another client is answered as no service (404).
    client_code: Code


@queries.get(
    "/data-services/<data_service_id>/files",
    responses=answers(FilesPage, 400, 404, 409, 410, 503),
)
def list_files(path: DataServicePath, query: FilesQuery) -> flask.Response:
    """A delivered dataset's files, each with a URL signed now for minutes (files.py):
    manifest.jsonl and SHA256SUMS first, then the images. 409 `not_delivered` or
    `files_not_offered` (the data is in a bucket: `where` says which), 410 `service_ended`."""
    from functions.data_services.files import FilesRefused, files_page

    w = _wiring()
    try:
        page = files_page(
            w.delivery, path.data_service_id, query.client_code, cursor=query.cursor,
            limit=query.limit, now=w.platform.clock(), minutes=wiring.link_minutes(),
        )  # fmt: skip
    except FilesRefused as refused:
        raise HttpError(refused.status, refused.reason, refused.detail) from None
    return answer(FilesPage, or_not_found(page, "data_service_not_found", "no such data service"))


def _command_status(command_id: str) -> dict[str, Any] | None:
    return _wiring().commands.status(command_id)  # the wiring when asked, never at import


add_command_status_route(queries, _command_status)
add_dead_letter_route(queries, lambda: _wiring().platform)
add_dicomweb_routes(queries, _wiring)  # DICOMweb over a delivered service


# -- the expert's work (review.py, revisions.py) -----------------------------------------------
class ExclusionBody(DoorBody):
    """POST /data-services/<id>/exclusions: ExcludeImages without its service (in the
    path). `note` is stored with the revision only, never logged nor announced."""

    expert_code: Code
    image_ids: Annotated[list[ImageId], Field(min_length=1, max_length=MAX_EXCLUDED_PER_COMMAND)]
    reason: ExclusionReason
    note: Annotated[str, Field(max_length=500)] = ""


class ApprovalBody(DoorBody):
    expert_code: Code


def _reviewable(w: wiring.DataServicesWiring, data_service_id: str, expert_code: str) -> Any:
    """The service as its expert may review it now (409 with the rule's reason otherwise;
    a service not stored yet is left to _ensure_targets_exist)."""
    service = read.service_aggregate(w.platform.store, w.collections, data_service_id)
    if service is None:
        return None
    try:
        service.ensure_reviewable(expert_code)
    except PermanentError as error:
        status = 403 if error.reason == "not_assigned_expert" else 409
        raise HttpError(status, error.reason, error.detail, field=error.field) from None
    return service


@commands.post(
    "/experts/<expert_code>/retire",
    responses=answers(ExpertAccepted, *COMMAND_REFUSALS, 404, status=202),
)
def retire_expert(
    path: ExpertPath, body: NoBody, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """Never assign the expert again; its services keep it until they end or are
    reassigned. 404 for an expert not in the registry."""
    fields = {"expert_code": path.expert_code}
    door, envelope = _take(
        "retire", path.model_dump(), lambda _: parse_payload(RetireExpert, fields)
    )
    return door.accepted(
        envelope, ExpertAccepted, "subject", expert=f"{QUERIES_PATH}/experts/{envelope.subject}"
    )  # fmt: skip


@commands.post("/data-services/<data_service_id>/exclusions", responses=_ACCEPTED)
def exclude_images(
    path: DataServicePath, body: ExclusionBody, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """The assigned expert takes images out of the prepared dataset, before the start (a
    new manifest version). 422 unknown_image / dataset_empty, 409 already_started."""
    w = _wiring()
    service = _reviewable(w, path.data_service_id, body.expert_code)
    if service is not None:
        if service.approved_at is not None:
            raise HttpError(409, "already_approved", "the dataset is approved already")
        manifest = service.manifest
        entries = read.manifest_entries(
            w.platform.store, w.collections, manifest.manifest_id, manifest.chunks
        )
        try:
            review.kept_entries(entries, body.image_ids)
        except PermanentError as error:
            raise HttpError(422, error.reason, error.detail, field=error.field) from None
    return _service_command("exclude", path, body, ExcludeImages)


@commands.post("/data-services/<data_service_id>/approval", responses=_ACCEPTED)
def approve_dataset(
    path: DataServicePath, body: ApprovalBody, query: NoParameters, header: CommandHeaders
) -> flask.Response:
    """The assigned expert approves the dataset; a start that waited for it begins."""
    _reviewable(_wiring(), path.data_service_id, body.expert_code)
    return _service_command("approve", path, body, ApproveDataset)


class ExpertPage(PageParameters):
    """The registry, newest registration first."""


class ManifestVersionPath(BaseModel):
    data_service_id: DocumentId
    manifest_id: DocumentId


class ImagePath(BaseModel):
    data_service_id: DocumentId
    image_id: DocumentId


PNG = "image/png"
MAX_PREVIEWED_BYTES = 256 * 1024 * 1024  # a larger object is not rendered in a request


@queries.get("/experts", responses=answers(Page[ExpertView], 400, 503))
def list_experts(query: ExpertPage) -> flask.Response:
    """The expert registry (without the person behind a code), newest first."""
    w = _wiring()
    page = read.experts_page(
        w.platform.store, w.collections, limit=query.limit, cursor=query.cursor
    )
    return answer(Page[ExpertView], page)


@queries.get(
    "/data-services/<data_service_id>/manifests/<manifest_id>",
    responses=answers(ManifestPage, 400, 404, 503),
)
def get_manifest_version(path: ManifestVersionPath, query: ManifestChunk) -> flask.Response:
    """One chunk of a version of the service's manifest, the current one or one an
    exclusion replaced (frozen: it stays readable)."""
    w = _wiring()
    page = read.manifest_version_page(
        w.platform.store, w.collections, path.data_service_id, path.manifest_id, query.chunk
    )
    return answer(ManifestPage, or_not_found(page, "manifest_not_found", "no such manifest chunk"))


@queries.get(
    "/data-services/<data_service_id>/images/<image_id>/preview",
    responses=answers(
        {"description": "a PNG preview, at most 512 px on its longer side",
         "content": {PNG: {"schema": {"type": "string", "format": "binary"}}}},
        400, 404, 422, 503,
    ),
)  # fmt: skip
def preview_image(path: ImagePath, query: NoParameters) -> flask.Response:
    """A rendered preview of an image of the service's dataset (any manifest version)."""
    w = _wiring()
    entry = read.manifest_entry(
        w.platform.store, w.collections, path.data_service_id, path.image_id
    )
    if entry is None:
        raise HttpError(404, "image_not_found", "no such image in the dataset")
    if entry.size > MAX_PREVIEWED_BYTES:
        raise HttpError(422, "image_too_large", "the image is too large to preview")
    bucket, name = split_uri(entry.uri)
    try:
        data = w.platform.blobs.read_bytes(bucket, name)
    except BlobNotFound:
        raise HttpError(404, "image_not_found", "the image is no longer stored") from None
    try:
        png = render_png(data)
    except NotRenderable as error:
        raise HttpError(422, error.reason, error.detail) from None
    return flask.Response(png, mimetype=PNG, headers={"Cache-Control": "private, max-age=300"})


# The expert's contact, for the notifications context only: its own door, which only the
# notifications' functions may invoke (infra/topology.yaml cloud.access.notifications).
contacts = door_app(
    "data services contacts",
    "How an expert of the registry is reached: for the notifications context only.",
)


@contacts.get("/experts/<expert_code>/contact", responses=answers(ExpertContact, 400, 404, 503))
def get_expert_contact(path: ExpertPath, query: NoParameters) -> flask.Response:
    """An expert's email address (never its national id)."""
    w = _wiring()
    found = read.expert_contact(w.platform.store, w.collections, path.expert_code)
    return answer(ExpertContact, or_not_found(found, "expert_not_found"))
