"""The expert registry (an operator's) and an expert's work: its assignments, the dataset
of each to review page by page with a preview of every image, exclusions and the approval.

Commands go to the data services context's own command door (commands.py, `to=`
DATA_SERVICE_COMMANDS), reads to its query door (reads.py). The api answers no personal
data of an expert: an operator manages the registry by code (specialities, capacity,
load, assignments, retired or not); the names, username, national id and email stay in
the registry, which needs them to reach the person (notifications ask it for the email).
An operator who registers an expert sends them once; nothing of /v1 answers them back, so
an audit log, a cache or a screen share of the api never holds them.

An expert sees only the services it is assigned to now: another's, or one it was
reassigned away from, is answered 404 exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import flask
from pydantic import BaseModel, ConfigDict, Field

from functions.api import reads
from functions.api.answers import Page
from functions.api.bodies import field_of
from functions.api.context_doors import DATA_SERVICE_COMMANDS, DATA_SERVICES_QUERIES, segment
from functions.api.context_views import DataService, JsonObject, shown
from functions.api.guard import current
from functions.api.parameters import CommandHeaders, PageQuery, PathId
from functions.api.routing import EXPERT, OPERATOR, Routes, With
from functions.api.sending import send
from functions.data_services.messages import ExcludeImages, RegisterExpert
from shared.entrypoints.http import HttpError

routes = Routes("experts", "the expert registry, and an expert's review of its assignments")
# A reused Idempotency-Key with another body (422); the door's refusals of the rules.
_COMMAND_REFUSALS = (404, 409, 422)
PNG = "image/png"


# -- bodies, paths, queries ------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegisterExpertBody(_Body):
    """RegisterExpert: the person behind the code, kept by the registry only."""

    expert_code: str = field_of(RegisterExpert, "expert_code")
    first_names: str = field_of(RegisterExpert, "first_names")
    last_names: str = field_of(RegisterExpert, "last_names")
    username: str = field_of(RegisterExpert, "username")
    national_id: str = field_of(RegisterExpert, "national_id")
    email: str = field_of(RegisterExpert, "email")
    specialities: list[str] = field_of(RegisterExpert, "specialities")
    capacity: int = field_of(RegisterExpert, "capacity")


class ExclusionBody(_Body):
    """Images to take out of the dataset, with one reason code; `note` (optional, short)
    is stored with the revision, never logged nor announced."""

    image_ids: list[str] = field_of(ExcludeImages, "image_ids")
    reason: Literal[
        "artifact", "wrong_anatomy", "duplicate", "poor_quality", "phi_suspected", "other"
    ] = field_of(ExcludeImages, "reason")
    note: str = field_of(ExcludeImages, "note")


class NoBody(_Body):
    """`{}`: the command is all in the path."""


class ExpertPath(BaseModel):
    expert_code: PathId


class AssignmentPath(BaseModel):
    data_service_id: PathId


class AssignmentImagePath(BaseModel):
    data_service_id: PathId
    image_id: PathId


class AssignmentQuery(BaseModel):
    chunk: Annotated[int, Field(ge=0, le=999_999, description="the manifest chunk, from 0")] = 0
    manifest_id: PathId | None = Field(
        None, description="an older version of the manifest (one an exclusion replaced)"
    )


# -- answers ---------------------------------------------------------------------------------
class ExpertCommandLinks(BaseModel):
    command: str
    expert: str


class ExpertAccepted(BaseModel):
    """202: a registry command the data services context accepted; follow `links.command`."""

    command_id: str
    command_type: str
    expert_code: str
    correlation_id: str
    status: Literal["accepted"] = "accepted"
    links: ExpertCommandLinks


class AssignmentCommandLinks(BaseModel):
    command: str
    assignment: str


class AssignmentAccepted(BaseModel):
    """202: an expert's command on its assignment; follow `links.command`."""

    command_id: str
    command_type: str
    data_service_id: str
    correlation_id: str
    status: Literal["accepted"] = "accepted"
    links: AssignmentCommandLinks


class Expert(BaseModel):
    """An expert of the registry by code (no personal data: see the module's docstring)."""

    expert_code: str
    specialities: list[str]
    capacity: int
    load: int
    assignments: list[str]
    registered_at: str
    retired_at: str | None = None
    status: Literal["active", "retired"]


class ReviewEntry(BaseModel):
    """One image of the dataset under review: the catalogue's descriptors, its split, and
    where its preview is."""

    image_id: str
    split: str
    study_id: str
    patient_token: str = Field(description="the patient's pseudonym, never a name or id")
    modality: str | None = None
    anatomical_region: str | None = None
    pathology: str | None = None
    size: int
    preview: str


class ReviewManifest(BaseModel):
    manifest_id: str
    chunk: int
    entries: list[ReviewEntry]
    next_chunk: int | None


class Assignment(DataService):
    """The assigned service with its review state and one chunk of its manifest (null
    before the dataset is prepared)."""

    review_required: bool = False
    approved_at: str | None = None
    start_requested_at: str | None = None
    previous_manifests: list[str] = []
    progress: JsonObject | None = None
    review: ReviewManifest | None = None


# -- the registry (operators) ----------------------------------------------------------------
def _expert_accepted(path: str, body: dict[str, object], headers: CommandHeaders) -> With:
    sent = send(path, body, headers, to=DATA_SERVICE_COMMANDS, resource="expert/{subject}")
    answer = ExpertAccepted(
        **sent.fields,
        expert_code=sent.subject,
        links=ExpertCommandLinks(command=sent.status_url, expert=f"/v1/experts/{sent.subject}"),
    )
    return With(answer, sent.headers)


