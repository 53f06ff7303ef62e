"""Keyed, stable pseudonyms: UIDs, patient tokens and per-patient date offsets.

One secret key is split into independent subkeys with HMAC-SHA256 over fixed labels, so a
leaked UID mapping says nothing about tokens or date shifts. Everything is a pure function
of (key, input): the same key gives the same output in every process, which keeps
references between separately uploaded studies intact without any table of identities.
"""

from __future__ import annotations

import hashlib
import hmac

# The standard's own UIDs (SOP classes, transfer syntaxes, coding schemes) identify nobody
# and must survive, otherwise objects stop being interpretable.
WELL_KNOWN_UID_ROOT = "1.2.840.10008."

MIN_KEY_BYTES = 16
MAX_SHIFT_DAYS = 3652  # up to ~10 years back
MIN_SHIFT_DAYS = 1


def _subkey(key: bytes, label: str) -> bytes:
    return hmac.new(key, b"saludtech-deid/v1/" + label.encode(), hashlib.sha256).digest()


class Pseudonymizer:
    """Derives UIDs, tokens and date offsets from one secret key."""

    __slots__ = ("_date_key", "_token_key", "_uid_cache", "_uid_key")

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the HMAC key must be at least {MIN_KEY_BYTES} bytes")
        self._uid_key = _subkey(key, "uid")
        self._token_key = _subkey(key, "patient-token")
        self._date_key = _subkey(key, "date-shift")
        self._uid_cache: dict[str, str] = {}

    def uid(self, original: str, scope: str = "") -> str:
        """Map a UID to ``2.25.<decimal of 128 bits of HMAC>`` (at most 44 chars, valid syntax).

        Well-known DICOM UIDs are returned unchanged. With a `scope` (a center id) the UID is
        keyed to that scope too: ingestion gives a center's copy of an instance another
        center sent first its own UIDs (docs/decisions/0013-referrals.md), so the two copies
        are distinct images that do not reveal each other.
        """
        original = original.strip("\x00 ")
        if not original or original.startswith(WELL_KNOWN_UID_ROOT):
            return original
        message = (scope + "\x00" + original) if scope else original
        cached = self._uid_cache.get(message)
        if cached is not None:
            return cached
        digest = hmac.new(self._uid_key, message.encode("ascii", "replace"), hashlib.sha256)
        mapped = "2.25." + str(int.from_bytes(digest.digest()[:16], "big"))
        if len(self._uid_cache) < 100_000:  # bounded: a worker sees many files
            self._uid_cache[message] = mapped
        return mapped

    def patient_token(self, center_id: str, patient_key: str) -> str:
        """Stable pseudonymous patient token for (center, patient); 32 hex chars."""
        message = center_id.encode() + b"\x00" + patient_key.encode("utf-8", "replace")
        return hmac.new(self._token_key, message, hashlib.sha256).hexdigest()[:32]

    def date_offset_days(self, center_id: str, patient_key: str) -> int:
        """Days to subtract from every date of this patient (same patient, same shift)."""
        message = center_id.encode() + b"\x00" + patient_key.encode("utf-8", "replace")
        digest = hmac.new(self._date_key, message, hashlib.sha256).digest()
        span = MAX_SHIFT_DAYS - MIN_SHIFT_DAYS + 1
        return MIN_SHIFT_DAYS + int.from_bytes(digest[:8], "big") % span
