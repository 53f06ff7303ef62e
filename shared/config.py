"""Configuration of every function and tool, read once from environment variables.

In the cloud the keys come from Secret Manager (mounted as environment variables by the
function definition); locally they come from the environment the local stack sets.
The Google client libraries read the standard emulator variables themselves
(PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEVELOPMENT_KEY_MARK = "local-development"
# Plain settings whose local defaults point at this machine (the stack's functions host and
# mail sink): in the cloud one left unset is empty, and one given must not be loopback.
_LOCAL_ADDRESSES = ("public_url", "smtp_host")


class MissingSetting(ValueError):
    """A setting the code about to use it needs is empty: in the cloud, a key that
    infra/topology.yaml does not mount into this function, or an address not configured."""


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting is named, never echoed (pydantic would print
    # the start of the input, a key included, in the ValidationError).
    model_config = SettingsConfigDict(
        env_prefix="SALUDTECH_", extra="ignore", hide_input_in_errors=True
    )

    project_id: str = Field(
        default="saludtech-local",
        validation_alias="GOOGLE_CLOUD_PROJECT",
    )
    # Buckets are global names: `<bucket_prefix>-ingest`, `<bucket_prefix>-anonymized`, ...
    bucket_prefix: str = "saludtech-local"
    # Every Firestore collection of a context lives under `<collection_prefix><context>_...`;
    # empty in the cloud (one database per context), set by tests to isolate runs.
    collection_prefix: str = ""
    # Keys. The local defaults are for the emulators only. In the cloud a key left unset is
    # empty, since only the functions that use a key get it (infra/topology.yaml `secrets:`),
    # and the code that uses one asks for it with require_*() or jwt_keyring(), which refuse
    # an empty key; a key given must not be a development key, shorter than its minimum or
    # another secret's key (_SECRETS, checked at load by _check_secrets).
    hmac_key: SecretStr = SecretStr("local-development-hmac-key-not-for-production")
    jwt_key: SecretStr = SecretStr("local-development-jwt-key-not-for-production")
    field_encryption_key: SecretStr = SecretStr("")
    # The public API (functions/api). Signing keys of its access tokens: "kid:secret" pairs,
    # comma-separated; tokens are signed with jwt_active_kid and verified with any listed
    # kid, so a rotation adds the new key, switches the active kid, and drops the old key
    # once the longest token signed with it has expired. Empty: jwt_key under kid "k0".
    jwt_keys: SecretStr = SecretStr("")
    jwt_active_kid: str = "k0"
    api_access_token_seconds: int = Field(default=600, ge=30, le=3600)
    api_refresh_token_seconds: int = Field(default=14 * 24 * 3600, ge=300)
    # argon2id cost of account passwords (RFC 9106: 3 passes over 64 MiB).
    api_password_time_cost: int = Field(default=3, ge=1)
    api_password_memory_kib: int = Field(default=64 * 1024, ge=8)
    # Requests per user, per route, per fixed minute window (commands have their own).
    api_queries_per_minute: int = Field(default=240, ge=1)
    api_commands_per_minute: int = Field(default=60, ge=1)
    # Login attempts per client address (any account), per 15-minute window: slows password
    # spraying over many accounts. Refresh and logout calls per address, in their own bucket
    # (a valid refresh token never waits for others' failed logins).
    api_login_attempts_per_address: int = Field(default=100, ge=1)
    api_session_calls_per_address: int = Field(default=600, ge=1)
    # Failed logins (functions/identity/throttle.py): past the first, per account and address
    # (or known device), each further attempt waits 1 s, 2 s, 4 s... up to the cap; past the
    # second, per account in a window, so does every attempt without a known device. A
    # device token (answered by a password login) is known for identity_device_token_seconds.
    identity_login_failures_per_address: int = Field(default=5, ge=1)
    identity_login_failures_per_account: int = Field(default=20, ge=1)
    identity_login_window_seconds: int = Field(default=3600, ge=60)
    identity_login_backoff_cap_seconds: int = Field(default=15 * 60, ge=1)
    identity_device_token_seconds: int = Field(default=90 * 24 * 3600, ge=3600)
    # Google-issued ID tokens (Identity Platform / Firebase Auth): accepted when the audience
    # (the Firebase project id) is set; certificates are fetched from the URL and cached.
    google_id_audience: str = ""
    google_id_certs_url: str = (
        "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
    )
    # Signed upload URLs for centers: lifetime, and the service account whose key IAM
    # signBlob uses in the cloud (empty locally: a local key signs).
    api_upload_url_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    api_signing_service_account: str = ""
    # STOW-RS (POST /v1/dicomweb/studies): the body and the instances one request may send
    # (Cloud Functions cap a request at 32 MiB before this; docs/api.md "STOW-RS").
    api_stow_max_bytes: int = Field(default=2 * 1024**3, ge=1024)
    api_stow_max_parts: int = Field(default=10_000, ge=1)
    # How long a data request holds an expert's slot for its subscription: the time the
    # buyer has to pay before the slot is free again (ADR 0014 "Reservations").
    data_services_reservation_seconds: int = Field(default=24 * 3600, ge=60)
    # Payments: the sandbox answers by card token and charges nobody (local, tests); the
    # cloud takes Stripe (a test-mode key for a dev project).
    payment_gateway: Literal["sandbox", "stripe"] = "sandbox"
    payment_api_key: SecretStr = SecretStr("")
    payment_api_url: str = "https://api.stripe.com"
    # Notifications: the SMTP server (the stack's sink locally), the Standard Webhooks signing
    # secrets and the confirmation-link keys (comma-separated, the first one signs, all of
    # them verify: rotation), where confirmation links point, and the retry schedule. The
    # SMTP host and public_url default to this machine: in the cloud, unset is empty (the
    # code that sends mail or builds links asks with require_smtp_host(), require_public_url())
    # and loopback is refused; Terraform sets public_url to the public API's URL.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_sender: str = "SaludTech <notifications@saludtech.local>"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    webhook_secrets: SecretStr = SecretStr(
        "whsec_bG9jYWwtZGV2ZWxvcG1lbnQtd2ViaG9vay1rZXktMQ=="  # "local-development-webhook-key-1"
    )
    confirmation_keys: SecretStr = SecretStr("local-development-confirmation-key")
    public_url: str = "http://127.0.0.1:8090/api_http"  # the api on the default local port
    # Webhooks may go to loopback and private addresses (the local stack's receivers only;
    # refused in the cloud, where a webhook to 169.254.169.254 would read our metadata).
    webhook_allow_private: bool = False
    notification_retry_schedule: str = "5s,5m,30m,2h,5h,10h,10h"
    # Who is told of what needs an operator (a stuck saga); empty: such a notification fails
    # with no_channel (announced, and logged as an error), unless set by command.
    operator_email: str = ""
    # The minimum cell size k of what buyers see of the catalogue (data services' counts
    # and quotes, functions/data_services/catalogue_counts.py): a set of fewer than k
    # patients is never counted out loud, since a handful of people can be singled out.
    catalogue_min_cell: int = Field(default=10, ge=2)
    # Where a context's HTTP doors are (shared/adapters/http_doors.py): `{target}` is the
    # entry point, `{function}` the deployed function's name. Locally the stack's functions
    # host (http://127.0.0.1:8090/{target}); in the cloud each function's own URL
    # (https://<region>-<project>.cloudfunctions.net/{function}), called with an ID token.
    # Empty: the doors are called in-process (unit tests).
    door_url_template: str = ""
    # Publishing: where the events and commands of each context go.
    environment: str = "local"  # local | test | cloud
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _no_development_keys_in_the_cloud(self) -> Settings:
        # A deployed function must get its keys from Secret Manager; falling back to the
        # public development keys would make every pseudonym reversible by anyone.
        if self.environment == "cloud":
            self._unset_keys_are_empty()
            self._check_secrets()
            self._no_local_addresses()
            if self.payment_gateway == "sandbox":
                raise ValueError(
                    "SALUDTECH_PAYMENT_GATEWAY=sandbox charges nobody: not in the cloud"
                )
            if self.webhook_allow_private:
                raise ValueError(
                    "SALUDTECH_WEBHOOK_ALLOW_PRIVATE would let webhooks reach our own network:"
                    " not in the cloud"
                )
        # A keyring given must be usable; a cloud function that got none never signs.
        if (
            self.environment != "cloud"
            or self.jwt_keys.get_secret_value()
            or self.jwt_key.get_secret_value()
        ):
            keyring = self.jwt_keyring()  # refuses an empty secret
            if self.jwt_active_kid not in keyring:
                raise ValueError(
                    "SALUDTECH_JWT_KEYS must hold SALUDTECH_JWT_ACTIVE_KID, kid:secret"
                )
        return self

    def _unset_keys_are_empty(self) -> None:
        """A key left unset is no key at all in the cloud (not the public development
        default), so a function that never reads it needs no secret."""
        for name, field in type(self).model_fields.items():
            if field.annotation is SecretStr and name not in self.model_fields_set:
                setattr(self, name, SecretStr(""))

    def _check_secrets(self) -> None:
        """Every secret the cloud uses (each SecretStr setting, each key of a rotation
        list), in one place: refused when it is a development key, shorter than its
        minimum, not of its form, or the key of another secret. The error names the
        setting, never the value."""
        owners: dict[bytes, str] = {}
        for name, field in type(self).model_fields.items():
            if field.annotation is not SecretStr:
                continue
            spec = _SECRETS.get(name, _DEFAULT_SECRET)
            variable = f"SALUDTECH_{name.upper()}"
            raw = getattr(self, name).get_secret_value()
            for key in spec.keys_of(raw, variable):
                if _DEVELOPMENT_KEY_MARK.encode() in key:
                    raise ValueError(f"{variable} holds a public development key: not in the cloud")
                if len(key) < spec.min_bytes:
                    raise ValueError(
                        f"{variable} holds a key shorter than {spec.min_bytes} bytes:"
                        " not in the cloud"
                    )
                owner = owners.setdefault(key, spec.group or name)
                if owner != (spec.group or name):
                    raise ValueError(
                        f"{variable} holds the same key as SALUDTECH_{owner.upper()}:"
                        " every secret has its own key"
                    )

    def _no_local_addresses(self) -> None:
        """Where confirmation links point and the SMTP server: unset is empty (the code that
        sends mail or builds links refuses it), given must not be this machine."""
        for name in _LOCAL_ADDRESSES:
            value = str(getattr(self, name)).strip()
            if name not in self.model_fields_set or not value:
                setattr(self, name, "")
                continue
            url = urlsplit(value if "://" in value else f"//{value}")
            if _emulated():
                # The local stack's cloud mode: its mail sink and functions are on loopback.
                continue
            if _is_loopback(url.hostname or ""):
                raise ValueError(
                    f"SALUDTECH_{name.upper()}={value} is this machine: not in the cloud"
                )
            if name == "public_url" and url.scheme != "https":
                raise ValueError(f"SALUDTECH_PUBLIC_URL={value}: links in the cloud are https")

    def _required(self, name: str, value: str, where: str) -> str:
        if not value.strip():
            raise MissingSetting(
                f"SALUDTECH_{name.upper()} is not set, and this code needs it: {where}"
            )
        return value

    def require_hmac_key(self) -> str:
        """The key of pseudonyms and lookup tokens; refuses an empty one."""
        return self._required("hmac_key", self.hmac_key.get_secret_value(), _MOUNT)

    def require_payment_api_key(self) -> str:
        """The payment provider's secret key; refuses an empty one."""
        return self._required("payment_api_key", self.payment_api_key.get_secret_value(), _MOUNT)

    def require_public_url(self) -> str:
        """Where links sent to people point (confirmation links); refuses an empty one."""
        return self._required("public_url", self.public_url, _SET).rstrip("/")

    def require_smtp_host(self) -> str:
        """The SMTP server mail is sent through; refuses an empty one."""
        return self._required("smtp_host", self.smtp_host, _SET)

    def jwt_keyring(self) -> dict[str, str]:
        """kid -> secret of every access-token key currently accepted; refuses an empty
        keyring or an empty secret (a token signed with no key would be anyone's)."""
        raw = self.jwt_keys.get_secret_value().strip()
        if raw:
            keyring = _keyring(raw, self.jwt_active_kid)
        else:
            keyring = {"k0": self.jwt_key.get_secret_value()}
        if not keyring or not all(keyring.values()):
            raise MissingSetting(
                "SALUDTECH_JWT_KEYS is not set or holds an empty secret (kid:secret pairs),"
                f" and this code needs it: {_MOUNT}"
            )
        return keyring

    def bucket(self, logical_name: str) -> str:
        return f"{self.bucket_prefix}-{logical_name}"

    def collection(self, name: str) -> str:
        return f"{self.collection_prefix}{name}"


