"""Secrets are declared, never valued: no key material in any deploy file or the state.

Terraform creates each secret without a version (a version's value would be in the state);
values are added by hand (docs/deploy.md). The scan below looks for what key material looks
like, and is tested on samples so that it cannot quietly match nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.deploy.terraform_files import (
    PLATFORM_MODULE,
    REPO_ROOT,
    TERRAFORM,
    all_terraform_files,
    parse_dir,
    resources,
)

DEPLOY_FILES = [
    *all_terraform_files(),
    REPO_ROOT / "cloudbuild.yaml",
    REPO_ROOT / "docs" / "deploy.md",
    REPO_ROOT / "infra" / "topology.yaml",
]

KEY_MATERIAL = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AIza[0-9A-Za-z_-]{35}"),  # Google API key
    re.compile(r"\bsk_(live|test)_[0-9A-Za-z]{16,}"),  # Stripe secret key
    re.compile(r"\b[0-9a-f]{32,}\b"),  # hex key
    # base64 or random tokens: long, and mixing upper case, lower case and digits, which
    # HCL identifiers and resource names never do.
    re.compile(
        r"(?=[A-Za-z0-9+/=_-]*[A-Z])(?=[A-Za-z0-9+/=_-]*[a-z])(?=[A-Za-z0-9+/=_-]*\d)"
        r"[A-Za-z0-9+/=_-]{32,}"
    ),
]


def key_material_in(text: str) -> list[str]:
    return [m.group(0) for pattern in KEY_MATERIAL for m in pattern.finditer(text)]


@pytest.mark.parametrize(
    "sample",
    [
        "-----BEGIN RSA PRIVATE KEY-----",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "7f3c9a1be04d5f6a8b2c1d0e9f8a7b6c",
        "q8H2vN5xL0pR7tY3wZ6bC9mK1dF4gJ8sA2eU5iO=",
    ],
)
def test_the_scan_sees_key_material(sample: str) -> None:
    assert key_material_in(f'value = "{sample}"')


def test_the_scan_passes_resource_names() -> None:
    assert not key_material_in(
        "google_secret_manager_secret_iam_member.function_reads_secret "
        "roles/secretmanager.secretAccessor saludtech-field-encryption-key"
    )


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_key_material_in_deploy_files(path: Path) -> None:
    assert path.exists(), path
    assert key_material_in(path.read_text(encoding="utf-8")) == []


def test_no_secret_version_and_no_secret_data() -> None:
    for path in all_terraform_files():
        text = path.read_text(encoding="utf-8")
        assert "google_secret_manager_secret_version" not in text, path
        assert "secret_data" not in text, path


def test_secrets_are_mounted_by_reference_only() -> None:
    function = resources(PLATFORM_MODULE)[("google_cloudfunctions2_function", "function")]
    [service] = function["service_config"]
    [mount] = service["dynamic"][0]["secret_environment_variables"]["content"]
    assert mount["secret"].startswith("${google_secret_manager_secret.secret[")
    assert mount["version"] == "latest"


def test_no_variable_defaults_a_secret() -> None:
    for directory in {p.parent for p in TERRAFORM.rglob("*.tf")}:
        for entry in parse_dir(directory).get("variable", []):
            for name, body in entry.items():
                if re.search(r"(secret|password|token|key)(?!_name|_field)", name):
                    assert body.get("default") is None, f"{directory}: variable {name}"
