"""The client's names a CreateDataService needs, read from the subscriptions read model
when the command is built, so that the saga never stores them (its state and log hold
codes and ids only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from functions.subscriptions.queries import get_subscription
from shared.domain.errors import TransientError
from shared.ports.documents import DocumentStore


class ClientNotYetKnown(TransientError):
    """The subscription is not readable yet (its event overtook the write): retried."""


@dataclass(frozen=True)
class SubscriptionsDirectory:
    store: DocumentStore
    collection: str

    def client(self, subscription_id: str) -> Mapping[str, str]:
        found = get_subscription(self.store, subscription_id, self.collection)
        if found is None:
            raise ClientNotYetKnown("the subscription is not stored")
        client = found["client"]
        return {k: str(client[k]) for k in ("code", "first_names", "last_names", "username")}