def _keyring(raw: str, active_kid: str) -> dict[str, str]:
    """kid -> secret of SALUDTECH_JWT_KEYS: "kid:secret" pairs, or one secret (no kid: the
    active kid's key)."""
    if ":" not in raw:
        return {active_kid: raw.strip()}
    keyring: dict[str, str] = {}
    for item in raw.split(","):
        kid, _, secret = item.partition(":")
        if kid.strip():
            keyring[kid.strip()] = secret.strip()
    return keyring


@dataclass(frozen=True)
class _Secret:
    """What a secret setting holds in the cloud: its keys' minimum length (in bytes of key
    material, after base64 where the form is base64), and how its value is written."""

    min_bytes: int
    # one: the whole value; list: comma-separated (a rotation); keyring: kid:secret pairs;
    # webhook: comma-separated `whsec_<base64>`; aes: base64 of exactly min_bytes bytes.
    form: Literal["one", "list", "keyring", "webhook", "aes"] = "one"
    # Settings that hold the same keys (the single JWT key is the keyring's fallback).
    group: str = ""

    def keys_of(self, raw: str, variable: str) -> list[bytes]:
        """The key material of every key the value holds; ValueError naming `variable`
        when the value is not of its form."""
        if not raw.strip():
            return []  # not mounted: the code that needs it refuses it (require_*)
        if self.form == "one":
            return [raw.strip().encode()]
        if self.form == "keyring":
            return [secret.encode() for secret in _keyring(raw, "").values() if secret]
        items = [item.strip() for item in raw.split(",") if item.strip()]
        if self.form == "list":
            return [item.encode() for item in items]
        form = "whsec_<base64>" if self.form == "webhook" else f"base64 of {self.min_bytes} bytes"
        try:
            keys = [base64.b64decode(i.removeprefix("whsec_"), validate=True) for i in items]
        except (binascii.Error, ValueError):
            raise ValueError(f"{variable} must be {form}") from None
        if self.form == "aes" and any(len(key) != self.min_bytes for key in keys):
            raise ValueError(f"{variable} must be {form}")
        return keys


