"""In the cloud, Settings refuses the public development keys of webhook signing and
confirmation links (a default left unset is no key, and the context refuses to start), and
the local stack's permission to send webhooks to private addresses."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from functions.notifications import wiring
from shared.config import Settings

REAL = {
    "SALUDTECH_ENVIRONMENT": "cloud",
    "SALUDTECH_HMAC_KEY": "h" * 64,
    "SALUDTECH_JWT_KEY": "j" * 64,
    "SALUDTECH_PAYMENT_GATEWAY": "stripe",
}
DEVELOPMENT_WEBHOOK = Settings.model_fields["webhook_secrets"].default.get_secret_value()
REAL_WEBHOOK = "whsec_" + base64.b64encode(b"a real random key of 32 bytes!!!").decode()


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SALUDTECH_WEBHOOK_SECRETS", DEVELOPMENT_WEBHOOK),
        ("SALUDTECH_WEBHOOK_SECRETS", f"{REAL_WEBHOOK},{DEVELOPMENT_WEBHOOK}"),  # in a rotation
        (
            "SALUDTECH_WEBHOOK_SECRETS",
            "whsec_" + base64.b64encode(b"local-development-webhook-key-2").decode(),
        ),
        ("SALUDTECH_CONFIRMATION_KEYS", "local-development-confirmation-key"),
        ("SALUDTECH_CONFIRMATION_KEYS", "k" * 40 + ",local-development-confirmation-key"),
    ],
)
def test_a_development_key_given_in_the_cloud_is_refused(
    cloud: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    cloud.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable):
        Settings()


def test_keys_left_unset_in_the_cloud_are_no_keys_and_the_context_will_not_start(
    cloud: pytest.MonkeyPatch,
) -> None:
    settings = Settings()  # another context's function starts: it never signs anything
    assert settings.webhook_secrets.get_secret_value() == ""
    assert settings.confirmation_keys.get_secret_value() == ""
    with pytest.raises(ValueError, match="are needed"):
        wiring._keys(settings)
    cloud.setenv("SALUDTECH_WEBHOOK_SECRETS", REAL_WEBHOOK)
    cloud.setenv("SALUDTECH_CONFIRMATION_KEYS", "c" * 48)
    assert wiring._keys(Settings()) == ([REAL_WEBHOOK], [b"c" * 48])


def test_private_webhook_addresses_are_refused_in_the_cloud(cloud: pytest.MonkeyPatch) -> None:
    cloud.setenv("SALUDTECH_WEBHOOK_ALLOW_PRIVATE", "true")
    with pytest.raises(ValidationError, match="SALUDTECH_WEBHOOK_ALLOW_PRIVATE"):
        Settings()


def test_locally_the_development_keys_and_private_addresses_stay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SALUDTECH_WEBHOOK_ALLOW_PRIVATE", "true")
    settings = Settings()
    assert settings.webhook_secrets.get_secret_value() == DEVELOPMENT_WEBHOOK
    assert settings.webhook_allow_private
    assert wiring.webhook_guard(settings).allow_http
