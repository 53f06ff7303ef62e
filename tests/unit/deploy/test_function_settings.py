"""Every function starts with exactly what Terraform gives it, and that is what it needs.

Each function's settings are built from the variables Terraform sets on it (its plain
settings and the secrets the topology mounts into it, function_environment.py), in the
cloud; then its context is wired from them, as its entry points do on their first request,
on the in-memory platform. A key a function's code reads at start but that is not mounted
fails here, not in a cold start in the cloud; and the addresses the cloud gets are not this
machine's.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from functions import bootstrap
from infra.local.topology import context_of, load_topology
from shared.adapters.http_doors import door_url
from shared.config import MissingSetting, Settings
from tests.unit.deploy.function_environment import (
    DEPLOYER_SETTINGS,
    FUNCTION_BASE_URL,
    STAND_INS,
    derived_settings,
    function_environment,
)
from tests.unit.deploy.terraform_files import ENVIRONMENTS, REPO_ROOT

TOPOLOGY = load_topology()
DEPLOY_DOC = (REPO_ROOT / "docs" / "deploy.md").read_text("utf-8")


class _NoCloudClient:
    """google.cloud.storage.Client without credentials: the wiring only keeps it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass


def cloud_settings(
    monkeypatch: pytest.MonkeyPatch, environment: Path, derived: dict[str, Any], function: str
) -> Settings:
    for variable in [v for v in os.environ if v.startswith("SALUDTECH_")]:
        monkeypatch.delenv(variable)
    for variable, value in function_environment(environment, derived, function).items():
        monkeypatch.setenv(variable, value)
    return Settings()  # raises when the cloud would refuse to start the function


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
@pytest.mark.parametrize("function", sorted(TOPOLOGY.functions))
def test_every_function_starts_with_what_terraform_gives_it(
    environment: Path, function: str, derived: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = cloud_settings(monkeypatch, environment, derived, function)
    assert settings.environment == "cloud"
    # What its entry points do on the first request: the context's wiring, from these
    # settings (a gateway, signer or cipher that refuses a missing key refuses it here).
    context = context_of(TOPOLOGY.functions[function].target)
    wiring = importlib.import_module(f"functions.{context}.wiring")
    monkeypatch.setattr("google.cloud.storage.Client", _NoCloudClient)
    wiring.build(bootstrap.in_memory_platform(settings))


def test_every_secret_has_a_stand_in_and_every_deployer_setting_is_documented() -> None:
    assert {spec.env for spec in TOPOLOGY.secrets.values()} <= STAND_INS.keys()
    for name in DEPLOYER_SETTINGS:
        assert name in DEPLOY_DOC, f"docs/deploy.md does not tell the deployer to set {name}"


def is_this_machine(url: str) -> bool:
    host = urlsplit(url if "://" in url else f"//{url}").hostname or ""
    return host in ("localhost", "0.0.0.0", "::1") or host.startswith("127.")


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
def test_links_and_mail_in_the_cloud_never_point_at_this_machine(
    environment: Path, derived: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for function in TOPOLOGY.functions:
        settings = cloud_settings(monkeypatch, environment, derived, function)
        # The local stack's defaults (its functions host, its mail sink) are not the cloud's.
        for address in (settings.public_url, settings.smtp_host):
            assert not is_this_machine(address), (function, address)
        # Confirmation links point at the public API, over https.
        assert settings.require_public_url() == f"{FUNCTION_BASE_URL}/{derived['front_door']}"
    # A deployer who forgot the relay, or gave the local sink's address: never the sink.
    for variable in DEPLOYER_SETTINGS:
        monkeypatch.delenv(variable)
    forgot = Settings()
    assert forgot.smtp_host == ""
    with pytest.raises(MissingSetting, match="SALUDTECH_SMTP_HOST"):
        forgot.require_smtp_host()
    for variable, address in [
        ("SALUDTECH_SMTP_HOST", "127.0.0.1"),
        ("SALUDTECH_PUBLIC_URL", "http://127.0.0.1:8090"),
    ]:
        monkeypatch.setenv(variable, address)
        with pytest.raises(ValidationError, match=variable):
            Settings()
        monkeypatch.delenv(variable)


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda p: p.name)
def test_the_api_calls_each_door_it_may_invoke_at_that_doors_url(
    environment: Path, derived: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = cloud_settings(monkeypatch, environment, derived, "api")
    # Without a template the doors would run inside the api, which may open no other
    # context's database: every /v1 route would fail.
    assert settings.door_url_template
    callees = {g["callee"] for g in derived["invoke_grants"].values() if g["caller"] == "api"}
    assert callees
    for callee in callees:
        target = TOPOLOGY.functions[callee].target
        # The URL the ID token is minted for is the callee's own, where the grant is.
        assert door_url(settings.door_url_template, target) == f"{FUNCTION_BASE_URL}/{callee}"


def test_the_derived_settings_are_the_functions_own_urls(derived: dict[str, Any]) -> None:
    assert derived_settings(derived) == {
        "SALUDTECH_DOOR_URL_TEMPLATE": f"{FUNCTION_BASE_URL}/{{function}}",
        "SALUDTECH_PUBLIC_URL": f"{FUNCTION_BASE_URL}/api",
    }
