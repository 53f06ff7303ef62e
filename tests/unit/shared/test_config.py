import pytest
from pydantic import SecretStr, ValidationError

from shared.config import MissingSetting, Settings


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p-1")
    monkeypatch.setenv("SALUDTECH_BUCKET_PREFIX", "acme")
    monkeypatch.setenv("SALUDTECH_COLLECTION_PREFIX", "t1_")
    settings = Settings()
    assert settings.project_id == "p-1"
    assert settings.bucket("ingest") == "acme-ingest"
    assert settings.collection("subscriptions") == "t1_subscriptions"


EMULATORS = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A cloud function's environment with no key and no address: one that reads none."""
    for name in ("SALUDTECH_HMAC_KEY", "SALUDTECH_JWT_KEY", "SALUDTECH_JWT_KEYS", *EMULATORS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SALUDTECH_ENVIRONMENT", "cloud")
    monkeypatch.setenv("SALUDTECH_PAYMENT_GATEWAY", "stripe")
    return monkeypatch


def test_the_cloud_refuses_the_sandbox_gateway(cloud: pytest.MonkeyPatch) -> None:
    cloud.setenv("SALUDTECH_PAYMENT_GATEWAY", "sandbox")
    with pytest.raises(ValidationError, match="SALUDTECH_PAYMENT_GATEWAY"):
        Settings()  # the sandbox gateway charges nobody


def test_a_function_that_reads_no_key_starts_without_any(cloud: pytest.MonkeyPatch) -> None:
    settings = Settings()
    # No development default stands in for a key that is not mounted: it is empty.
    for name in ("hmac_key", "jwt_key", "jwt_keys", "webhook_secrets", "confirmation_keys"):
        assert getattr(settings, name).get_secret_value() == "", name


@pytest.mark.parametrize(
    ("use", "variable"),
    [
        (Settings.require_hmac_key, "SALUDTECH_HMAC_KEY"),
        (Settings.jwt_keyring, "SALUDTECH_JWT_KEYS"),
        (Settings.require_payment_api_key, "SALUDTECH_PAYMENT_API_KEY"),
        (Settings.require_public_url, "SALUDTECH_PUBLIC_URL"),
        (Settings.require_smtp_host, "SALUDTECH_SMTP_HOST"),
    ],
)
def test_the_code_that_uses_a_missing_key_or_address_refuses_it(
    cloud: pytest.MonkeyPatch, use: object, variable: str
) -> None:
    settings = Settings()
    with pytest.raises(MissingSetting, match=variable):
        use(settings)  # type: ignore[operator]


def test_keys_and_addresses_given_are_taken(cloud: pytest.MonkeyPatch) -> None:
    cloud.setenv("SALUDTECH_HMAC_KEY", "a" * 64)
    cloud.setenv("SALUDTECH_JWT_KEYS", "k1:" + "b" * 64 + ",k0:" + "c" * 64)
    cloud.setenv("SALUDTECH_PAYMENT_API_KEY", "p" * 32)
    cloud.setenv("SALUDTECH_PUBLIC_URL", "https://api.example.com/")
    cloud.setenv("SALUDTECH_SMTP_HOST", "smtp.example.com")
    settings = Settings()
    assert settings.require_hmac_key() == "a" * 64
    assert settings.jwt_keyring() == {"k1": "b" * 64, "k0": "c" * 64}
    assert settings.require_payment_api_key() == "p" * 32
    assert settings.require_public_url() == "https://api.example.com"
    assert settings.require_smtp_host() == "smtp.example.com"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SALUDTECH_HMAC_KEY", "local-development-hmac-key-not-for-production"),
        ("SALUDTECH_JWT_KEY", "local-development-jwt-key-not-for-production"),
        ("SALUDTECH_JWT_KEYS", "k1:" + "b" * 64 + ",k0:local-development-jwt-key"),
    ],
)
def test_a_development_key_given_in_the_cloud_is_refused(
    cloud: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    cloud.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable):
        Settings()


def test_a_keyring_given_must_hold_the_active_kid_and_no_empty_secret(
    cloud: pytest.MonkeyPatch,
) -> None:
    cloud.setenv("SALUDTECH_JWT_KEYS", "k1:" + "b" * 64)
    with pytest.raises(ValidationError, match="SALUDTECH_JWT_ACTIVE_KID"):
        Settings()
    cloud.setenv("SALUDTECH_JWT_KEYS", "k0:" + "b" * 64 + ",k1:")
    with pytest.raises(ValidationError, match="empty secret"):
        Settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SALUDTECH_PUBLIC_URL", "http://127.0.0.1:8090"),
        ("SALUDTECH_PUBLIC_URL", "https://localhost/"),
        ("SALUDTECH_PUBLIC_URL", "https://[::1]:8443"),
        ("SALUDTECH_PUBLIC_URL", "http://api.example.com"),  # links in the cloud are https
        ("SALUDTECH_SMTP_HOST", "127.0.0.1"),
        ("SALUDTECH_SMTP_HOST", "localhost"),
        ("SALUDTECH_SMTP_HOST", "0.0.0.0"),
    ],
)
def test_an_address_of_this_machine_is_refused_in_the_cloud(
    cloud: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    cloud.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable):
        Settings()


@pytest.mark.parametrize("emulator", ["FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"])
def test_the_local_cloud_mode_may_name_this_machine_only_beside_the_emulators(
    cloud: pytest.MonkeyPatch, emulator: str
) -> None:
    # `up --cloud-mode`: the mail sink and the functions are on loopback, and the clients
    # talk to emulators, which a deployed function never does.
    cloud.setenv("SALUDTECH_PUBLIC_URL", "http://127.0.0.1:8090/api_http")
    cloud.setenv("SALUDTECH_SMTP_HOST", "127.0.0.1")
    with pytest.raises(ValidationError, match="SALUDTECH_PUBLIC_URL"):
        Settings()
    # Cloud Storage's emulator alone does not count: only the clients of the state do.
    cloud.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443")
    with pytest.raises(ValidationError, match="SALUDTECH_PUBLIC_URL"):
        Settings()
    cloud.setenv(emulator, "127.0.0.1:8085")
    settings = Settings()
    assert settings.require_public_url() == "http://127.0.0.1:8090/api_http"
    assert settings.require_smtp_host() == "127.0.0.1"
    # The rest of the cloud's rules still hold there.
    cloud.setenv("SALUDTECH_PAYMENT_GATEWAY", "sandbox")
    with pytest.raises(ValidationError, match="sandbox"):
        Settings()


def test_the_cloud_does_not_take_the_local_addresses_by_default(cloud: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.public_url == "" and settings.smtp_host == ""


def test_locally_the_development_defaults_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SALUDTECH_HMAC_KEY", "SALUDTECH_JWT_KEY", "SALUDTECH_JWT_KEYS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert "local-development" in settings.require_hmac_key()
    assert settings.jwt_keyring() == {"k0": settings.jwt_key.get_secret_value()}
    assert settings.require_public_url() == "http://127.0.0.1:8090/api_http"
    assert settings.require_smtp_host() == "127.0.0.1"
    with pytest.raises(MissingSetting, match="SALUDTECH_PAYMENT_API_KEY"):
        settings.require_payment_api_key()  # the sandbox needs none; no default stands in


def test_locally_an_empty_keyring_is_refused() -> None:
    with pytest.raises(ValidationError, match="SALUDTECH_JWT_KEYS"):
        Settings(jwt_key=SecretStr(""))


def test_secrets_do_not_print() -> None:
    assert "local-development" not in repr(Settings())
