"""The platform: the adapters behind the ports that every context shares, for one environment.

Only shared ports live here, typed as Protocols: a context's own dependencies (a payment
gateway, an OCR engine, an SMTP server) are built by its own `wiring.build(platform)`.
functions/bootstrap.py picks the adapters (Google Cloud or in memory) and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings
from shared.domain.clock import Clock
from shared.ports.blobs import BlobStore
from shared.ports.documents import DocumentStore
from shared.ports.doors import Doors
from shared.ports.publishing import Publisher
from shared.service import dead_letters
from shared.service.dead_letters import DeadLetterLog
from shared.service.sealed_messages import NO_KEY, MessageSealer


@dataclass(frozen=True)
class Platform:
    """One context's view of the platform: `store` is that context's own database (no
    context can open another's), the rest is shared."""

    settings: Settings
    store: DocumentStore
    publisher: Publisher
    blobs: BlobStore
    clock: Clock
    doors: Doors
    # Seals and opens the personal fields of messages (the publisher was given the same one);
    # the context's entry points read with it. Without a field key it refuses them.
    sealer: MessageSealer = NO_KEY

    @property
    def dead_letters(self) -> DeadLetterLog:
        """The context's dead letters, in its own database (its query door serves them)."""
        return DeadLetterLog(
            store=self.store,
            collection=self.settings.collection(dead_letters.COLLECTION),
            publisher=self.publisher,
            clock=self.clock,
        )
