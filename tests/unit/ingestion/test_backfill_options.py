"""What a backfill worker builds its settings from (functions/ingestion/backfill/options.py)."""

from __future__ import annotations

import pickle

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from functions.ingestion.backfill.options import WorkerConfig
from functions.ingestion.backfill.secrets import secret_version

HMAC = "projects/p/secrets/saludtech-hmac-key"
FIELD = "projects/p/secrets/saludtech-field-encryption-key/versions/3"
FIELD_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes


def test_options_name_the_secrets_and_the_worker_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SALUDTECH_BUCKET_PREFIX", "from-env")
    options = PipelineOptions(
        [f"--hmac_key_secret={HMAC}", f"--field_encryption_key_secret={FIELD}",
         "--saludtech_project=prod", "--bucket_prefix=saludtech-prod"]
    )  # fmt: skip
    config = WorkerConfig.from_options(options)
    secrets = {HMAC: "a-production-hmac-key-0123456789abcdef", FIELD: FIELD_KEY}

    settings = config.settings(read_secret=secrets.__getitem__)

    assert settings.project_id == "prod" and settings.bucket_prefix == "saludtech-prod"
    assert settings.require_hmac_key() == secrets[HMAC]
    assert settings.field_encryption_key.get_secret_value() == FIELD_KEY
    # What travels to the workers holds the secrets' names, never a key.
    assert secrets[HMAC].encode() not in pickle.dumps(config)


def test_the_environment_is_used_when_no_option_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "local-project")
    monkeypatch.setenv("SALUDTECH_BUCKET_PREFIX", "local-prefix")
    config = WorkerConfig.from_options(PipelineOptions([]))

    settings = config.settings(read_secret=lambda name: pytest.fail("no secret to read"))

    assert (settings.project_id, settings.bucket_prefix) == ("local-project", "local-prefix")
    assert config.project() == "local-project"


def test_a_development_key_in_secret_manager_is_refused() -> None:
    config = WorkerConfig(hmac_key_secret=HMAC)
    with pytest.raises(ValueError, match="development key"):
        config.settings(read_secret=lambda name: "local-development-hmac-key-not-for-production")


def test_a_secret_is_named_by_its_version_latest_by_default() -> None:
    assert secret_version(HMAC) == f"{HMAC}/versions/latest"
    assert secret_version(FIELD) == FIELD
    with pytest.raises(ValueError):
        secret_version("saludtech-hmac-key")
