"""One evaluation of the topology module for the whole session: it takes a terraform run."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.topology import DEFAULT_TOPOLOGY_PATH
from tests.unit.deploy.topology_module import evaluate


@pytest.fixture(scope="session")
def derived() -> dict[str, Any]:
    """Every local of terraform/modules/topology, computed for infra/topology.yaml."""
    return evaluate(DEFAULT_TOPOLOGY_PATH)
