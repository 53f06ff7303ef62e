"""Unit tests run every function on an in-memory platform: fast, and no emulator needed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform


@pytest.fixture
def platform() -> Iterator[InMemoryPlatform]:
    """In-memory adapters behind every port, installed for the entry points to find."""
    p = bootstrap.in_memory_platform()
    bootstrap.use(p)
    yield p
    bootstrap.use(None)
