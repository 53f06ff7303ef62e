"""Command handlers: load the aggregates, let them decide, leave saving to the unit of work.

HANDLERS maps every message the context consumes from a topic: each entry is one Cloud
Function, made from it by entrypoints.py (named by the message: data_services_assign_expert
for AssignExpert), and one filtered trigger subscription in infra/topology.yaml. A plain
handler is run by the idempotent MessageProcessor (shared/service/processing.py) inside one
transaction with the inbox and outbox. The prepare, the start, the chunks and the end are
Consumers of delivery.py, since they do work (reads of the catalogue, copies) that no
transaction should hold; they hand the processor what to record, whose handlers are in
IN_PROCESS_HANDLERS with the internal commands. The projections (projections.py) are plain
idempotent writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from functions.data_services.delivery import DeliveryService
from functions.data_services.domain import (
    DataService,
    DataServiceError,
    Delivery,
    ManifestSummary,
    Where,
    delivery_mode,
    speciality_of,
    validate_data_request,
)
from functions.data_services.experts import (
    Expert,
    ExpertError,
    ExpertLoad,
    ExpertSlot,
    rank_slots,
    slot_id,
    speciality_code,
)
from functions.data_services.messages import (
    ApproveDataset,
    AssignExpert,
    CancelDataService,
    CloudTarget,
    CompleteDelivery,
    CreateDataService,
    CreateDataServiceV2,
    DataRequestSubmitted,
    DatasetSpec,
    DeliverChunk,
    ExcludeImages,
    FailDelivery,
    FinishDataService,
    PrepareDataset,
    RegisterExpert,
    RetireExpert,
    RevokeChunk,
    StartDataService,
    SubmitDataRequest,
)
from functions.data_services.projections import Projections
from functions.data_services.revisions import ReviewService, revision_doc_id
from functions.data_services.unit_of_work import DataServicesUnitOfWork
from functions.ingestion.messages import ImageAnonymized
from functions.subscriptions.messages import SubscriptionCreated
from shared.domain.clock import Clock, rfc3339
from shared.domain.errors import TransientError
from shared.domain.messages import Message
from shared.service.processing import Consumer, MessageHandler


@dataclass(frozen=True)
class Dependencies:
    clock: Clock
    # The registered experts of a speciality and their taken slots, with the slots reserved
    # for other subscriptions than the one named, as queries outside the transaction saw
    # them (expert_slots.py); the chosen slot is read inside it, and decides.
    experts_of: Callable[[str, str | None], list[ExpertLoad]]
    # The slots a data service holds, as a query outside the transaction saw them.
    slots_held_by: Callable[[str], list[str]]
    # The slots reserved for a subscription, likewise.
    slots_reserved_for: Callable[[str], list[str]]
    # How long a data request's reservation holds its slot (settings).
    reservation: timedelta = timedelta(hours=24)


SLOTS_TRIED = 4  # ranked free slots read in one assignment before it is retried afresh


class ExpertsBusy(TransientError):
    """Every slot tried was taken since the ranking's query: retried with a fresh one."""


class NotYetKnown(TransientError):
    """A record a command needs is not stored (yet): messages arrive in any order, so it is
    retried, then dead-lettered."""


def create_data_service(
    cmd: CreateDataServiceV2, uow: DataServicesUnitOfWork, deps: Dependencies
) -> None:
    if cmd.from_client_request:
        request = uow.tx.get(uow.collections.requests, cmd.subscription_id)
        if request is not None:
            cmd = cmd.model_copy(
                update={
                    "dataset": DatasetSpec.model_validate(request["dataset"]),
                    **dict(
                        zip(
                            ("cloud", "cloud_place"),
                            CloudTarget.model_validate(request["cloud"]).split(),
                            strict=True,
                        )
                    ),
                    "speciality": request.get("speciality"),
                    "review_required": bool(request.get("review_required", False)),
                }
            )
    service = DataService.create(cmd, deps.clock())
    subscription = uow.tx.get(uow.collections.subscriptions, cmd.subscription_id)
    if subscription is None:
        raise NotYetKnown("the subscription is not projected yet")
    if subscription.get("client_code") != cmd.client_code:
        raise DataServiceError(
            "unknown_client", "the subscription belongs to another client", field="client_code"
        )
    if uow.services.get(cmd.data_service_id) is not None:
        raise DataServiceError(
            "data_service_exists", "that data service id is taken", field="data_service_id"
        )
    uow.services.add(service)
    if cmd.expert_code:
        expert = _expert(uow, cmd.expert_code)
        service.ensure_assignable(expert)
        service.assign(*_free_slot(uow, deps, service, [expert.id]), deps.clock())


