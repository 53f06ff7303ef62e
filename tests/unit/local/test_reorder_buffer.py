"""The bridge's reorder buffer: reproducible shuffles, and no cost while chaos is off."""

from __future__ import annotations

import threading
import time

from infra.local.chaos import ChaosControl, ChaosSettings, ReorderBuffer


def reorder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("reorder-") and t.is_alive()]


def buffer(control: ChaosControl, released: list[int]) -> ReorderBuffer[int]:
    return ReorderBuffer("trigger-a", control, released.append, lambda window, moved: None)


def eventually(condition: object, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.005)
    return False


def test_buffers_run_no_thread_while_chaos_is_off() -> None:
    control = ChaosControl(ChaosSettings())
    before = len(reorder_threads())
    buffers = [buffer(control, []) for _ in range(20)]

    assert len(reorder_threads()) == before  # was one thread per buffer, waking every 20 ms
    assert not any(b.enabled() for b in buffers)


def test_a_partly_filled_window_is_released_after_the_wait_and_its_timer_ends() -> None:
    control = ChaosControl(ChaosSettings(reorder_window=10, reorder_max_wait_seconds=0.05))
    released: list[int] = []
    reorder = buffer(control, released)
    assert not reorder.timing

    for item in (1, 2, 3):
        reorder.add(item)
    assert reorder.timing
    assert released == []

    assert eventually(lambda: sorted(released) == [1, 2, 3])
    assert eventually(lambda: not reorder.timing and not reorder_threads())


def test_a_full_window_is_released_shuffled_at_once_and_the_same_way_each_run() -> None:
    def run() -> list[int]:
        control = ChaosControl(ChaosSettings(reorder_window=8, reorder_max_wait_seconds=30, seed=7))
        released: list[int] = []
        reorder = buffer(control, released)
        for item in range(8):
            reorder.add(item)
        reorder.close()
        return released

    first = run()
    assert sorted(first) == list(range(8))
    assert first != list(range(8))
    assert run() == first


def test_switching_chaos_off_releases_what_waits_at_once() -> None:
    control = ChaosControl(ChaosSettings(reorder_window=10, reorder_max_wait_seconds=30))
    released: list[int] = []
    reorder = buffer(control, released)
    reorder.add(1)
    reorder.add(2)

    control.replace(ChaosSettings())

    assert sorted(released) == [1, 2]
    assert not reorder.timing


def test_a_shorter_wait_set_at_run_time_applies_to_what_waits() -> None:
    control = ChaosControl(ChaosSettings(reorder_window=10, reorder_max_wait_seconds=30))
    released: list[int] = []
    reorder = buffer(control, released)
    reorder.add(1)

    control.replace(control.settings.updated({"reorder_max_wait_seconds": 0.05}))

    assert eventually(lambda: released == [1], timeout=1.0)


def test_a_closed_buffer_keeps_no_timer() -> None:
    control = ChaosControl(ChaosSettings(reorder_window=10, reorder_max_wait_seconds=0.05))
    released: list[int] = []
    reorder = buffer(control, released)
    reorder.add(1)
    reorder.close()

    time.sleep(0.15)
    assert released == []  # left unacked: Pub/Sub redelivers it to the next bridge
    assert not reorder.timing
