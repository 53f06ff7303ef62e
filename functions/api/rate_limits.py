"""Rate limits that hold across function instances: fixed windows counted in Firestore.

Each (who, route) pair has one counter per window, split over SHARDS documents: a request
increments one shard chosen at random (an atomic server-side Increment, no transaction, so
requests never contend) and reads the shards back in one batched read to learn the total.
No document takes more than a fraction of one user's burst, and no document is shared
between users, so there is no hot document. A window's shards expire through a TTL policy
on `expires_at` (Terraform), so the counters clean themselves up.

Under concurrency a total may count a request that was itself refused; that errs towards
refusing, never towards letting more through than the limit.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.clock import Clock

SHARDS = 8
COLLECTION = "api_rate_limits"


class WindowCounters(Protocol):
    def increment(self, counter_id: str, expires_at: datetime) -> int:
        """Add one to the counter (any shard of it) and return its new total."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_seconds: int


@dataclass
class RateLimiter:
    counters: WindowCounters
    clock: Clock

    def hit(self, who: str, route: str, limit: int, window_seconds: int) -> Decision:
        now = self.clock().timestamp()
        window = math.floor(now / window_seconds)
        # Ids hashed: `who` may be an address or a username, never stored as such.
        digest = hashlib.sha256(f"{who}|{route}".encode()).hexdigest()[:32]
        ends = (window + 1) * window_seconds
        expires = datetime.fromtimestamp(ends + window_seconds, tz=self.clock().tzinfo)
        total = self.counters.increment(f"{digest}-{window_seconds}-{window}", expires)
        retry_after = max(1, math.ceil(ends - now))
        return Decision(
            allowed=total <= limit,
            limit=limit,
            remaining=max(0, limit - total),
            retry_after_seconds=retry_after,
        )
