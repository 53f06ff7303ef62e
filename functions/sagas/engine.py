"""How a definition drives a saga: advance, compensate in reverse order, deadlines, stuck.

The engine decides; it does no I/O. Every command it sends has an id derived from the saga,
the phase, the step and the attempt, and carries the saga's correlation id, so a resend is
the same command (the receiver's inbox answers it with its first reply) and every message
of the saga can be traced to the request that started it. Rules that hold for any
definition:

- A step starts when every step it comes `after` is done; steps ready together run in
  parallel. The saga completes when every step is done. A retryable failure (a declined
  card) is logged; the step fails at its `max_failures`.
- When a step fails (its failure event, its context's rejection, a dead letter, its
  deadline, the saga's deadline, or an abort from outside), steps not started are skipped
  and the done steps are compensated one by one in the reverse order they were done.
  A command still in flight is waited for first (up to its deadline): if it succeeds
  late, it is compensated like the others, in its place in the order.
- A success that arrives after its step was given up (a timed-out command that did take
  effect) makes the step done again and, if the saga had finished compensating, reopens it;
  a step that times out resends its command once more so that such an answer comes.
- A compensation that fails is retried after `resend_after` with a new attempt id; one that
  gets no answer is resent with the same id; after `max_attempts` sends the step and the
  saga are STUCK, announced by SagaStuck, until an operator retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.sagas.definition import (
    Abort,
    Action,
    Facts,
    Outcome,
    SagaDefinition,
    Step,
    event_reason,
)
from functions.sagas.domain import SAGA, Saga, Sent, StepState
from functions.sagas.messages import (
    NAMES,
    LogStatus,
    SagaCompensated,
    SagaCompleted,
    SagaStatus,
    SagaStuck,
    StepStatus,
)
from shared.domain.clock import rfc3339
from shared.domain.errors import PermanentError
from shared.domain.messages import Command, CommandRejected, Event
from shared.ports.envelope import Envelope, derived_id

FORWARD = "forward"
COMPENSATION = "compensation"
STEP_DEADLINE = "step_deadline_exceeded"
SAGA_DEADLINE = "saga_deadline_exceeded"


class SagaError(PermanentError):
    """A request the saga refuses (an operator retry of a saga that is not stuck)."""


@dataclass(frozen=True)
class Cause:
    """The message the saga acts on: its id and type go into the log."""

    id: str
    type: str


@dataclass(frozen=True)
class Route:
    """How an event reached its saga: as the reply to one of its commands (step, phase and
    command id known), or by a key such as the subscription id (all None)."""

    step: str | None = None
    phase: str | None = None
    command_id: str | None = None


def command_id(saga_id: str, phase: str, step: str, attempt: int) -> str:
    return derived_id("saga-command", saga_id, phase, step, str(attempt))


def commands_topic(command: Command) -> str:
    """Where a context takes its commands (the naming rule of shared/service/context.py)."""
    return f"{command.context().replace('_', '-')}-commands"


def command_route(command_id: str) -> str:
    return f"command:{command_id}"


def key_route(field: str, value: str) -> str:
    return f"{field}:{value}"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Engine:
    """Drives sagas by their definitions; each call is one turn on one saga."""

    def __init__(self, definitions: Mapping[str, SagaDefinition]) -> None:
        self.definitions = definitions

    def start(
        self,
        definition: SagaDefinition,
        *,
        saga_id: str,
        subscription_id: str,
        client_code: str,
        correlation_id: str,
        facts: Facts,
        cause: Cause,
        now: datetime,
    ) -> Saga:
        saga = Saga(
            id=saga_id,
            definition=definition.name,
            subscription_id=subscription_id,
            client_code=client_code,
            correlation_id=correlation_id,
            status=SagaStatus.RUNNING,
            started_at=rfc3339(now),
            deadline_at=rfc3339(now + definition.deadline),
            steps={step.name: StepState(step.name) for step in definition.steps},
            facts={
                "saga_id": saga_id,
                "subscription_id": subscription_id,
                "client_code": client_code,
                **facts,
            },
        )
        _Turn(saga, definition, cause, now).start()
        return saga

    def on_event(self, saga: Saga, event: Event, route: Route, cause: Cause, now: datetime) -> None:
        self._turn(saga, cause, now).on_event(event, route)

    def wake(self, saga: Saga, cause: Cause, now: datetime) -> None:
        """The tick: deadlines passed and resends due."""
        self._turn(saga, cause, now).wake()

    def retry(self, saga: Saga, cause: Cause, now: datetime) -> None:
        """An operator's retry of the stuck compensations (new attempt ids, fresh budget)."""
        if saga.status is not SagaStatus.STUCK:
            raise SagaError("saga_not_stuck", f"the saga is {saga.status.value}")
        self._turn(saga, cause, now).retry()

    def _turn(self, saga: Saga, cause: Cause, now: datetime) -> _Turn:
        return _Turn(saga, self.definitions[saga.definition], cause, now)


