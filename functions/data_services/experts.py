"""The expert registry's aggregate and the choice of an expert by speciality and load.

An expert document holds the services assigned to it: it is the one writer of its own
load, so two services racing for an expert's last free place conflict on its version and
one of them is decided again. Pure Python, no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
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
    assignments: list[str] = field(default_factory=list)
    # A retired expert is never assigned again; its services keep it until they end or
    # are reassigned. Registering it again reinstates it.
    retired_at: str | None = None

    @classmethod
    def register(cls, command: RegisterExpert, now: datetime) -> Expert:
        expert = cls(id=command.expert_code, registered_at=rfc3339(now), **_fields(command))
        expert._announce()
        return expert

    def update(self, command: RegisterExpert) -> None:
        """Registering a known expert again updates it; its assignments stay."""
        values = _fields(command)
        if values["capacity"] < len(self.assignments):
            raise ExpertError(
                "capacity_below_load", "the expert has more services than that", field="capacity"
            )
        changed = any(getattr(self, name) != value for name, value in values.items())
        for name, value in values.items():
            setattr(self, name, value)
        if self.retired_at is not None:
            self.retired_at = None  # registered again: reinstated
            changed = True
        if changed:
            self._announce()

    def retire(self, now: datetime) -> None:
        """Never assigned again; the services assigned keep it. A second retire: nothing."""
        if self.retired_at is not None:
            return
        self.retired_at = rfc3339(now)
        self.record(
            ExpertRetired(expert_code=self.id, assignments=self.load, retired_at=self.retired_at)
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
    def load(self) -> int:
        return len(self.assignments)

    @property
    def has_room(self) -> bool:
        return not self.retired and self.load < self.capacity

    def covers(self, speciality: str) -> bool:
        return not self.retired and speciality in self.specialities

    def take(self, data_service_id: str, speciality: str) -> None:
        if self.retired:
            raise ExpertError("expert_retired", "the expert is retired", field="expert_code")
        if not self.covers(speciality):
            raise ExpertError(
                "expert_speciality_mismatch", f"the service needs {speciality}", field="expert_code"
            )
        if data_service_id in self.assignments:
            return
        if not self.has_room:
            raise ExpertError(
                "expert_over_capacity", "the expert has no free place", field="expert_code"
            )
        self.assignments.append(data_service_id)
        # The load is part of the document: a change must be saved even with no event.
        self._dirty = True

    def release(self, data_service_id: str) -> None:
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


@dataclass(frozen=True)
class ExpertLoad:
    """What a query outside the transaction saw of an expert: enough to rank experts, not to
    decide (the assignment reads the chosen expert again inside its transaction)."""

    code: str
    specialities: tuple[str, ...]
    load: int
    capacity: int
    retired: bool = False


LOAD_BAND = 0.25  # experts whose load differs by less than a quarter of capacity are equals


def rank_experts(seen: Iterable[ExpertLoad], speciality: str, data_service_id: str) -> list[str]:
    """The codes of the experts of `speciality` that had a free place: the least loaded (by
    quarter of capacity) first; among equals, an order derived from the service id
    (rendezvous hashing). So concurrent assignments spread over equally loaded experts instead
    of all contending for the one document of the least loaded, and a retry of the same
    service ranks them the same way."""
    able = [
        e for e in seen if not e.retired and speciality in e.specialities and e.load < e.capacity
    ]

    def key(e: ExpertLoad) -> tuple[int, str]:
        band = int(e.load / e.capacity / LOAD_BAND)
        spread = hashlib.sha256(f"{data_service_id}/{e.code}".encode()).hexdigest()
        return band, spread

    return [e.code for e in sorted(able, key=key)]
