"""Configuration of every function and tool, read once from environment variables.

In the cloud the keys come from Secret Manager (mounted as environment variables by the
function definition); locally they come from the environment the local stack sets.
The Google client libraries read the standard emulator variables themselves
(PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEVELOPMENT_KEY_MARK = "local-development"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SALUDTECH_", extra="ignore")

    project_id: str = Field(
        default="saludtech-local",
        validation_alias="GOOGLE_CLOUD_PROJECT",
    )
    # Buckets are global names: `<bucket_prefix>-ingest`, `<bucket_prefix>-anonymized`, ...
    bucket_prefix: str = "saludtech-local"
    # Every Firestore collection of a context lives under `<collection_prefix><context>_...`;
    # empty in the cloud (one database per context), set by tests to isolate runs.
    collection_prefix: str = ""
    # Keys. The local defaults are for the emulators only; a deployed function refuses them.
    hmac_key: SecretStr = SecretStr("local-development-hmac-key-not-for-production")
    jwt_key: SecretStr = SecretStr("local-development-jwt-key-not-for-production")
    field_encryption_key: SecretStr = SecretStr("")
    # Payments: the sandbox answers by card token and charges nobody (local, tests); the
    # cloud takes Stripe (a test-mode key for a dev project).
    payment_gateway: Literal["sandbox", "stripe"] = "sandbox"
    payment_api_key: SecretStr = SecretStr("")
    payment_api_url: str = "https://api.stripe.com"
    # Publishing: where the events and commands of each context go.
    environment: str = "local"  # local | test | cloud
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _no_development_keys_in_the_cloud(self) -> Settings:
        # A deployed function must get its keys from Secret Manager; falling back to the
        # public development keys would make every pseudonym reversible by anyone.
        if self.environment == "cloud":
            for name in ("hmac_key", "jwt_key"):
                value = getattr(self, name).get_secret_value()
                if not value or _DEVELOPMENT_KEY_MARK in value:
                    raise ValueError(f"SALUDTECH_{name.upper()} must be set in the cloud")
            if self.payment_gateway == "sandbox":
                raise ValueError(
                    "SALUDTECH_PAYMENT_GATEWAY=sandbox charges nobody: not in the cloud"
                )
        return self

    def bucket(self, logical_name: str) -> str:
        return f"{self.bucket_prefix}-{logical_name}"

    def collection(self, name: str) -> str:
        return f"{self.collection_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
