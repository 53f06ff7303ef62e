"""The audit log: who read or changed what, through the API, and what they were answered.

One document per request that touches data (never its values: the resource and the
outcome only), in the api's own collection, newest first for an operator.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from functions.api.principals import Principal
from shared.domain.clock import Clock, rfc3339
from shared.ports.documents import DocumentStore
from shared.service.pagination import newest_first

COLLECTION = "api_audit"
Action = Literal["read", "change", "login"]


@dataclass
class AuditLog:
    store: DocumentStore
    collection: str
    clock: Clock

    def record(
        self,
        who: Principal | None,
        action: Action,
        resource: str,
        status: int,
        correlation_id: str = "",
    ) -> None:
        entry = {
            "at": rfc3339(self.clock()),
            "user_id": who.user_id if who else "",
            "role": who.role.value if who else "",
            "action": action,
            "resource": resource,
            "status": status,
            "correlation_id": correlation_id,
        }
        self.store.run_in_transaction(lambda tx: tx.put(self.collection, uuid.uuid4().hex, entry))

    def page(self, limit: int, cursor: str | None) -> dict[str, Any]:
        return newest_first(
            self.store, self.collection, [], order_by="at", view=dict, limit=limit, cursor=cursor
        )