def create_data_service_v1(
    cmd: CreateDataService, uow: DataServicesUnitOfWork, deps: Dependencies
) -> None:
    """A deprecated v1 command still on the topic: created as its v2 (the names dropped)."""
    create_data_service(cmd.upgraded(), uow, deps)


def submit_data_request(
    cmd: SubmitDataRequest, uow: DataServicesUnitOfWork, deps: Dependencies
) -> None:
    """Keep what the client wants of its subscription's data service, checked against the
    rules a create is checked against (the plan of the subscription included)."""
    subscription = uow.tx.get(uow.collections.subscriptions, cmd.subscription_id)
    if subscription is None:
        raise NotYetKnown("the subscription is not projected yet")
    criteria = validate_data_request(cmd, str(subscription.get("plan", "")))
    _reserve(uow, deps, cmd.subscription_id, speciality_of(cmd.speciality, criteria))
    speciality = speciality_code(cmd.speciality) if cmd.speciality else None
    now = rfc3339(deps.clock())
    uow.tx.put(
        uow.collections.requests,
        cmd.subscription_id,
        {
            "subscription_id": cmd.subscription_id,
            "client_code": subscription["client_code"],
            "dataset": cmd.dataset.model_copy(update={"criteria": criteria}).model_dump(),
            "cloud": cmd.target_cloud.model_dump(exclude_none=True),
            "speciality": speciality,
            "review_required": cmd.review_required,
            "submitted_at": now,
        },
    )
    uow.events.append(
        DataRequestSubmitted(
            subscription_id=cmd.subscription_id,
            client_code=subscription["client_code"],
            dataset_code=cmd.dataset.code,
            cloud_type=delivery_mode(cmd.target_cloud).value,
            speciality=speciality,
            submitted_at=now,
        )
    )


def _reserve(
    uow: DataServicesUnitOfWork, deps: Dependencies, subscription_id: str, speciality: str
) -> None:
    """Hold one free slot of `speciality` for the subscription until the buyer pays (or the
    reservation expires: ADR 0014 "Reservations"). Its reservation of an earlier request is
    kept (the deadline moves) when it fits the speciality, else moved. No slot free: refused
    `no_expert_capacity`, before the payment. A speciality nobody covers reserves nothing
    (the assignment refuses it, as before)."""
    now = deps.clock()
    until = now + deps.reservation
    own = [s for s in uow.read_slots(deps.slots_reserved_for(subscription_id)) if s is not None]
    for slot in own:
        expert = uow.experts.get(slot.expert_code)
        fits = expert is not None and expert.covers(speciality) and slot.number < expert.slots
        if fits and slot.free_to_reserve(subscription_id, now):
            slot.reserve(subscription_id, until, now)
            for other in own:
                if other is not slot:
                    other.unreserve(subscription_id)
            return
    for slot in own:
        slot.unreserve(subscription_id)  # another speciality, or no longer fitting: moved
    seen = deps.experts_of(speciality, subscription_id)
    if not seen:
        return
    ranked = rank_slots(seen, speciality, subscription_id)
    if not ranked:
        raise ExpertError(
            "no_expert_capacity",
            f"no expert of {speciality} has a free slot now: ask again later",
            field="speciality",
        )
    tried = ranked[:SLOTS_TRIED]
    for one, stored in zip(tried, uow.read_slots(tried), strict=True):
        code, number = one.rsplit(".", 1)
        expert = uow.experts.get(code)
        if expert is None or not expert.covers(speciality):
            continue
        slot = stored or ExpertSlot.free(code, int(number))
        if slot.number < expert.slots and slot.free_to_reserve(subscription_id, now):
            slot.reserve(subscription_id, until, now)
            if stored is None:
                uow.slots.add(slot)  # created by the commit: refused if another took it first
            return
    raise ExpertsBusy("the slots seen free were taken meanwhile")


