"""MessageProcessor runs the deliveries that share a serialization key one at a time in an
instance (transactions on one document otherwise wait on each other's locks), and a thread
holds at most one lock, so nested processing cannot deadlock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shared.service.processing import _serialized


def _run_together(*targets: Callable[[], None]) -> None:
    """Run the targets in threads; a thread's exception (a broken barrier) fails the test."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads), "deadlocked"
    assert not errors, errors


def test_deliveries_with_one_key_never_overlap() -> None:
    inside, overlaps = [0], [0]

    def work() -> None:
        with _serialized("sagas/correlation-1"):
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
            time.sleep(0.05)
            inside[0] -= 1

    _run_together(*[work] * 4)
    assert overlaps[0] == 1


def test_deliveries_with_other_keys_or_none_run_side_by_side() -> None:
    started = threading.Barrier(3, timeout=5)

    def work(key: str) -> None:
        with _serialized(key):
            started.wait()  # all three inside at once, or the barrier breaks

    # "a/1" and "a/2" fall on different stripes (43 and 4 of 64).
    _run_together(lambda: work("a/1"), lambda: work("a/2"), lambda: work(""))


def test_processing_nested_in_a_handler_takes_no_second_lock() -> None:
    # Thread one holds A and processes B inside; thread two the other way round. Were the
    # nested ones to take their locks, each would wait on the other for ever.
    both_inside = threading.Barrier(2, timeout=5)

    def nested(outer: str, inner: str) -> None:
        with _serialized(outer):
            both_inside.wait()
            with _serialized(inner):
                pass

    _run_together(lambda: nested("a/1", "a/2"), lambda: nested("a/2", "a/1"))
    with _serialized("a/1"), _serialized("a/1"):  # and the same key nested is no deadlock
        pass
