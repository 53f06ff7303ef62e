"""An operator's: every context's dead letters and the api's audit log."""

from __future__ import annotations

from functions.api import reads
from functions.api.answers import AuditEntry, Page
from functions.api.context_views import shown
from functions.api.guard import current
from functions.api.parameters import DeadLettersQuery, PageQuery
from functions.api.routing import OPERATOR, Routes
from shared.entrypoints.dead_letter_door import DeadLetterView

routes = Routes("operators", "dead letters and the audit log")


@routes.get(
    "/v1/dead-letters", Page[DeadLetterView], roles=OPERATOR,
    summary="every context's dead letters merged newest first, or one context's; a cursor "
    "continues the listing it came from",
)  # fmt: skip
def dead_letters(query: DeadLettersQuery) -> Page[DeadLetterView]:
    call = current()
    call.resource.append("dead-letters")
    doors = call.wiring.platform.doors
    found = reads.dead_letters(doors, query.context, query.limit, query.cursor)
    return shown(Page[DeadLetterView], found, "the dead-letter doors")


@routes.get("/v1/audit", Page[AuditEntry], roles=OPERATOR, summary="who read or changed what")
def audit(query: PageQuery) -> Page[AuditEntry]:
    call = current()
    call.resource.append("audit")
    return Page[AuditEntry].model_validate(call.wiring.audit.page(query.limit, query.cursor))
