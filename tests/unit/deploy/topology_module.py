"""Evaluates terraform/modules/topology, the real HCL on a real YAML file, offline.

The module has no provider, no resource and no child module, so `terraform console` runs it
without `init` and without the network: what the tests compare is what Terraform computes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.unit.deploy.terraform_files import TOPOLOGY_MODULE, locals_of

BUCKET_PREFIX = "proj-dev"


def evaluate(topology_path: Path, bucket_prefix: str = BUCKET_PREFIX) -> dict[str, Any]:
    """Every local of the topology module, as Terraform computes it for this file."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed: `make deploy-check` says how to install it")
    names = sorted(locals_of(TOPOLOGY_MODULE))
    expression = "jsonencode({" + ", ".join(f"{n} = local.{n}" for n in names) + "})\n"
    completed = subprocess.run(
        [
            terraform,
            f"-chdir={TOPOLOGY_MODULE}",
            "console",
            f"-var=topology_path={topology_path}",
            f"-var=bucket_prefix={bucket_prefix}",
        ],
        input=expression,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # No version check against the network; no prompt.
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_INPUT": "0"},
    )
    assert completed.returncode == 0, completed.stderr
    # console prints the JSON document as an HCL string literal.
    decoded: dict[str, Any] = json.loads(json.loads(completed.stdout.strip()))
    return decoded
