"""Evaluates terraform/modules/topology, the real HCL on a real YAML file, offline.

The evaluation lives in infra/local/grants.py, so the local cloud mode enforces the very
grants these tests check; here it skips when terraform is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.local.grants import TerraformUnavailable
from infra.local.grants import evaluate as evaluate_locals
from tests.unit.deploy.terraform_files import TOPOLOGY_MODULE, locals_of

BUCKET_PREFIX = "proj-dev"


def evaluate(topology_path: Path, bucket_prefix: str = BUCKET_PREFIX) -> dict[str, Any]:
    """Every local of the topology module, as Terraform computes it for this file."""
    try:
        return evaluate_locals(topology_path, bucket_prefix, sorted(locals_of(TOPOLOGY_MODULE)))
    except TerraformUnavailable:
        pytest.skip("terraform is not installed: `make deploy-check` says how to install it")
