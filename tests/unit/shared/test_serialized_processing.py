"""MessageProcessor runs the deliveries that share a serialization key one at a time in an
instance (two transactions on one document otherwise wait on each other's locks)."""

from __future__ import annotations

import threading
import time

from shared.service.processing import _stripe


def test_deliveries_with_one_key_never_overlap_and_the_lock_is_reentrant() -> None:
    inside, overlaps = [0], [0]

    def work() -> None:
        with _stripe("sagas/correlation-1"):
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
            time.sleep(0.05)
            inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps[0] == 1
    # Re-entrant: a handler may process another message with the same key in-process.
    with _stripe("sagas/correlation-1"), _stripe("sagas/correlation-1"):
        pass