def assign_expert(cmd: AssignExpert, uow: DataServicesUnitOfWork, deps: Dependencies) -> None:
    service = _load(uow, cmd.data_service_id)
    if cmd.expert_code:
        expert = _expert(uow, cmd.expert_code)
        service.ensure_assignable(expert)
        expert, slot = _free_slot(uow, deps, service, [expert.id])
    else:
        expert, slot = _free_slot(uow, deps, service, None)
    previous = service.assign(expert, slot, deps.clock())
    if previous is not None:
        _release(uow, deps, previous, service.id)


def _free_slot(
    uow: DataServicesUnitOfWork,
    deps: Dependencies,
    service: DataService,
    only: list[str] | None,
) -> tuple[Expert, ExpertSlot]:
    """The first ranked free slot of an expert of the service's speciality (of `only`, when
    named; never its current expert's), read inside the transaction with its expert: only
    the slots tried join its read set, and no expert document is written, so concurrent
    assignments conflict only when they pick the same slot. The slot reserved for the
    service's subscription is taken first, whatever else is full."""
    now = deps.clock()
    reserved = _reserved_slot(uow, deps, service, only)
    if reserved is not None:
        return reserved
    seen = [
        e
        for e in deps.experts_of(service.speciality, service.subscription_id)
        if e.code != service.expert_code and (only is None or e.code in only)
    ]
    ranked = rank_slots(seen, service.speciality, service.id)
    if not ranked:
        if only is not None:
            raise DataServiceError(
                "expert_over_capacity", "the expert has no free slot", field="expert_code"
            )
        raise ExpertError(
            "no_expert_available", f"no expert of {service.speciality} has a free slot"
        )
    tried = ranked[:SLOTS_TRIED]
    for one, stored in zip(tried, uow.read_slots(tried), strict=True):
        code, number = one.rsplit(".", 1)  # expert codes hold no "."
        expert = uow.experts.get(code)
        if expert is None or not expert.covers(service.speciality):
            continue
        slot = stored or ExpertSlot.free(code, int(number))
        if slot.number < expert.slots and slot.free_for(service.id, service.subscription_id, now):
            if stored is None:
                uow.slots.add(slot)  # created by the commit: refused if another took it first
            return expert, slot
    raise ExpertsBusy("the slots seen free were taken meanwhile")


def _reserved_slot(
    uow: DataServicesUnitOfWork,
    deps: Dependencies,
    service: DataService,
    only: list[str] | None,
) -> tuple[Expert, ExpertSlot] | None:
    """The slot the service's subscription reserved at its data request, when it still fits
    (free of services, of an expert of its speciality, not its current one): taking it
    converts the reservation (ExpertSlot.take). One that does not fit is released."""
    for slot in uow.read_slots(deps.slots_reserved_for(service.subscription_id)):
        if slot is None or slot.reserved_for != service.subscription_id:
            continue
        expert = uow.experts.get(slot.expert_code)
        fits = (
            expert is not None
            and expert.covers(service.speciality)
            and expert.id != service.expert_code
            and (only is None or expert.id in only)
            and slot.number < expert.slots
            and slot.data_service_id is None
        )
        if fits and expert is not None:
            return expert, slot
        slot.unreserve(service.subscription_id)
    return None


