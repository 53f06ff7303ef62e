import pytest
from pydantic import ValidationError

from shared.config import Settings


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p-1")
    monkeypatch.setenv("SALUDTECH_BUCKET_PREFIX", "acme")
    monkeypatch.setenv("SALUDTECH_COLLECTION_PREFIX", "t1_")
    settings = Settings()
    assert settings.project_id == "p-1"
    assert settings.bucket("ingest") == "acme-ingest"
    assert settings.collection("subscriptions") == "t1_subscriptions"


def test_the_cloud_refuses_development_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALUDTECH_ENVIRONMENT", "cloud")
    with pytest.raises(ValidationError, match="SALUDTECH_HMAC_KEY"):
        Settings()
    monkeypatch.setenv("SALUDTECH_HMAC_KEY", "a" * 64)
    monkeypatch.setenv("SALUDTECH_JWT_KEY", "b" * 64)
    with pytest.raises(ValidationError, match="SALUDTECH_PAYMENT_GATEWAY"):
        Settings()  # the sandbox gateway charges nobody
    monkeypatch.setenv("SALUDTECH_PAYMENT_GATEWAY", "stripe")
    assert Settings().environment == "cloud"


def test_secrets_do_not_print() -> None:
    assert "local-development" not in repr(Settings())
