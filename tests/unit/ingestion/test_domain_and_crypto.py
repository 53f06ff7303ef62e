"""Uploads as the domain sees them, and field-level encryption of the clinical history."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from functions.ingestion.domain import Descriptors, IngestionLimits, Upload, block_count
from functions.ingestion.field_crypto import FieldCipher, FieldCipherError
from shared.config import Settings
from shared.domain.errors import PermanentError


def test_upload_from_event_data() -> None:
    upload = Upload.from_event(
        {"bucket": "b", "name": "c-1/x/y.ZIP", "generation": "7", "size": "10",
         "metadata": {"pathology": " nodule "}}
    )  # fmt: skip
    assert (upload.center_id, upload.is_package, upload.generation) == ("c-1", True, 7)
    assert upload.descriptors == Descriptors(pathology="NODULE")
    assert upload.unit_id == Upload("b", "c-1/x/y.ZIP", 7, 0).unit_id
    assert upload.unit_id != Upload("b", "c-1/x/y.ZIP", 8, 0).unit_id
    assert not upload.too_large(IngestionLimits())
    assert Upload("b", "no-folder.dcm", 1, 0).center_id is None
    assert Upload("b", "../evil/x.dcm", 1, 0).center_id is None
    with pytest.raises(PermanentError):
        Upload.from_event({"bucket": "b"})


def test_limits_from_the_environment() -> None:
    limits = IngestionLimits.from_environment(
        {"SALUDTECH_INGEST_MAX_FILE_BYTES": "1048576", "SALUDTECH_INGEST_MAX_RATIO": "50"}
    )
    assert limits == IngestionLimits(max_file_bytes=1024 * 1024, max_ratio=50.0)
    assert IngestionLimits.from_environment({}) == IngestionLimits()


def test_block_count() -> None:
    assert [block_count(n) for n in (1, 64, 65, 128)] == [1, 1, 2, 2]


def test_cipher_round_trip_bound_to_the_record() -> None:
    cipher = FieldCipher.from_settings(Settings())
    token = cipher.encrypt("asthma since 2001", "image-1")
    assert "asthma" not in token and token != cipher.encrypt("asthma since 2001", "image-1")
    assert cipher.decrypt(token, "image-1") == "asthma since 2001"
    with pytest.raises(FieldCipherError):
        cipher.decrypt(token, "image-2")
    with pytest.raises(FieldCipherError):
        FieldCipher(b"k" * 32).decrypt(token, "image-1")


def test_cipher_key_from_settings() -> None:
    key = base64.b64encode(b"s" * 32).decode()
    configured = FieldCipher.from_settings(Settings(field_encryption_key=SecretStr(key)))
    assert FieldCipher(b"s" * 32).decrypt(configured.encrypt("x", "r"), "r") == "x"
    with pytest.raises(ValueError, match="base64 of 32 bytes"):
        FieldCipher.from_settings(Settings(field_encryption_key=SecretStr("short")))
    cloud = Settings(
        environment="cloud",
        hmac_key=SecretStr("k" * 40),
        jwt_key=SecretStr("j" * 40),
        payment_gateway="stripe",
    )
    with pytest.raises(ValueError, match="must be set in the cloud"):
        FieldCipher.from_settings(cloud)
