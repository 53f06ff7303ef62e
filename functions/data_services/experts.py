"""The expert registry's aggregate, its capacity as slots, and the choice of a free slot.

An expert of capacity c owns the slots `<expert_code>.<n>`, n < c, each a document of its
own that holds the one service assigned to it (docs/decisions/0014-expert-capacity.md): an
assignment writes a slot, never the expert, so concurrent assignments conflict only when
they pick the same slot, and an expert's load is the count of its taken slots. Pure
Python, no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions.data_services.messages import ExpertRegistered, ExpertRetired, RegisterExpert
from shared.domain.aggregate import Aggregate
from shared.domain.clock import rfc3339
from shared.domain.emails import is_email
from shared.domain.errors import PermanentError

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class ExpertError(PermanentError):
    """A rule of the registry or of an assignment; `reason` is a stable code."""


def speciality_code(raw: str) -> str:
    return raw.strip().upper().replace(" ", "_")


@dataclass(kw_only=True, eq=False)
class Expert(Aggregate):
    first_names: str
    last_names: str
    username: str
    national_id: str
    email: str
    specialities: list[str]
    capacity: int
    registered_at: str
    # Services assigned before the slots (ADR 0014), still on the expert's document until
    # tools/migrate_expert_slots.py moves them into slots: they fill its last slots.
    assignments: list[str] = field(default_factory=list)
    # A retired expert is never assigned again; its services keep it until they end or
    # are reassigned. Registering it again reinstates it.
    retired_at: str | None = None

    @classmethod
    def register(cls, command: RegisterExpert, now: datetime) -> Expert:
        expert = cls(id=command.expert_code, registered_at=rfc3339(now), **_fields(command))
        expert._announce()
        return expert

    def update(self, command: RegisterExpert, taken: Collection[int]) -> None:
        """Registering a known expert again updates it; its assignments stay. `taken`: the
        numbers of its slots a service holds, read with it. A capacity is refused below the
        load, and below a slot still held (the slots beyond it are never taken again, so
        one held there would count beyond the capacity)."""
        values = _fields(command)
        if values["capacity"] < len(self.assignments) + len(taken):
            raise ExpertError(
                "capacity_below_load", "the expert has more services than that", field="capacity"
            )
        if any(n >= values["capacity"] - len(self.assignments) for n in taken):
            raise ExpertError(
                "capacity_below_load",
                "a service holds a slot beyond that: lower it once the service ends",
                field="capacity",
            )
        changed = any(getattr(self, name) != value for name, value in values.items())
        for name, value in values.items():
            setattr(self, name, value)
        if self.retired_at is not None:
            self.retired_at = None  # registered again: reinstated
            changed = True
        if changed:
            self._announce()

    def retire(self, now: datetime, taken: int) -> None:
        """Never assigned again; the services assigned (`taken` slots and the legacy list)
        keep it. A second retire: nothing."""
        if self.retired_at is not None:
            return
        self.retired_at = rfc3339(now)
        load = len(self.assignments) + taken
        self.record(
            ExpertRetired(expert_code=self.id, assignments=load, retired_at=self.retired_at)
        )

    @property
    def retired(self) -> bool:
        return self.retired_at is not None

    def _announce(self) -> None:
        self.record(
            ExpertRegistered(
                expert_code=self.id,
                specialities=self.specialities,
                capacity=self.capacity,
                registered_at=self.registered_at,
            )
        )

    @property
    def slots(self) -> int:
        """How many of its slots may be taken: the legacy list fills the last ones."""
        return max(0, self.capacity - len(self.assignments))

    def covers(self, speciality: str) -> bool:
        return not self.retired and speciality in self.specialities

    def check_assignable(self, speciality: str) -> None:
        if self.retired:
            raise ExpertError("expert_retired", "the expert is retired", field="expert_code")
        if not self.covers(speciality):
            raise ExpertError(
                "expert_speciality_mismatch", f"the service needs {speciality}", field="expert_code"
            )

    def take(
        self,
        slot: ExpertSlot,
        data_service_id: str,
        speciality: str,
        now: datetime,
        subscription_id: str | None = None,
    ) -> None:
        """`slot` (read with the expert) for the service: one of its slots, free (or held
        for the service's subscription) or the service's own already (a redelivery), within
        its capacity."""
        self.check_assignable(speciality)
        if slot.expert_code != self.id:
            raise ValueError("a slot of another expert")
        if slot.number >= self.slots or not slot.free_for(data_service_id, subscription_id, now):
            raise ExpertError(
                "expert_over_capacity", "the expert has no free slot", field="expert_code"
            )
        slot.take(data_service_id, speciality, now, subscription_id)

    def unlist(self) -> list[str]:
        """Empty the legacy list, whose services move into slots (the migration's)."""
        listed, self.assignments = self.assignments, []
        self._dirty = self._dirty or bool(listed)
        return listed

    def release(self, data_service_id: str) -> None:
        """A service of the legacy list ends or moves (one in a slot frees the slot)."""
        if data_service_id in self.assignments:
            self.assignments.remove(data_service_id)
            self._dirty = True

    _dirty: bool = field(default=False, init=False, repr=False)

    @property
    def has_changes(self) -> bool:
        return self._dirty or super().has_changes


def _fields(command: RegisterExpert) -> dict[str, Any]:
    if not _CODE.match(command.expert_code):
        raise ExpertError(
            "invalid_expert_code", "1-32 letters, digits, _ or -", field="expert_code"
        )
    if not is_email(command.email):
        raise ExpertError("invalid_email", "not an email address", field="email")
    return {
        "first_names": command.first_names,
        "last_names": command.last_names,
        "username": command.username.lower(),
        "national_id": command.national_id.upper(),
        "email": command.email.lower(),
        "specialities": sorted({speciality_code(s) for s in command.specialities}),
        "capacity": command.capacity,
    }


def slot_id(expert_code: str, number: int) -> str:
    return f"{expert_code}.{number}"


@dataclass(kw_only=True, eq=False)
class ExpertSlot(Aggregate):
    """One slot of an expert (id `<expert_code>.<number>`), held by at most one service.
    A free slot is a document that holds no service, or no document at all (never taken).

    A data request reserves a free slot for its subscription until `reserved_until` (the time
    the buyer has to pay, ADR 0014 "Reservations"): until then the slot is free only for the
    services of that subscription; after it, for anyone. A reservation is no load."""

    expert_code: str
    number: int
    data_service_id: str | None = None
    speciality: str | None = None
    taken_at: str | None = None
    reserved_for: str | None = None  # a subscription id
    reserved_until: str | None = None
    _dirty: bool = field(default=False, init=False, repr=False)

    @classmethod
    def free(cls, expert_code: str, number: int) -> ExpertSlot:
        return cls(id=slot_id(expert_code, number), expert_code=expert_code, number=number)

    def reserved_against(self, subscription_id: str | None, now: datetime) -> bool:
        """Held at `now` by a reservation of another subscription."""
        return self.reserved_for not in (None, subscription_id) and (
            self.reserved_until or ""
        ) > rfc3339(now)

    def free_for(
        self, data_service_id: str, subscription_id: str | None = None, now: datetime | None = None
    ) -> bool:
        if self.data_service_id == data_service_id:
            return True
        if self.data_service_id is not None:
            return False
        return now is None or not self.reserved_against(subscription_id, now)

    def take(
        self,
        data_service_id: str,
        speciality: str,
        now: datetime,
        subscription_id: str | None = None,
    ) -> None:
        """For the service; a reservation it held (its subscription's, or an expired one)
        ends: converted into the assignment."""
        if self.data_service_id == data_service_id:
            return
        if not self.free_for(data_service_id, subscription_id, now):
            raise ExpertError("expert_over_capacity", "the slot is taken", field="expert_code")
        self.data_service_id, self.speciality = data_service_id, speciality
        self.taken_at = rfc3339(now)
        self.reserved_for = self.reserved_until = None
        self._dirty = True

    def free_to_reserve(self, subscription_id: str, now: datetime) -> bool:
        return self.data_service_id is None and not self.reserved_against(subscription_id, now)

    def reserve(self, subscription_id: str, until: datetime, now: datetime) -> None:
        """Held for the subscription until `until` (again: the deadline moves)."""
        if not self.free_to_reserve(subscription_id, now):
            raise ExpertError("no_expert_capacity", "the slot is taken", field="speciality")
        self.reserved_for, self.reserved_until = subscription_id, rfc3339(until)
        self._dirty = True

    def unreserve(self, subscription_id: str) -> None:
        if self.reserved_for == subscription_id:
            self.reserved_for = self.reserved_until = None
            self._dirty = True

    def release(self, data_service_id: str) -> None:
        if self.data_service_id == data_service_id:
            self.data_service_id = self.speciality = self.taken_at = None
            self._dirty = True

    @property
    def has_changes(self) -> bool:
        return self._dirty or super().has_changes


@dataclass(frozen=True)
class ExpertLoad:
    """What queries outside the transaction saw of an expert and its slots: enough to rank
    the free slots, not to decide (the assignment reads the chosen ones inside it)."""

    code: str
    specialities: tuple[str, ...]
    capacity: int
    taken: frozenset[int] = frozenset()  # the numbers of its slots a service holds
    legacy: int = 0  # services of its legacy list
    retired: bool = False
    # The numbers of its slots another subscription's unexpired reservation holds (read only
    # when asked for: expert_slots.experts_of with a clock).
    reserved: frozenset[int] = frozenset()

    def free_slots(self, speciality: str) -> list[str]:
        if self.retired or speciality not in self.specialities:
            return []
        slots = range(max(0, self.capacity - self.legacy))
        held = self.taken | self.reserved
        return [slot_id(self.code, n) for n in slots if n not in held]


def free_slots(seen: Iterable[ExpertLoad], speciality: str) -> list[str]:
    return [slot for expert in seen for slot in expert.free_slots(speciality)]


def rank_slots(seen: Iterable[ExpertLoad], speciality: str, key: str) -> list[str]:
    """The free slots of the experts of `speciality`, in an order derived from `key` (the
    service id, or the subscription id of a reservation; rendezvous hashing): concurrent
    assignments pick different slots, spread over the experts in proportion to their free
    slots (the least loaded get the most), and a retry ranks them the same way."""

    def spread(slot: str) -> str:
        return hashlib.sha256(f"{key}/{slot}".encode()).hexdigest()

    return sorted(free_slots(seen, speciality), key=spread)
