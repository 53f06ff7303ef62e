"""The composition root: the one place where the shared adapters are picked.

`platform()` is built once per function instance, on the first request rather than at
import, so a cold start that serves a query pays for no client it does not use. Each context
wires itself from it (`functions/<context>/wiring.py: build(platform)`); `context(build)`
caches that wiring beside the platform. Unit tests install an in-memory platform with `use()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from shared.adapters.memory_blob_store import InMemoryBlobStore
from shared.adapters.memory_publisher import InMemoryPublisher
from shared.adapters.memory_store import InMemoryDocumentStore
from shared.config import Settings, get_settings
from shared.domain.clock import utc_now
from shared.logging import configure_logging
from shared.platform import Platform

W = TypeVar("W")


def cloud_platform(settings: Settings) -> Platform:
    """Google Cloud, or the emulators when the *_EMULATOR_HOST variables are set."""
    from google.cloud import firestore, storage  # type: ignore[attr-defined]

    from shared.adapters.firestore_store import FirestoreDocumentStore
    from shared.adapters.gcs_blob_store import GcsBlobStore
    from shared.adapters.pubsub_publisher import PubSubPublisher

    return Platform(
        settings=settings,
        store=FirestoreDocumentStore(firestore.Client(project=settings.project_id)),
        publisher=PubSubPublisher(settings.project_id),
        blobs=GcsBlobStore(storage.Client(project=settings.project_id)),
        clock=utc_now,
    )


@dataclass(frozen=True)
class InMemoryPlatform(Platform):
    """The platform of unit tests: the same ports, typed as the in-memory adapters so a test
    can look inside them (what was published, what is stored)."""

    store: InMemoryDocumentStore
    publisher: InMemoryPublisher
    blobs: InMemoryBlobStore


def in_memory_platform(settings: Settings | None = None) -> InMemoryPlatform:
    return InMemoryPlatform(
        settings=settings or Settings(),
        store=InMemoryDocumentStore(),
        publisher=InMemoryPublisher(),
        blobs=InMemoryBlobStore(),
        clock=utc_now,
    )


_platform: Platform | None = None
_wirings: dict[Callable[[Platform], Any], Any] = {}
_lock = threading.RLock()


def platform() -> Platform:
    global _platform
    with _lock:
        if _platform is None:
            settings = get_settings()
            configure_logging(settings.log_level)
            _platform = cloud_platform(settings)
        return _platform


def context(build: Callable[[Platform], W]) -> W:
    """The wiring a context's `build` makes from the platform, made once per instance."""
    with _lock:
        current = platform()
        if build not in _wirings:
            _wirings[build] = build(current)
        return cast(W, _wirings[build])


def use(replacement: Platform | None) -> None:
    """Install another platform (tests), or None to go back to the cloud one."""
    global _platform
    with _lock:
        _platform = replacement
        _wirings.clear()
