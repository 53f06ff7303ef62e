"""Commands sent to the contexts: through each context's own command door, in-process.

The API calls the context's HTTP door function (e.g. subscriptions_commands_http) with a
request built here, in the same process, instead of over the network or by publishing on
its own. So a command passes the context's own validation, is recorded in the context's
command log (status pending/applied/rejected/dead_lettered, Idempotency-Key reuse) and is
published to the context's command topic exactly as the context does it, with no second
copy of any of that and no extra hop. Swapping this for an HTTP call to the internal
function (with an ID token of the api's service account) changes this file only.

An operator's saga retry goes the same way through sagas_operations_http, which processes
the retry command in the request and names it (X-Command-ID); its outcome is then read from
the sagas' inbox (reads.saga_command_status).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import flask
from werkzeug.test import EnvironBuilder

from functions.api.principals import Principal
from functions.subscriptions.entrypoints import subscriptions_commands_http
from shared.entrypoints.http import HttpError
from shared.ports.documents import DocumentStore, Filter

COMMANDS = "api_commands"  # command id -> who sent it (the command resource's owner)
Door = Callable[[flask.Request], flask.Response]
SAGAS = "sagas"  # the `context` of a command record sent to the sagas (else subscriptions)


def _sagas_door(request: flask.Request) -> flask.Response:
    from functions.sagas.entrypoints import sagas_operations_http

    return cast(flask.Response, sagas_operations_http(request))


def _call(door: Door, path: str, body: dict[str, Any], headers: list[tuple[str, str]]) -> Any:
    """Call a door in-process; (response, its JSON), or the door's refusal raised as is."""
    builder = EnvironBuilder(
        path=path, method="POST", data=json.dumps(body), headers=headers,
        content_type="application/json",
    )  # fmt: skip
    try:
        response = door(flask.Request(builder.get_environ()))
    finally:
        builder.close()
    answer: dict[str, Any] = json.loads(response.get_data())
    if response.status_code != 202:
        error = answer.get("error", {})
        raise HttpError(
            response.status_code,
            str(error.get("reason", "refused")),
            str(error.get("detail", "")),
            error.get("field"),
        )
    return response, answer


@dataclass(frozen=True)
class Accepted:
    command_id: str
    subject: str
    answer: dict[str, Any]


@dataclass
class ContextCommands:
    store: DocumentStore
    collection: str
    door: Door = field(default=cast(Door, subscriptions_commands_http))
    sagas_door: Door = field(default=_sagas_door)

    def send(
        self,
        who: Principal,
        path: str,
        body: dict[str, Any],
        idempotency_key: str,
        correlation_id: str,
    ) -> Accepted:
        headers: list[tuple[str, str]] = []
        if correlation_id:
            headers.append(("X-Correlation-ID", correlation_id))
        if idempotency_key:
            # Keys are per user: two users who pick the same key send two commands.
            scoped = f"{who.user_id}:{idempotency_key}".encode()
            headers.append(("Idempotency-Key", hashlib.sha256(scoped).hexdigest()))
        _, answer = _call(self.door, path, body, headers)
        accepted = Accepted(str(answer["command_id"]), str(answer["subscription_id"]), answer)
        self._record(who, accepted, str(answer["command_type"]))
        return accepted

    def retry_saga(self, who: Principal, saga_id: str) -> Accepted:
        """An operator's retry of a stuck saga; its answer is the saga after the retry."""
        from functions.sagas.messages import RetrySaga

        response, answer = _call(self.sagas_door, f"/sagas/{saga_id}/retry", {}, [])
        accepted = Accepted(str(response.headers["X-Command-ID"]), saga_id, answer)
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