def prepare_dataset(cmd: PrepareDataset, uow: DataServicesUnitOfWork, deps: Dependencies) -> None:
    service = _load(uow, cmd.data_service_id)
    service.ensure_preparable()
    # delivery.DeliveryService.prepare resolved the dataset just before, for this very
    # command (the criteria of a service never change, so an expert assigned in between
    # does not matter); a header of another command is an older resolution.
    proposal = uow.tx.get(uow.collections.manifests, service.id)
    cause = uow.cause.id if uow.cause is not None else None
    if proposal is None or proposal.get("for_command") != cause:
        raise NotYetKnown("the dataset of this command is not resolved yet")
    if proposal.get("refused_reason"):
        # The target refused the probe write (a buyer's bucket without the grant): the
        # detail says what to grant.
        raise DataServiceError(
            str(proposal["refused_reason"]), str(proposal.get("refused_detail", "")),
            field="cloud.bucket",
        )  # fmt: skip
    service.prepare(
        ManifestSummary(**{k: proposal[k] for k in ManifestSummary.__dataclass_fields__}),
        deps.clock(),
    )


def start_data_service(
    cmd: StartDataService, uow: DataServicesUnitOfWork, deps: Dependencies
) -> None:
    """Deliver the prepared manifest; the domain refuses a start without an expert or a
    prepared dataset."""
    _load(uow, cmd.data_service_id).start(deps.clock())


def complete_delivery(
    cmd: CompleteDelivery, uow: DataServicesUnitOfWork, deps: Dependencies
) -> None:
    service = _load(uow, cmd.data_service_id)
    service.record_delivery(
        cmd.manifest_id,
        Delivery(
            objects=cmd.objects,
            bytes=cmd.bytes,
            manifest_uri=cmd.manifest_uri,
            checksums_uri=cmd.checksums_uri,
            delivered_at=rfc3339(deps.clock()),
            links_uri=cmd.links_uri,
            links_expire_at=cmd.links_expire_at,
            access_until=cmd.access_until,
        ),
        Where(cmd.target_type or service.mode.value, cmd.location, cmd.fetch_hint or "")
        if cmd.location
        else None,
    )


def fail_delivery(cmd: FailDelivery, uow: DataServicesUnitOfWork, deps: Dependencies) -> None:
    service = _load(uow, cmd.data_service_id)
    service.fail(cmd.manifest_id, cmd.reason, cmd.detail, deps.clock())
    _release_expert(uow, deps, service)


def finish_data_service(
    cmd: FinishDataService, uow: DataServicesUnitOfWork, deps: Dependencies
) -> None:
    service = _load(uow, cmd.data_service_id)
    service.finish(deps.clock())
    _release_expert(uow, deps, service)


def cancel_data_service(
    cmd: CancelDataService, uow: DataServicesUnitOfWork, deps: Dependencies
) -> None:
    service = _load(uow, cmd.data_service_id)
    service.cancel(cmd.reason, deps.clock())
    _release_expert(uow, deps, service)


def register_expert(cmd: RegisterExpert, uow: DataServicesUnitOfWork, deps: Dependencies) -> None:
    known = uow.experts.get(cmd.expert_code)
    if known is None:
        uow.experts.add(Expert.register(cmd, deps.clock()))
    else:
        known.update(cmd, uow.taken_slots(known))


def _load(uow: DataServicesUnitOfWork, data_service_id: str) -> DataService:
    service = uow.services.get(data_service_id)
    if service is None:
        raise NotYetKnown("the data service is not stored")
    return service


def _expert(uow: DataServicesUnitOfWork, code: str) -> Expert:
    expert = uow.experts.get(code)
    if expert is None:
        raise DataServiceError("unknown_expert", "no such expert", field="expert_code")
    return expert


def _release_expert(uow: DataServicesUnitOfWork, deps: Dependencies, service: DataService) -> None:
    if service.expert_code:
        _release(uow, deps, service.expert_code, service.id)


