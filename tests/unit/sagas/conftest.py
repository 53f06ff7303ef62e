"""Every saga test runs against a scripted world on the in-memory platform."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions import bootstrap
from tests.unit.sagas.world import World, new_world


@pytest.fixture
def world() -> Iterator[World]:
    yield new_world()
    bootstrap.use(None)