@routes.post(
    "/v1/experts", 202, ExpertAccepted, roles=OPERATOR, refused=_COMMAND_REFUSALS,
    summary="register an expert, or update one (RegisterExpert)",
)  # fmt: skip
def register_expert(body: RegisterExpertBody, header: CommandHeaders) -> With:
    return _expert_accepted("/experts", body.model_dump(mode="json"), header)


@routes.post(
    "/v1/experts/<id:expert_code>/retire", 202, ExpertAccepted, roles=OPERATOR,
    refused=_COMMAND_REFUSALS,
    summary="never assign the expert again; its services keep it (RetireExpert)",
)  # fmt: skip
def retire_expert(path: ExpertPath, body: NoBody, header: CommandHeaders) -> With:
    return _expert_accepted(f"/experts/{segment(path.expert_code)}/retire", {}, header)


def _expert(found: dict[str, object]) -> dict[str, object]:
    return {**found, "status": "retired" if found.get("retired_at") else "active"}


@routes.get(
    "/v1/experts", Page[Expert], roles=OPERATOR, summary="the expert registry, newest first"
)
def list_experts(query: PageQuery) -> Page[Expert]:
    call = current()
    call.resource.append("experts")
    found = reads.experts_listed(call.wiring.platform.doors, query.limit, query.cursor)
    items = [_expert(item) for item in found["items"]]
    return shown(Page[Expert], {**found, "items": items}, DATA_SERVICES_QUERIES)


@routes.get("/v1/experts/<id:expert_code>", Expert, roles=OPERATOR, summary="an expert")
def get_expert(path: ExpertPath) -> Expert:
    call = current()
    call.resource.append(f"expert/{path.expert_code}")
    found = reads.expert_of(call.wiring.platform.doors, path.expert_code)
    return shown(Expert, _expert(found), DATA_SERVICES_QUERIES)


# -- an expert's assignments -----------------------------------------------------------------
def _own(data_service_id: str) -> dict[str, object]:
    call = current()
    call.resource.append(f"expert/{call.principal.scope}/assignments/{data_service_id}")
    return reads.assignment_of(call.wiring.platform.doors, call.principal, data_service_id)


@routes.get(
    "/v1/assignments/<id:data_service_id>", Assignment, roles=EXPERT,
    summary="one of your assignments, with a chunk of its dataset to review",
)  # fmt: skip
def get_assignment(path: AssignmentPath, query: AssignmentQuery) -> Assignment:
    service = _own(path.data_service_id)
    doors = current().wiring.platform.doors
    review = None
    if service.get("manifest"):
        page = reads.assignment_manifest(doors, path.data_service_id, query.chunk,
                                         query.manifest_id)  # fmt: skip
        if page is None:
            raise HttpError(404, "manifest_not_found", "no such manifest chunk", "chunk")
        base = f"/v1/assignments/{path.data_service_id}/images"
        review = {
            **page,
            "entries": [
                {**entry, "preview": f"{base}/{entry['image_id']}/preview"}
                for entry in page["entries"]
            ],
        }
    elif query.manifest_id:
        raise HttpError(404, "manifest_not_found", "no such manifest", "manifest_id")
    return shown(Assignment, {**service, "review": review}, DATA_SERVICES_QUERIES)


@routes.get(
    "/v1/assignments/<id:data_service_id>/images/<id:image_id>/preview",
    {
        "description": "a PNG preview of the image, at most 512 px on its longer side",
        "content": {PNG: {"schema": {"type": "string", "format": "binary"}}},
    },
    roles=EXPERT, refused=(422,), summary="a rendered preview of an image to review",
)  # fmt: skip
def preview(path: AssignmentImagePath) -> flask.Response:
    _own(path.data_service_id)
    doors = current().wiring.platform.doors
    answer = reads.assignment_preview(doors, path.data_service_id, path.image_id)
    return flask.Response(
        answer.content, status=200, content_type=PNG,
        headers={"Cache-Control": "private, max-age=300"},
    )  # fmt: skip


def _assignment_accepted(path: str, body: dict[str, Any], headers: CommandHeaders) -> With:
    sent = send(path, body, headers, to=DATA_SERVICE_COMMANDS, resource="assignment/{subject}")
    answer = AssignmentAccepted(
        **sent.fields,
        data_service_id=sent.subject,
        links=AssignmentCommandLinks(
            command=sent.status_url, assignment=f"/v1/assignments/{sent.subject}"
        ),
    )
    return With(answer, sent.headers)


@routes.post(
    "/v1/assignments/<id:data_service_id>/exclusions", 202, AssignmentAccepted, roles=EXPERT,
    refused=_COMMAND_REFUSALS,
    summary="take images out of the dataset before its delivery (ExcludeImages)",
)  # fmt: skip
def exclude_images(path: AssignmentPath, body: ExclusionBody, header: CommandHeaders) -> With:
    _own(path.data_service_id)
    sent = {**body.model_dump(mode="json"), "expert_code": current().principal.scope}
    target = f"/data-services/{segment(path.data_service_id)}/exclusions"
    return _assignment_accepted(target, sent, header)


@routes.post(
    "/v1/assignments/<id:data_service_id>/approve", 202, AssignmentAccepted, roles=EXPERT,
    refused=_COMMAND_REFUSALS,
    summary="approve the dataset: a delivery that waited for it starts (ApproveDataset)",
)  # fmt: skip
def approve(path: AssignmentPath, body: NoBody, header: CommandHeaders) -> With:
    _own(path.data_service_id)
    sent = {"expert_code": current().principal.scope}
    target = f"/data-services/{segment(path.data_service_id)}/approval"
    return _assignment_accepted(target, sent, header)