# Every secret setting the cloud uses. HMAC keys (pseudonyms and lookups, access tokens,
# confirmation links, webhooks) are at least the size of their SHA-256 output (RFC 2104,
# RFC 7518 3.2); the field cipher's key is an AES-256 key; the payment key and the SMTP
# password are the providers' (a Stripe secret key is far longer than 32 characters).
_SECRETS: dict[str, _Secret] = {
    "hmac_key": _Secret(32),
    "jwt_key": _Secret(32, group="jwt_keys"),
    "jwt_keys": _Secret(32, "keyring", group="jwt_keys"),
    "field_encryption_key": _Secret(32, "aes"),
    "payment_api_key": _Secret(32),
    "smtp_password": _Secret(16),
    "webhook_secrets": _Secret(32, "webhook"),
    "confirmation_keys": _Secret(32, "list"),
}
# A secret setting added without its entry is still checked: one key of 32 bytes or more.
_DEFAULT_SECRET = _Secret(32)


_MOUNT = "in the cloud, infra/topology.yaml `secrets:` must mount it into this function"
_SET = "in the cloud, set it in the deployment's settings (docs/deploy.md)"


def _emulated() -> bool:
    """The Google clients talk to emulators (the local stack), which a deployed function
    never does: only then may a cloud-mode setting name this machine."""
    return any(os.environ.get(name) for name in _EMULATOR_HOSTS)


_EMULATOR_HOSTS = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST")


def _is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8, ::1, or the unspecified address (this machine as well)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