def _release(
    uow: DataServicesUnitOfWork, deps: Dependencies, expert_code: str, data_service_id: str
) -> None:
    """Free the expert's slot the service holds (or take it off the legacy list)."""
    held = [s for s in deps.slots_held_by(data_service_id) if s.startswith(f"{expert_code}.")]
    for slot in uow.read_slots(held):
        if slot is not None:
            slot.release(data_service_id)
    expert = uow.experts.get(expert_code) if not held else None
    if expert is None:
        return
    if data_service_id in expert.assignments:
        expert.release(data_service_id)
    else:
        # Moved from the list into a slot since the query (tools/migrate_expert_slots.py),
        # or released already: every slot of the expert is read, a rare case.
        for slot in uow.read_slots([slot_id(expert_code, n) for n in range(expert.capacity)]):
            if slot is not None:
                slot.release(data_service_id)


# -- the expert's work: retiring, exclusions, approval (review.py, revisions.py) -------------
def retire_expert(cmd: RetireExpert, uow: DataServicesUnitOfWork, deps: Dependencies) -> None:
    """Never assigned again; the services assigned keep it. Retiring twice: nothing."""
    expert = uow.experts.get(cmd.expert_code)
    if expert is None:
        raise DataServiceError("unknown_expert", "no such expert", field="expert_code")
    if not expert.retired:
        expert.retire(deps.clock(), len(uow.taken_slots(expert)))


def exclude_images(cmd: ExcludeImages, uow: DataServicesUnitOfWork, deps: Dependencies) -> None:
    """Swap the prepared manifest for the version revisions.ReviewService wrote for this very
    command (or refuse with the rule it found broken)."""
    service = _load(uow, cmd.data_service_id)
    service.ensure_revisable(cmd.expert_code)
    cause = uow.cause.id if uow.cause is not None else ""
    header = uow.tx.get(uow.collections.manifests, revision_doc_id(service.id, cause))
    if header is None:
        raise NotYetKnown("the revision of this command is not written yet")
    refused = header.get("refused")
    if refused:
        raise DataServiceError(refused["reason"], refused["detail"], field=refused.get("field"))
    if header.get("previous_manifest_id") != (service.manifest and service.manifest.manifest_id):
        raise NotYetKnown("the revision was written over another version: written again")
    service.revise(
        cmd.expert_code,
        ManifestSummary(**{k: header[k] for k in ManifestSummary.__dataclass_fields__}),
        cmd.reason,
        int(header["excluded"]),
        deps.clock(),
    )


def approve_dataset(cmd: ApproveDataset, uow: DataServicesUnitOfWork, deps: Dependencies) -> None:
    _load(uow, cmd.data_service_id).approve(cmd.expert_code, deps.clock())


HANDLERS: Mapping[type[Message], MessageHandler[DataServicesUnitOfWork, Any]] = {
    CreateDataServiceV2: create_data_service,
    CreateDataService: create_data_service_v1,
    SubmitDataRequest: submit_data_request,
    AssignExpert: assign_expert,
    RegisterExpert: register_expert,
    RetireExpert: retire_expert,
    ExcludeImages: Consumer(ReviewService.exclude),
    ApproveDataset: Consumer(ReviewService.approve),
    PrepareDataset: Consumer(DeliveryService.prepare),
    StartDataService: Consumer(DeliveryService.start),
    DeliverChunk: Consumer(DeliveryService.deliver_chunk),
    RevokeChunk: Consumer(DeliveryService.revoke_chunk),
    FinishDataService: Consumer(DeliveryService.end),
    CancelDataService: Consumer(DeliveryService.end),
    ImageAnonymized: Consumer(Projections.project_image),
    SubscriptionCreated: Consumer(Projections.project_subscription),
}
# Run by the processor when delivery.py hands it a command: those of its Consumers above, and
# the internal ones it records the end of a delivery with (no function: never on a topic).
IN_PROCESS_HANDLERS: Mapping[type[Message], MessageHandler[DataServicesUnitOfWork, Any]] = {
    PrepareDataset: prepare_dataset,
    StartDataService: start_data_service,
    ExcludeImages: exclude_images,
    ApproveDataset: approve_dataset,
    FinishDataService: finish_data_service,
    CancelDataService: cancel_data_service,
    CompleteDelivery: complete_delivery,
    FailDelivery: fail_delivery,
}
