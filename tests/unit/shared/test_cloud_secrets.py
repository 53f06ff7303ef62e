"""Every secret the cloud uses, checked in one place when the settings load (issue 22):
a development key, a key shorter than its minimum, a key not of its form, or a key another
secret holds too is refused, the error naming the setting and never the value. Locally
the development defaults stay."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr, ValidationError

from infra.local.cloud_mode import new_secret_values
from infra.local.grants import FunctionGrants
from infra.local.topology import load_topology
from shared.config import _SECRETS, Settings

EMULATORS = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")


def _whsec(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


# One strong value per secret, all different (the shapes docs/deploy.md makes).
STRONG = {
    "SALUDTECH_HMAC_KEY": "h" * 64,
    "SALUDTECH_JWT_KEYS": "k0:" + "j" * 64,
    "SALUDTECH_FIELD_ENCRYPTION_KEY": base64.b64encode(b"f" * 32).decode(),
    "SALUDTECH_PAYMENT_API_KEY": "sk_test_" + "p" * 40,
    "SALUDTECH_SMTP_PASSWORD": "s" * 24,
    "SALUDTECH_WEBHOOK_SECRETS": _whsec(b"w" * 32),
    "SALUDTECH_CONFIRMATION_KEYS": "c" * 64,
}


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A deployed function with every secret mounted, each strong and its own."""
    for name in [*EMULATORS, "SALUDTECH_JWT_KEY"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SALUDTECH_ENVIRONMENT", "cloud")
    monkeypatch.setenv("SALUDTECH_PAYMENT_GATEWAY", "stripe")
    for name, value in STRONG.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_every_secret_setting_has_its_rule() -> None:
    secret_settings = {n for n, f in Settings.model_fields.items() if f.annotation is SecretStr}
    assert secret_settings == set(_SECRETS)
    assert {f"SALUDTECH_{n.upper()}" for n in secret_settings} == {*STRONG, "SALUDTECH_JWT_KEY"}


def test_strong_keys_of_their_own_are_taken(cloud: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.jwt_keyring() == {"k0": "j" * 64}
    assert settings.require_hmac_key() == "h" * 64


WEAK = [
    # The access tokens' keyring, which the api's tokens are signed with (issue 22).
    ("SALUDTECH_JWT_KEYS", "k0:local-development-jwt-key-not-for-production"),
    ("SALUDTECH_JWT_KEYS", "k0:secret"),
    ("SALUDTECH_JWT_KEYS", "k0:x"),
    ("SALUDTECH_JWT_KEYS", "secret"),  # one secret, no kid
    ("SALUDTECH_JWT_KEYS", "k0:" + "j" * 64 + ",k1:" + "t" * 31),  # in a rotation
    ("SALUDTECH_JWT_KEY", "secret"),  # the keyring's fallback
    ("SALUDTECH_JWT_KEY", "local-development-jwt-key-not-for-production"),
    ("SALUDTECH_HMAC_KEY", "local-development-hmac-key-not-for-production"),
    ("SALUDTECH_HMAC_KEY", "x"),
    ("SALUDTECH_HMAC_KEY", "h" * 31),
    ("SALUDTECH_FIELD_ENCRYPTION_KEY", base64.b64encode(b"f" * 16).decode()),
    ("SALUDTECH_FIELD_ENCRYPTION_KEY", "%%%% not base64 %%%%"),
    ("SALUDTECH_PAYMENT_API_KEY", "sk_test_123"),
    ("SALUDTECH_SMTP_PASSWORD", "password"),
    ("SALUDTECH_WEBHOOK_SECRETS", _whsec(b"local-development-webhook-key-1")),
    ("SALUDTECH_WEBHOOK_SECRETS", _whsec(b"short")),
    ("SALUDTECH_WEBHOOK_SECRETS", "whsec_%%%%%%%%%%"),
    ("SALUDTECH_CONFIRMATION_KEYS", "local-development-confirmation-key"),
    ("SALUDTECH_CONFIRMATION_KEYS", "c" * 64 + ",secret"),
]


@pytest.mark.parametrize(("variable", "value"), WEAK)
def test_a_weak_key_is_refused_by_name_never_by_value(
    cloud: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    cloud.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable) as refused:
        Settings()
    said = str(refused.value)
    text = value.replace("whsec_", "")  # the form's name, which the error may say
    for part in [text, *text.replace(":", ",").split(",")]:
        assert len(part) < 6 or part[:6] not in said, part  # not even the start of it


@pytest.mark.parametrize(
    ("variable", "value", "other"),
    [
        ("SALUDTECH_JWT_KEYS", "k0:" + "h" * 64, "SALUDTECH_HMAC_KEY"),
        ("SALUDTECH_JWT_KEYS", "k0:" + "j" * 64 + ",k1:" + "c" * 64, "SALUDTECH_JWT_KEYS"),
        ("SALUDTECH_CONFIRMATION_KEYS", "h" * 64, "SALUDTECH_HMAC_KEY"),
        ("SALUDTECH_WEBHOOK_SECRETS", _whsec(b"c" * 64), "SALUDTECH_CONFIRMATION_KEYS"),
        ("SALUDTECH_SMTP_PASSWORD", "sk_test_" + "p" * 40, "SALUDTECH_PAYMENT_API_KEY"),
    ],
)
def test_a_key_another_secret_holds_is_refused(
    cloud: pytest.MonkeyPatch, variable: str, value: str, other: str
) -> None:
    cloud.setenv(variable, value)
    with pytest.raises(ValidationError, match="the same key") as refused:
        Settings()
    assert variable in str(refused.value) and other in str(refused.value)


def test_the_single_jwt_key_may_be_the_keyrings_own(cloud: pytest.MonkeyPatch) -> None:
    cloud.setenv("SALUDTECH_JWT_KEY", "j" * 64)  # the fallback of the same keyring
    assert Settings().jwt_keyring() == {"k0": "j" * 64}


def test_locally_the_development_keys_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*STRONG, "SALUDTECH_JWT_KEY", "SALUDTECH_ENVIRONMENT"]:
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert "local-development" in settings.jwt_keyring()["k0"]
    assert "local-development" in settings.require_hmac_key()


def test_the_local_cloud_mode_makes_keys_the_cloud_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    """`up --cloud-mode` mounts values made at start, per run: every secret of the
    topology at once passes the cloud's check."""
    mounted = {s.env: secret_id for secret_id, s in load_topology().secrets.items()}
    everything = FunctionGrants("all", "all", "fn-all", None, secrets=mounted)
    values = new_secret_values({"all": everything})
    assert set(values) == set(mounted)
    for name in [*EMULATORS, *STRONG, "SALUDTECH_JWT_KEY"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SALUDTECH_ENVIRONMENT", "cloud")
    monkeypatch.setenv("SALUDTECH_PAYMENT_GATEWAY", "stripe")
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    Settings()
    assert new_secret_values({"all": everything}) != values  # made per run
