"""Point this process's Google clients at a stack for a while, then put things back.

The clients read the emulator variables (STORAGE_EMULATOR_HOST, ...) when they are built,
so a block that builds clients for a stack runs inside `temporary_environment(stack.env)`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def temporary_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the duration of the block, restoring what was there before."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
