"""A saga as data: its steps, what each sends, what settles it, how it is undone.

The engine (engine.py) reads nothing but these types, so a plan whose process differs (say
ENTERPRISE with one more step) is a new SagaDefinition, never a change of the engine.
Steps form a graph through `after`: steps whose predecessors are done run in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal

from shared.domain.messages import Command, CommandRejected, Event

# What a saga knows: ids and codes only (a payment id, a data service id), never personal
# data, since its state is shown to operators.
Facts = Mapping[str, str]
# done: the step is settled; failed: the step failed, compensate; retryable: a failed
# attempt the step outlives (a declined card: the client may pay again); noted: progress.
Outcome = Literal["done", "failed", "retryable", "noted"]


# A command is built from the saga's facts alone: it carries ids and codes, which the saga
# knows, so building it reads no store (the engine does no I/O).
CommandFactory = Callable[[Facts], Command]


def _no_facts(event: Any) -> dict[str, str]:
    return {}


def _always(event: Any, facts: Facts) -> bool:
    return True


def event_reason(event: Any) -> str:
    """The failure code an event carries, or its type's short name."""
    return str(getattr(event, "reason", "") or type(event).__name__)


@dataclass(frozen=True)
class Reply:
    """An event that answers a step."""

    event: type[Event]
    outcome: Outcome
    # Facts the event teaches the saga (ids only).
    facts: Callable[[Any], dict[str, str]] = _no_facts
    # Whether the event is about this step (two steps may await the same type).
    matches: Callable[[Any, Facts], bool] = _always


@dataclass(frozen=True)
class Action:
    """A command the saga sends and the events that answer it. The receiving context's
    CommandRejected is always an answer: a failure, unless its reason says that what the
    action wants is already the case (`satisfied_by`, e.g. the subscription is cancelled)."""

    name: str
    command: CommandFactory
    replies: tuple[Reply, ...]
    rejection: type[CommandRejected]
    satisfied_by: frozenset[str] = frozenset()
    # Sent again with the same id when nothing answered: the receiver's inbox turns a
    # duplicate into a replay of its first answer.
    resend_after: timedelta = timedelta(minutes=2)
    # Sends of a compensation (resends included) before it is declared stuck.
    max_attempts: int = 4


@dataclass(frozen=True)
class Step:
    name: str
    after: tuple[str, ...] = ()
    # The step sends this command; without one, it waits for `awaits` (an event of someone
    # else's doing, such as the client's payment), routed to the saga by key.
    action: Action | None = None
    awaits: tuple[Reply, ...] = ()
    compensation: Action | None = None
    timeout: timedelta = timedelta(minutes=10)
    # Retryable failures (a declined card) the step outlives before it fails; None: any.
    max_failures: int | None = None
    # Done as the saga starts: the fact that started it (the subscription was created).
    done_on_start: bool = False

    @property
    def replies(self) -> tuple[Reply, ...]:
        return self.action.replies if self.action else self.awaits


@dataclass(frozen=True)
class Abort:
    """An event from outside that ends the saga, such as the client cancelling."""

    event: type[Event]
    reason: str
    # Steps the event itself undid: their compensation is not sent.
    undoes: tuple[str, ...] = ()
    matches: Callable[[Any, Facts], bool] = _always


@dataclass(frozen=True)
class SagaDefinition:
    name: str
    steps: tuple[Step, ...]
    deadline: timedelta
    aborts: tuple[Abort, ...] = ()
    # Facts that route events by key: (fact name, event field). An event whose field holds
    # the value of the fact belongs to the saga (a data service's failure, found by its id).
    routes: tuple[tuple[str, str], ...] = (("subscription_id", "subscription_id"),)
    by_name: dict[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Step] = {}
        for step in self.steps:
            if step.name in by_name:
                raise ValueError(f"{self.name}: step {step.name} is declared twice")
            unknown = [name for name in step.after if name not in by_name]
            if unknown:
                raise ValueError(f"{self.name}: {step.name} comes after unknown {unknown}")
            if step.action is None and not step.awaits and not step.done_on_start:
                raise ValueError(f"{self.name}: {step.name} neither sends nor waits")
            by_name[step.name] = step
        object.__setattr__(self, "by_name", by_name)

    def step(self, name: str) -> Step:
        return self.by_name[name]

    def extended(
        self,
        name: str,
        *steps: Step,
        before: Mapping[str, tuple[str, ...]] | None = None,
        deadline: timedelta | None = None,
        routes: tuple[tuple[str, str], ...] = (),
        aborts: tuple[Abort, ...] = (),
    ) -> SagaDefinition:
        """This definition with more steps; `before` makes existing steps wait for new
        ones too ({"delivery": ("holdout",)}: the delivery also waits for the holdout)."""
        waits = before or {}
        kept = tuple(
            replace(s, after=s.after + waits.get(s.name, ())) if s.name in waits else s
            for s in self.steps
        )
        # New steps go before the first step that now waits for one of them.
        ordered = list(kept)
        for step in steps:
            waiting = [i for i, s in enumerate(ordered) if step.name in s.after]
            ordered.insert(waiting[0] if waiting else len(ordered), step)
        return SagaDefinition(
            name=name,
            steps=tuple(ordered),
            deadline=deadline or self.deadline,
            aborts=self.aborts + aborts,
            routes=self.routes + routes,
        )
