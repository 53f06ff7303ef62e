"""The local cloud mode sets on each function the variables Terraform sets, no other."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.grants import cloud_settings, grants_of
from tests.unit.deploy.function_environment import DEPLOYER_SETTINGS, function_environment
from tests.unit.deploy.terraform_files import ENVIRONMENTS
from tests.unit.deploy.topology_module import BUCKET_PREFIX


@pytest.mark.parametrize("function", ["api", "identity-commands-http", "ingestion-on-upload"])
def test_the_cloud_mode_sets_what_terraform_sets(derived: dict[str, Any], function: str) -> None:
    grants = grants_of(derived, BUCKET_PREFIX)[function]
    front = derived["front_door"]
    local = cloud_settings(
        grants,
        project_id="p",
        bucket_prefix=BUCKET_PREFIX,
        functions_url="http://127.0.0.1:8090",
        public_target=derived["functions"][front]["target"] if front else None,
    )
    terraform = function_environment(ENVIRONMENTS[0], derived, function)
    plain = set(terraform) - set(DEPLOYER_SETTINGS) - set(grants.secrets)
    assert set(local) == plain
    assert set(grants.secrets) == set(terraform) - plain - set(DEPLOYER_SETTINGS)
    assert local["SALUDTECH_ENVIRONMENT"] == terraform["SALUDTECH_ENVIRONMENT"] == "cloud"
    assert local["SALUDTECH_PAYMENT_GATEWAY"] == terraform["SALUDTECH_PAYMENT_GATEWAY"]
