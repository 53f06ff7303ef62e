"""Delivery chaos for the local bridge: duplicates, reordering and delay, reproducibly.

Pub/Sub and Eventarc deliver at least once and out of order; the emulator rarely does
either, so handlers would look idempotent without being tested. The bridge can make it
happen on purpose. Every decision about a message is a hash of (seed, subscription, message
id), so with the same seed and the same publish order a run is reproducible regardless of
thread timing; reordering shuffles each buffered window with a generator seeded from
(seed, subscription, window number).

Settings come from the bridge's config, from SALUDTECH_CHAOS_* environment variables, and
at run time from `POST /chaos` on the bridge's admin API.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

T = TypeVar("T")


class ChaosSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Share of deliveries posted twice (same envelope, same ce-id), concurrently.
    duplicate_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    # Messages buffered and then delivered in shuffled order; 0 or 1 disables.
    reorder_window: int = Field(default=0, ge=0, le=1000)
    # A partly filled window is flushed after this long, so a trickle is never stuck.
    reorder_max_wait_seconds: float = Field(default=0.5, gt=0.0, le=60.0)
    # Extra latency before the first delivery attempt, uniform in [0, delay_max_seconds].
    delay_max_seconds: float = Field(default=0.0, ge=0.0, le=60.0)
    seed: int = 0
    # Subscriptions affected (e.g. ["trigger-subscriptions-handle-command"]); None = all.
    subscriptions: list[str] | None = None

    @property
    def active(self) -> bool:
        return self.duplicate_rate > 0 or self.reorder_window > 1 or self.delay_max_seconds > 0

    def applies_to(self, subscription: str) -> bool:
        return self.active and (self.subscriptions is None or subscription in self.subscriptions)

    def updated(self, changes: dict[str, object]) -> ChaosSettings:
        """A copy with `changes` applied and validated (the admin API's partial update)."""
        return ChaosSettings.model_validate({**self.model_dump(), **changes})


class _ChaosEnvironment(ChaosSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SALUDTECH_CHAOS_", extra="ignore")


def chaos_from_environment() -> ChaosSettings:
    return ChaosSettings.model_validate(_ChaosEnvironment().model_dump())


def unit_draw(seed: int, subscription: str, message_id: str, purpose: str) -> float:
    """A reproducible number in [0, 1) for one decision about one message."""
    digest = hashlib.blake2b(
        f"{seed}|{subscription}|{message_id}|{purpose}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class ChaosControl:
    """The current settings, switchable at run time from any thread."""

    def __init__(self, settings: ChaosSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    @property
    def settings(self) -> ChaosSettings:
        with self._lock:
            return self._settings

    def replace(self, settings: ChaosSettings) -> None:
        with self._lock:
            self._settings = settings
            listeners = list(self._listeners)
        for listener in listeners:  # outside the lock: a listener reads the settings
            listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every replace() (a reorder buffer releases what it holds)."""
        with self._lock:
            self._listeners.append(listener)

    def should_duplicate(self, subscription: str, message_id: str) -> bool:
        s = self.settings
        return s.applies_to(subscription) and (
            unit_draw(s.seed, subscription, message_id, "duplicate") < s.duplicate_rate
        )

    def delay_seconds(self, subscription: str, message_id: str) -> float:
        s = self.settings
        if not s.applies_to(subscription) or s.delay_max_seconds <= 0:
            return 0.0
        return s.delay_max_seconds * unit_draw(s.seed, subscription, message_id, "delay")


class ReorderBuffer(Generic[T]):
    """Holds up to `window` items and releases them shuffled.

    Items are released when the window is full or when the oldest has waited
    reorder_max_wait_seconds; `release` is called outside the lock, once per item.
    A timer runs only while something is buffered: with chaos off (the usual case, one
    buffer per subscription) the buffer costs nothing.
    """

    def __init__(
        self,
        subscription: str,
        control: ChaosControl,
        release: Callable[[T], None],
        on_shuffled: Callable[[int, int], None],
    ) -> None:
        self._subscription = subscription
        self._control = control
        self._release = release
        self._on_shuffled = on_shuffled  # (items in the window, items that moved)
        self._items: list[T] = []
        self._oldest = 0.0
        self._windows = 0
        self._lock = threading.Lock()
        self._closed = False
        self._timer: threading.Timer | None = None
        control.on_change(self._settings_changed)

    @property
    def timing(self) -> bool:
        """Whether a flush timer is pending (only while items wait)."""
        with self._lock:
            return self._timer is not None

    def enabled(self) -> bool:
        s = self._control.settings
        return s.applies_to(self._subscription) and s.reorder_window > 1

    def add(self, item: T) -> None:
        with self._lock:
            if not self._items:
                self._oldest = time.monotonic()
            self._items.append(item)
            full = len(self._items) >= self._control.settings.reorder_window
            batch = self._take_locked() if full else []
            self._arm_locked()
        self._emit(batch)

    def flush(self) -> None:
        with self._lock:
            batch = self._take_locked()
        self._emit(batch)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._disarm_locked()

    def _take_locked(self) -> list[T]:
        batch, self._items = self._items, []
        if len(batch) > 1:
            settings = self._control.settings
            self._windows += 1
            generator = random.Random(f"{settings.seed}|{self._subscription}|{self._windows}")
            original = list(batch)
            generator.shuffle(batch)
            moved = sum(1 for a, b in zip(original, batch, strict=True) if a is not b)
            self._on_shuffled(len(batch), moved)
        return batch

    def _emit(self, batch: list[T]) -> None:
        for item in batch:
            self._release(item)

    def _arm_locked(self) -> None:
        """A timer for when the oldest item turns stale, if items wait and none is set."""
        if self._timer is not None or not self._items or self._closed:
            return
        age = time.monotonic() - self._oldest
        wait = max(0.0, self._control.settings.reorder_max_wait_seconds - age)
        self._timer = threading.Timer(wait, self._timed_out)
        self._timer.name = f"reorder-{self._subscription}"
        self._timer.daemon = True
        self._timer.start()

    def _disarm_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        with self._lock:
            if threading.current_thread() is not self._timer:
                return  # replaced or cancelled while it waited for the lock
            self._timer = None
            wait = self._control.settings.reorder_max_wait_seconds
            stale = bool(self._items) and time.monotonic() - self._oldest >= wait
            batch = self._take_locked() if stale else []
            self._arm_locked()  # a newer window still waits: time it from its oldest item
        self._emit(batch)

    def _settings_changed(self) -> None:
        with self._lock:
            # Chaos switched off while items wait: release them now.
            batch = self._take_locked() if self._items and not self.enabled() else []
            self._disarm_locked()  # the wait may have changed: time it again
            self._arm_locked()
        self._emit(batch)
