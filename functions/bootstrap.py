"""The composition root: the one place where the shared adapters are picked.

Each context gets its own platform, built on the first request of that context rather than
at import (a cold start that serves a query pays for no client it does not use): the same
publisher, blob store and doors, but a document store on the context's own Firestore
database (`saludtech-<context>`), so no context can read or write another's state. A
context wires itself from it (`functions/<context>/wiring.py: build(platform)`), and
`context(build)` caches that wiring beside the platform. Unit tests install one in-memory
platform for every context with `use()`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from shared.adapters.in_process_doors import DoorFunction, InProcessDoors
from shared.adapters.memory_blob_store import InMemoryBlobStore
from shared.adapters.memory_publisher import InMemoryPublisher
from shared.adapters.memory_store import InMemoryDocumentStore
from shared.config import Settings, get_settings
from shared.domain.clock import utc_now
from shared.logging import configure_logging
from shared.platform import Platform
from shared.ports.doors import Doors
from shared.service.context import database_of
from shared.service.sealed_messages import MessageSealer

W = TypeVar("W")


def _main_target(target: str) -> DoorFunction:
    """A door by its entry point, for doors called in-process (main.py exports them all)."""
    return cast(DoorFunction, getattr(importlib.import_module("main"), target))


def doors(settings: Settings) -> Doors:
    if not settings.door_url_template:
        return InProcessDoors(_main_target)
    from shared.adapters.http_doors import HttpDoors, metadata_id_tokens

    id_tokens = None
    if settings.environment == "cloud":
        from shared.adapters import grants
        from shared.adapters.local_id_tokens import local_id_tokens, local_id_tokens_configured

        granted = grants.current()
        if local_id_tokens_configured() and granted is not None:
            # The local cloud mode: the stack's key stands in for the metadata server.
            id_tokens = local_id_tokens(granted.service_account)
        else:
            id_tokens = metadata_id_tokens()
    return HttpDoors(settings.door_url_template, id_tokens)


def cloud_platform(settings: Settings, database: str, shared: Platform | None = None) -> Platform:
    """Google Cloud, or the emulators when the *_EMULATOR_HOST variables are set; `shared`
    lends its publisher, blobs, doors and sealer (one of each per instance)."""
    from google.cloud import firestore

    from shared.adapters.firestore_store import FirestoreDocumentStore

    store = FirestoreDocumentStore(firestore.Client(project=settings.project_id, database=database))
    if shared is not None:
        return Platform(
            settings=settings, store=store, publisher=shared.publisher, blobs=shared.blobs,
            clock=shared.clock, doors=shared.doors, sealer=shared.sealer,
        )  # fmt: skip
    from google.cloud import storage  # type: ignore[attr-defined]

    from shared.adapters.gcs_blob_store import GcsBlobStore
    from shared.adapters.pubsub_publisher import PubSubPublisher

    sealer = MessageSealer.from_settings(settings)
    return Platform(
        settings=settings,
        store=store,
        publisher=PubSubPublisher(settings.project_id, sealer=sealer),
        blobs=GcsBlobStore(storage.Client(project=settings.project_id)),
        clock=utc_now,
        doors=doors(settings),
        sealer=sealer,
    )


@dataclass(frozen=True)
class InMemoryPlatform(Platform):
    """The platform of unit tests: the same ports, typed as the in-memory adapters so a test
    can look inside them (what was published, what is stored)."""

    store: InMemoryDocumentStore
    publisher: InMemoryPublisher
    blobs: InMemoryBlobStore


def in_memory_platform(settings: Settings | None = None) -> InMemoryPlatform:
    settings = settings or Settings()
    sealer = MessageSealer.from_settings(settings)
    return InMemoryPlatform(
        settings=settings,
        store=InMemoryDocumentStore(),
        publisher=InMemoryPublisher(sealer),
        blobs=InMemoryBlobStore(),
        clock=utc_now,
        doors=InProcessDoors(_main_target),
        sealer=sealer,
    )


_override: Platform | None = None
_platforms: dict[str, Platform] = {}
_wirings: dict[Callable[[Platform], Any], Any] = {}
_lock = threading.RLock()


def platform(context: str) -> Platform:
    """The platform of one context (`ingestion`, `data_services`, ...)."""
    with _lock:
        if _override is not None:
            return _override
        if context not in _platforms:
            settings = get_settings()
            configure_logging(settings.log_level)
            first = next(iter(_platforms.values()), None)
            _platforms[context] = cloud_platform(settings, database_of(context), first)
        return _platforms[context]


def context_of(build: Callable[..., Any]) -> str:
    """`functions.<context>.wiring.build` -> `<context>`."""
    parts = build.__module__.split(".")
    if len(parts) < 3 or parts[0] != "functions":
        raise ValueError(f"{build.__module__} is not a context's wiring")
    return parts[1]


def context(build: Callable[[Platform], W]) -> W:
    """The wiring a context's `build` makes from its platform, made once per instance."""
    with _lock:
        if build not in _wirings:
            _wirings[build] = build(platform(context_of(build)))
        return cast(W, _wirings[build])


def use(replacement: Platform | None) -> None:
    """Install one platform for every context (tests), or None to go back to the cloud."""
    global _override
    with _lock:
        _override = replacement
        _platforms.clear()
        _wirings.clear()