class _Turn:
    """One message's worth of decisions on one saga."""

    def __init__(
        self,
        saga: Saga,
        definition: SagaDefinition,
        cause: Cause,
        now: datetime,
    ) -> None:
        self.saga = saga
        self.definition = definition
        self.cause = cause
        self.now = now

    def log(self, step: str, phase: str, status: LogStatus, **details: Any) -> None:
        self.saga.log(self.now, step, phase, status, message_id=self.cause.id, **details)

    def received(self, step: str, phase: str) -> None:
        self.log(step, phase, LogStatus.RECEIVED, message_type=self.cause.type)

    # -- entry points ---------------------------------------------------------------------
    def start(self) -> None:
        saga = self.saga
        self.received(SAGA, SAGA)
        self._route_facts(saga.facts)
        for step in self.definition.steps:
            if step.done_on_start:
                self._done(saga.state(step.name))
                self.log(step.name, FORWARD, LogStatus.PROCESSED, reason="done")
        self._advance()
        self._schedule()

    def on_event(self, event: Event, route: Route) -> None:
        if route.phase is not None and route.step is not None:
            step = self.definition.step(route.step)
            self.received(step.name, route.phase)
            if route.phase == COMPENSATION:
                self._compensation_reply(step, event, route)
            else:
                self._forward_reply(step, event)
        else:
            abort = self._abort_for(event)
            awaiting = None if abort else self._step_expecting(event)
            if awaiting is not None:
                self.received(awaiting.name, FORWARD)
                self._forward_reply(awaiting, event)
            else:
                self.received(SAGA, SAGA)
                if abort is not None:
                    self._abort(abort)
        self._schedule()

    def wake(self) -> None:
        saga, now = self.saga, self.now
        self.received(SAGA, SAGA)
        if saga.status is SagaStatus.RUNNING and now >= _at(saga.deadline_at):
            self._fail(SAGA, SAGA_DEADLINE)
        for step in self.definition.steps:
            state = saga.state(step.name)
            if state.status is StepStatus.ACTIVE:
                if state.deadline_at and now >= _at(state.deadline_at):
                    if step.action and state.forward:
                        # A last resend: if the command took effect, the receiver's inbox
                        # answers it again, the late success reopens the saga, and it is
                        # undone; if it never arrived, it takes effect now, with the same.
                        self._resend(step, step.action, state.forward, FORWARD)
                    self._step_failed(step, STEP_DEADLINE)
                elif step.action and state.forward and now >= _at(state.forward.resend_at):
                    self._resend(step, step.action, state.forward, FORWARD)
            elif state.status is StepStatus.COMPENSATING and step.compensation:
                sent = state.compensation
                if sent is not None and now >= _at(sent.resend_at):
                    self._retry_compensation(step, step.compensation, state)
        self._compensate()
        self._schedule()

    def retry(self) -> None:
        saga = self.saga
        self.received(SAGA, SAGA)
        saga.status = SagaStatus.COMPENSATING
        for state in saga.in_status(StepStatus.STUCK):
            step = self.definition.step(state.name)
            assert step.compensation is not None and state.compensation is not None
            state.status = StepStatus.COMPENSATING
            state.compensation_sends = 0
            state.compensation.refused = True
            self._retry_compensation(step, step.compensation, state)
        self._schedule()

    # -- forward --------------------------------------------------------------------------
    def _advance(self) -> None:
        saga = self.saga
        if saga.status is not SagaStatus.RUNNING:
            self._compensate()
            return
        for step in self.definition.steps:
            state = saga.state(step.name)
            ready = all(saga.state(name).status is StepStatus.DONE for name in step.after)
            if state.status is StepStatus.WAITING and ready:
                self._activate(step, state)
        if all(state.status is StepStatus.DONE for state in saga.steps.values()):
            saga.status = SagaStatus.COMPLETED
            saga.ended_at = rfc3339(self.now)
            self.log(SAGA, SAGA, LogStatus.PROCESSED, reason="completed")
            saga.record(
                SagaCompleted(
                    saga_id=saga.id,
                    definition=saga.definition,
                    subscription_id=saga.subscription_id,
                    client_code=saga.client_code,
                    facts=dict(saga.facts),
                    completed_at=saga.ended_at,
                )
            )

    def _activate(self, step: Step, state: StepState) -> None:
        state.status = StepStatus.ACTIVE
        state.started_at = rfc3339(self.now)
        state.deadline_at = rfc3339(self.now + step.timeout)
        if step.action is None:
            self.log(step.name, FORWARD, LogStatus.PROCESSED, reason="awaiting")
            return
        state.forward = self._send(step, step.action, FORWARD, 1)
        self.log(
            step.name, FORWARD, LogStatus.PROCESSED,
            command_ids=(state.forward.command_id,), reason="sent",
        )  # fmt: skip

    def _forward_reply(self, step: Step, event: Event) -> None:
        saga = self.saga
        state = saga.state(step.name)
        outcome, facts, reason = _judge(step.action, step, event, saga.facts)
        if outcome == "noted":
            self._learn(facts)
            return
        if outcome == "retryable":
            self.log(step.name, FORWARD, LogStatus.FAILED, reason=reason)
            if state.status is StepStatus.ACTIVE:
                state.failures += 1
                if step.max_failures is not None and state.failures >= step.max_failures:
                    self._step_failed(step, reason)
            return
        if outcome == "done":
            if state.status is StepStatus.ACTIVE:
                late = False
            elif state.status in (StepStatus.FAILED, StepStatus.SKIPPED):
                late = True  # given up on, but it took effect: it must be undone too
            else:
                return  # a duplicate of an answer already taken
            self._learn(facts)
            self._done(state)
            self.log(
                step.name, FORWARD, LogStatus.PROCESSED, reason="done_late" if late else "done"
            )
            if late and saga.status in (SagaStatus.COMPENSATED, SagaStatus.COMPLETED):
                saga.status = SagaStatus.COMPENSATING
                saga.ended_at = None
            self._advance()
            return
        if state.status is StepStatus.ACTIVE:
            self._step_failed(step, reason)

    def _step_failed(self, step: Step, reason: str) -> None:
        state = self.saga.state(step.name)
        state.status = StepStatus.FAILED
        state.reason = reason
        state.ended_at = rfc3339(self.now)
        if self.saga.status is SagaStatus.RUNNING:
            self._fail(step.name, reason)
        else:
            # A branch in flight when its sibling failed: nothing of it to undo.
            self.log(step.name, FORWARD, LogStatus.FAILED, reason=reason)
            self._compensate()

    def _fail(self, step_name: str, reason: str) -> None:
        saga = self.saga
        if saga.status is not SagaStatus.RUNNING:
            return
        saga.status = SagaStatus.COMPENSATING
        saga.failed_step = step_name
        saga.failure = reason
        self.log(step_name, SAGA if step_name == SAGA else FORWARD, LogStatus.FAILED, reason=reason)
        for step in self.definition.steps:
            state = saga.state(step.name)
            if state.status is StepStatus.WAITING:
                state.status = StepStatus.SKIPPED
            elif state.status is StepStatus.ACTIVE and step.action is None:
                # Nobody waits for the client's payment any more; if it comes, it is refunded.
                state.status = StepStatus.FAILED
                state.reason = "abandoned"
        self._compensate()

    # -- compensation ---------------------------------------------------------------------
    def _compensate(self) -> None:
        saga = self.saga
        if saga.status is not SagaStatus.COMPENSATING:
            return
        if saga.in_status(StepStatus.ACTIVE, StepStatus.COMPENSATING, StepStatus.STUCK):
            return  # a command in flight decides first; compensations go one at a time
        done = sorted(saga.in_status(StepStatus.DONE), key=lambda s: s.done_order or 0)
        for state in reversed(done):
            step = self.definition.step(state.name)
            if step.compensation is None:
                state.status = StepStatus.COMPENSATED
                self.log(step.name, COMPENSATION, LogStatus.PROCESSED, reason="nothing_to_undo")
                continue
            state.status = StepStatus.COMPENSATING
            state.compensation_sends = 1
            attempt = state.compensation.attempt + 1 if state.compensation else 1
            state.compensation = self._send(step, step.compensation, COMPENSATION, attempt)
            self.log(
                step.name, COMPENSATION, LogStatus.PROCESSED,
                command_ids=(state.compensation.command_id,), reason="sent",
            )  # fmt: skip
            return
        saga.status = SagaStatus.COMPENSATED
        saga.ended_at = rfc3339(self.now)
        self.log(SAGA, SAGA, LogStatus.PROCESSED, reason="compensated")
        saga.record(
            SagaCompensated(
                saga_id=saga.id,
                definition=saga.definition,
                subscription_id=saga.subscription_id,
                client_code=saga.client_code,
                failed_step=saga.failed_step or SAGA,
                reason=saga.failure or "unknown",
                compensated_at=saga.ended_at,
                undone=self._undone(),
            )
        )

    def _undone(self) -> list[str]:
        """The steps whose effect was undone (by their compensation, or by the abort that
        ended the saga), in the order undone: the reverse of the order they were done."""
        undone = [
            state
            for state in self.saga.in_status(StepStatus.COMPENSATED)
            if state.done_order is not None and self.definition.step(state.name).compensation
        ]
        return [s.name for s in sorted(undone, key=lambda s: -(s.done_order or 0))]

    def _compensation_reply(self, step: Step, event: Event, route: Route) -> None:
        saga = self.saga
        action = step.compensation
        state = saga.state(step.name)
        if action is None or state.status not in (StepStatus.COMPENSATING, StepStatus.STUCK):
            return  # a duplicate, or an answer to an attempt already settled
        outcome, _, reason = _judge(action, step, event, saga.facts)
        if outcome == "noted":
            return
        if outcome == "done":
            state.status = StepStatus.COMPENSATED
            state.ended_at = rfc3339(self.now)
            state.reason = None if reason == "done" else f"already:{reason}"
            self.log(step.name, COMPENSATION, LogStatus.PROCESSED, reason=state.reason or "undone")
            if saga.status is SagaStatus.STUCK and not saga.in_status(StepStatus.STUCK):
                saga.status = SagaStatus.COMPENSATING
            self._compensate()
            return
        self.log(step.name, COMPENSATION, LogStatus.FAILED, reason=reason)
        sent = state.compensation
        if sent is None or route.command_id != sent.command_id or state.status is StepStatus.STUCK:
            return  # the failure of an older attempt: the current one is still out
        sent.refused = True
        sent.resend_at = rfc3339(self.now + action.resend_after)
        if state.compensation_sends >= action.max_attempts:
            self._stuck(state, reason)

    def _retry_compensation(self, step: Step, action: Action, state: StepState) -> None:
        sent = state.compensation
        assert sent is not None
        if state.compensation_sends >= action.max_attempts:
            self._stuck(state, "kept_failing" if sent.refused else "no_answer")
            return
        state.compensation_sends += 1
        if not sent.refused:
            self._resend(step, action, sent, COMPENSATION)
            return
        # Refused: a new attempt (a new id), which the receiver judges afresh.
        state.compensation = self._send(step, action, COMPENSATION, sent.attempt + 1)
        self.log(
            step.name, COMPENSATION, LogStatus.PROCESSED,
            command_ids=(state.compensation.command_id,), reason="retried",
        )  # fmt: skip

    def _stuck(self, state: StepState, reason: str) -> None:
        saga = self.saga
        state.status = StepStatus.STUCK
        state.reason = reason
        saga.status = SagaStatus.STUCK
        self.log(state.name, COMPENSATION, LogStatus.FAILED, reason=f"stuck:{reason}")
        saga.record(
            SagaStuck(
                saga_id=saga.id,
                definition=saga.definition,
                subscription_id=saga.subscription_id,
                step=state.name,
                reason=reason[:64],
                stuck_at=rfc3339(self.now),
            )
        )

    # -- aborts from outside --------------------------------------------------------------
    def _abort_for(self, event: Event) -> Abort | None:
        if self.saga.status in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED):
            return None  # what happens to a finished saga's subscription is not its business
        for abort in self.definition.aborts:
            if isinstance(event, abort.event) and abort.matches(event, self.saga.facts):
                return abort
        return None

    def _abort(self, abort: Abort) -> None:
        saga = self.saga
        for name in abort.undoes:
            state = saga.state(name)
            if state.status in (StepStatus.DONE, StepStatus.COMPENSATING, StepStatus.STUCK):
                state.status = StepStatus.COMPENSATED
                state.reason = f"undone_by:{abort.reason}"
                self.log(name, COMPENSATION, LogStatus.PROCESSED, reason=state.reason)
        if saga.status is SagaStatus.RUNNING:
            self._fail(SAGA, abort.reason)
            return
        if saga.status is SagaStatus.STUCK and not saga.in_status(StepStatus.STUCK):
            saga.status = SagaStatus.COMPENSATING
        self._compensate()

    # -- helpers ----------------------------------------------------------------------------
    def _step_expecting(self, event: Event) -> Step | None:
        """The step a key-routed event answers: a command's later outcome (a delivery done by
        chunks) or an awaited event (the payment)."""
        for step in self.definition.steps:
            if any(
                isinstance(event, r.event) and r.matches(event, self.saga.facts)
                for r in step.replies
            ):
                return step
        return None

    def _learn(self, facts: Mapping[str, str]) -> None:
        saga = self.saga
        new = {k: v for k, v in facts.items() if saga.facts.get(k) != v}
        if new:
            saga.facts.update(new)
            saga.touched = True
            self._route_facts(new)

    def _route_facts(self, facts: Mapping[str, str]) -> None:
        for fact, field in self.definition.routes:
            if fact in facts:
                self.saga.route(key_route(field, facts[fact]))

    def _done(self, state: StepState) -> None:
        self.saga.done_count += 1
        state.status = StepStatus.DONE
        state.done_order = self.saga.done_count
        state.ended_at = rfc3339(self.now)
        state.reason = None

    def _send(self, step: Step, action: Action, phase: str, attempt: int) -> Sent:
        identifier = command_id(self.saga.id, phase, step.name, attempt)
        self._dispatch(action, identifier)
        self.saga.route(command_route(identifier), step=step.name, phase=phase)
        return Sent(
            command_id=identifier,
            command_type=action.name,
            attempt=attempt,
            sent_at=rfc3339(self.now),
            resend_at=rfc3339(self.now + action.resend_after),
        )

    def _resend(self, step: Step, action: Action, sent: Sent, phase: str) -> None:
        self._dispatch(action, sent.command_id)
        sent.sends += 1
        sent.resend_at = rfc3339(self.now + action.resend_after)
        self.log(
            step.name, phase, LogStatus.PROCESSED, command_ids=(sent.command_id,), reason="resent"
        )

    def _dispatch(self, action: Action, identifier: str) -> None:
        saga = self.saga
        command = action.command(saga.facts)
        envelope = Envelope(
            payload=command,
            source=NAMES.source,
            id=identifier,
            time=rfc3339(self.now),
            correlation_id=saga.correlation_id,
            causation_id=self.cause.id,
        )
        saga.send(commands_topic(command), envelope)

    def _schedule(self) -> None:
        saga = self.saga
        times: list[str] = []
        if saga.status is SagaStatus.RUNNING:
            times.append(saga.deadline_at)
        if saga.status in (SagaStatus.RUNNING, SagaStatus.COMPENSATING):
            for step in self.definition.steps:
                state = saga.state(step.name)
                if state.status is StepStatus.ACTIVE:
                    times.extend(t for t in (state.deadline_at,) if t)
                    if step.action is not None and state.forward is not None:
                        times.append(state.forward.resend_at)
                elif state.status is StepStatus.COMPENSATING and state.compensation is not None:
                    times.append(state.compensation.resend_at)
        wake_at = min(times, key=_at) if times else None
        if wake_at != saga.wake_at:
            saga.wake_at = wake_at
            saga.touched = True


def _judge(
    action: Action | None, step: Step, event: Event, facts: Facts
) -> tuple[Outcome, dict[str, str], str]:
    """What an event means for a step (or for its compensation, when `action` is that)."""
    if (
        action is not None
        and isinstance(event, CommandRejected)
        and isinstance(event, action.rejection)
    ):
        if event.reason in action.satisfied_by:
            return "done", {}, event.reason
        return "failed", {}, event.reason
    for reply in action.replies if action is not None else step.replies:
        if isinstance(event, reply.event) and reply.matches(event, facts):
            reason = "done" if reply.outcome == "done" else event_reason(event)
            return reply.outcome, reply.facts(event), reason
    return "noted", {}, "not_expected"
