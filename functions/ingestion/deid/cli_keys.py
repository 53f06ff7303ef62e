"""The CLI's HMAC key: loading it, making a new one, and keyed names for reports."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .pseudonyms import MIN_KEY_BYTES

KEY_ENV = "SALUDTECH_HMAC_KEY"
NEW_KEY_BYTES = 32
MISSING_KEY = (
    f"no key: set {KEY_ENV} or pass --key-file; make one with `saludtech-deid keygen --out key.bin`"
)


class BadKey(ValueError):
    """The key is missing or unusable; the message is one line that says what to do."""


def load_key(key_file: Path | None) -> bytes:
    """The HMAC key from ``--key-file`` or the environment; hex is decoded when it looks hex."""
    if key_file is not None:
        try:
            raw = key_file.read_bytes().strip()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise BadKey(f"cannot read the key file {key_file}: {reason}") from None
    else:
        env = os.environ.get(KEY_ENV, "").strip()  # a pasted key often ends in a newline
        if not env:
            raise BadKey(MISSING_KEY)
        raw = env.encode()
    try:
        text = raw.decode("ascii")
        key = bytes.fromhex(text) if len(text) >= 2 * MIN_KEY_BYTES and len(text) % 2 == 0 else raw
    except (UnicodeDecodeError, ValueError):
        key = raw
    if len(key) < MIN_KEY_BYTES:
        raise BadKey(
            f"key too short: at least {MIN_KEY_BYTES} bytes; "
            "make one with `saludtech-deid keygen --out key.bin`"
        )
    return key


def new_key_hex() -> str:
    """A fresh random key, hex-encoded (what ``load_key`` reads back)."""
    return secrets.token_hex(NEW_KEY_BYTES)


def write_key_file(path: Path) -> None:
    """Write a new key readable by its owner only; never replaces an existing file."""
    # O_EXCL: an existing key is never overwritten, or every pseudonym made with it is lost.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fp:
        fp.write(new_key_hex() + "\n")
    os.chmod(path, 0o600)  # the umask can only remove bits; set them exactly anyway


def name_id(key: bytes, name: str) -> str:
    """A keyed hash of an input's name: how the journal and ``--redact-names`` refer to it.

    Keyed, so nobody without the key can test guessed names (file names may carry patient
    names) against it.
    """
    message = b"saludtech-deid/report-name/" + name.encode("utf-8", "surrogateescape")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24]
