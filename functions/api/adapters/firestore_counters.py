"""Window counters in Firestore: sharded documents incremented server-side."""

from __future__ import annotations

import random
from datetime import datetime

from google.api_core import exceptions as google_errors
from google.cloud import firestore

from functions.api.rate_limits import SHARDS
from shared.adapters.firestore_store import TRANSIENT
from shared.domain.errors import TransientError


class FirestoreWindowCounters:
    def __init__(self, client: firestore.Client, collection: str, shards: int = SHARDS) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._shards = shards

    def increment(self, counter_id: str, expires_at: datetime) -> int:
        refs = [self._collection.document(f"{counter_id}-{n}") for n in range(self._shards)]
        try:
            random.choice(refs).set(
                {"count": firestore.Increment(1), "expires_at": expires_at}, merge=True
            )
            return sum(
                int((snapshot.to_dict() or {}).get("count", 0))
                for snapshot in self._client.get_all(refs)
                if snapshot.exists
            )
        except (*TRANSIENT, google_errors.GoogleAPICallError) as error:
            raise TransientError(f"firestore: {type(error).__name__}") from error
