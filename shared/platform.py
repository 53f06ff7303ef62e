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
from shared.ports.publishing import Publisher
from shared.service import dead_letters
from shared.service.dead_letters import DeadLetterLog


@dataclass(frozen=True)
class Platform:
    settings: Settings
    store: DocumentStore
    publisher: Publisher
    blobs: BlobStore
    clock: Clock

    @property
    def dead_letters(self) -> DeadLetterLog:
        """Every context's dead letters, in one collection an operator reads."""
        return DeadLetterLog(
            store=self.store,
            collection=self.settings.collection(dead_letters.COLLECTION),
            publisher=self.publisher,
            clock=self.clock,
        )
