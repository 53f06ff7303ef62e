"""docs/deploy.md adds the first version of every secret, and what it adds is what the code
takes: a function mounting `latest` of a secret without a version fails to deploy.

The commands are read off the document's Secrets section; those that generate a value
(`openssl rand ...`) are run, and the value is given to shared/config.py and to the code
that uses it, in the cloud.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess

import pytest

from infra.local.topology import load_topology
from shared.config import Settings
from shared.service.field_crypto import FieldCipher
from tests.unit.deploy.terraform_files import REPO_ROOT

TOPOLOGY = load_topology()
DOC = (REPO_ROOT / "docs" / "deploy.md").read_text("utf-8")
ADD = re.compile(
    r"^(?P<value>.*?)\|\s*gcloud secrets versions add (?P<secret>[\w-]+) --data-file=-"
)


def secrets_section() -> str:
    start = DOC.index("\n## Secrets\n")
    return DOC[start : DOC.index("\n## ", start + 1)]


def version_commands() -> dict[str, str]:
    """secret id -> the command before `| gcloud secrets versions add <id>`."""
    commands: dict[str, str] = {}
    for line in secrets_section().splitlines():
        match = ADD.match(line)
        if match:
            assert match["secret"] not in commands, f"{match['secret']} is added twice"
            commands[match["secret"]] = match["value"].strip()
    return commands


def test_every_secret_of_the_topology_gets_its_first_version_in_the_doc() -> None:
    assert set(version_commands()) == set(TOPOLOGY.secrets)


def test_every_value_is_generated_or_typed_never_written_down() -> None:
    for secret_id, command in version_commands().items():
        generated = "openssl rand" in command
        typed = command.startswith("read -rs KEY && printf '%s' \"$KEY\"")
        assert generated or typed, (secret_id, command)


# What the code needs of each generated value beyond Settings taking it in the cloud.
def _field_key(settings: Settings) -> None:
    FieldCipher.from_settings(settings)  # base64 of exactly 32 bytes


def _jwt_keys(settings: Settings) -> None:
    keyring = settings.jwt_keyring()
    assert settings.jwt_active_kid in keyring
    assert all(len(secret) >= 32 for secret in keyring.values())


def _webhook_secrets(settings: Settings) -> None:
    for secret in settings.webhook_secrets.get_secret_value().split(","):
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24


def _hmac_key(settings: Settings) -> None:
    assert len(settings.require_hmac_key()) >= 32


def _confirmation_keys(settings: Settings) -> None:
    assert all(len(k) >= 32 for k in settings.confirmation_keys.get_secret_value().split(","))


CHECKS = {
    "SALUDTECH_HMAC_KEY": _hmac_key,
    "SALUDTECH_FIELD_ENCRYPTION_KEY": _field_key,
    "SALUDTECH_JWT_KEYS": _jwt_keys,
    "SALUDTECH_WEBHOOK_SECRETS": _webhook_secrets,
    "SALUDTECH_CONFIRMATION_KEYS": _confirmation_keys,
}
GENERATED = sorted(s for s, command in version_commands().items() if "openssl rand" in command)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
@pytest.mark.parametrize("secret_id", GENERATED)
def test_a_generated_value_is_what_the_code_takes(
    secret_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = TOPOLOGY.secrets[secret_id].env
    assert env in CHECKS, f"{env}: say what the code needs of the generated value"
    value = subprocess.run(
        ["bash", "-c", version_commands()[secret_id]],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert value and "\n" not in value  # the secret holds the key, no line break
    for variable in [v for v in os.environ if v.startswith("SALUDTECH_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("SALUDTECH_ENVIRONMENT", "cloud")
    monkeypatch.setenv("SALUDTECH_PAYMENT_GATEWAY", "stripe")
    monkeypatch.setenv(env, value)
    CHECKS[env](Settings())
