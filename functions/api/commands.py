"""Commands sent to the contexts, through each context's own command door.

A client's subscription command is POSTed to subscriptions_commands_http (a data request,
an expert's or an operator's data service command to data_services_commands_http) at the
path that door defines (`/subscriptions`, `/subscriptions/<id>/plan`, ...), so it passes the
context's own validation, is recorded in its command log (status pending / applied /
rejected / dead_lettered, Idempotency-Key reuse) and is published to its command topic,
exactly as the context does it, with no second copy of any of that in the api. The caller's
X-Correlation-ID goes along; its Idempotency-Key is made per user first (two users who pick
the same key send two commands).

An operator's saga retry is POSTed to sagas_operations_http `/sagas/<id>/retry`, which
processes the retry in the request and names it (X-Command-ID); its outcome is read at the
sagas' query door (reads.saga_command_status).

The api keeps one record of its own per command (COMMANDS, in its own database): who sent
it, so that the command resource /v1/commands/<id> is answered to its sender only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from functions.api.context_doors import (
    SAGAS_OPERATIONS,
    SUBSCRIPTION_COMMANDS,
    CommandDoors,
    answered,
    segment,
)
from functions.api.principals import Principal
from functions.sagas.messages import RetrySaga
from shared.ports.documents import DocumentStore, Filter
from shared.ports.doors import Doors, DoorUnavailable

COMMANDS = "api_commands"  # command id -> who sent it (the command resource's owner)
SAGAS = "sagas"  # the `context` of a command record sent to the sagas (else subscriptions)
COMMAND_ID_HEADER = "x-command-id"


@dataclass(frozen=True)
class Accepted:
    command_id: str
    subject: str
    answer: dict[str, Any]


@dataclass
class ContextCommands:
    store: DocumentStore
    collection: str
    doors: Doors

    def send(
        self,
        who: Principal,
        path: str,
        body: dict[str, Any],
        idempotency_key: str,
        correlation_id: str,
        *,
        to: CommandDoors = SUBSCRIPTION_COMMANDS,
    ) -> Accepted:
        headers: dict[str, str] = {}
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        if idempotency_key:
            # Keys are per user: two users who pick the same key send two commands.
            scoped = f"{who.user_id}:{idempotency_key}".encode()
            headers["Idempotency-Key"] = hashlib.sha256(scoped).hexdigest()
        answer = self.doors.call(to.commands, "POST", path, body=body, headers=headers)
        found: dict[str, Any] = answered(to.commands, answer, expected=202)
        accepted = Accepted(str(found["command_id"]), str(found[to.subject_field]), found)
        context = "" if to is SUBSCRIPTION_COMMANDS else to.context
        self._record(who, accepted, str(found["command_type"]), context=context)
        return accepted

    def retry_saga(self, who: Principal, saga_id: str) -> Accepted:
        """An operator's retry of a stuck saga; its answer is the saga after the retry."""
        path = f"/sagas/{segment(saga_id)}/retry"
        answer = self.doors.call(SAGAS_OPERATIONS, "POST", path, body={})
        saga: dict[str, Any] = answered(SAGAS_OPERATIONS, answer, expected=202)
        headers = {name.lower(): value for name, value in answer.headers.items()}
        if not headers.get(COMMAND_ID_HEADER):
            raise DoorUnavailable(f"{SAGAS_OPERATIONS} named no command")
        accepted = Accepted(headers[COMMAND_ID_HEADER], saga_id, saga)
        self._record(who, accepted, RetrySaga.TYPE, context=SAGAS)
        return accepted

    def _record(
        self, who: Principal, accepted: Accepted, command_type: str, context: str = ""
    ) -> None:
        record = {
            "command_id": accepted.command_id,
            "user_id": who.user_id,
            "subject": accepted.subject,
            "command_type": command_type,
        }
        if context:
            record["context"] = context
        self.store.run_in_transaction(
            lambda tx: tx.put(self.collection, accepted.command_id, record)
        )

    def owner(self, command_id: str) -> str | None:
        found = self.store.get(self.collection, command_id)
        return str(found["user_id"]) if found else None

    def sent_for(self, who: Principal, subject: str) -> bool:
        """Whether this user sent a command naming `subject` (a subscription they created
        that is not processed yet is theirs already)."""
        page = self.store.query(
            self.collection,
            [Filter("subject", "==", subject), Filter("user_id", "==", who.user_id)],
            limit=1,
        )
        return bool(page.items)
