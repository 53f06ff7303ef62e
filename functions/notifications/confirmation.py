"""Confirmation links: signed, expiring, single-use.

A link carries the notification id and an expiry, signed with HMAC-SHA256. The first key
of the configured list signs; every key of it verifies, so a key is rotated by putting the
new one first and dropping the old one once its links have expired. A forged or altered
link fails the signature, an old one its expiry; a replayed one is refused by the
notification itself, which is confirmed once (domain.Notification.confirm).

A link opens on the public api (`<public_url>/v1/notifications/confirm?token=...`, served by
functions/api/routes_confirmations.py) in every environment: the notifications door that
checks the token is internal, so a link to it would be refused to whoever follows it.

A link has a purpose: a notification's confirmation (the default) or a change of a
client's address (address_change.py). Each purpose signs with its own key, derived from the
configured one, so a link of one purpose never verifies as a link of another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.errors import PermanentError

MAX_TOKEN_CHARS = 512
CONFIRM_PATH = "/v1/notifications/confirm"  # the public api's route for a link
ADDRESS_CHANGE_PATH = "/v1/notifications/address-change"  # ... for an address change


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ConfirmationLinks:
    keys: Sequence[bytes]
    # The public api's URL (settings.public_url): https://<region>-<project>.cloudfunctions.net
    # /api_http in the cloud, http://127.0.0.1:<the stack's port>/api_http locally.
    base_url: str
    ttl: timedelta = timedelta(days=3)
    # "" for a notification's confirmation (its links signed before purposes existed still
    # verify); any other purpose signs with a key of its own, HMAC(key, purpose).
    purpose: str = ""
    path: str = CONFIRM_PATH

    def _mac(self, key: bytes, notification_id: str, expires: int) -> bytes:
        if self.purpose:
            key = hmac.new(key, f"purpose:{self.purpose}".encode(), hashlib.sha256).digest()
        return hmac.new(key, f"{notification_id}.{expires}".encode(), hashlib.sha256).digest()

    def token(self, notification_id: str, now: datetime) -> str:
        expires = int((now + self.ttl).timestamp())
        mac = self._mac(self.keys[0], notification_id, expires)
        return f"{_b64(notification_id.encode())}.{expires}.{_b64(mac)}"

    def url(self, notification_id: str, now: datetime) -> str:
        token = self.token(notification_id, now)
        return f"{self.base_url.rstrip('/')}{self.path}?token={token}"

    def verify(self, token: str, now: datetime) -> str:
        """The notification id (or what a link of another purpose names) a genuine,
        unexpired token of this purpose names."""
        forged = PermanentError("invalid_link", "this link is not one we sent")
        parts = token.split(".") if len(token) <= MAX_TOKEN_CHARS else []
        if len(parts) != 3 or not parts[1].isdigit():
            raise forged
        try:
            notification_id, mac = _unb64(parts[0]).decode(), _unb64(parts[2])
        except (binascii.Error, UnicodeDecodeError, ValueError) as error:
            raise forged from error
        expires = int(parts[1])
        if not any(
            hmac.compare_digest(mac, self._mac(k, notification_id, expires)) for k in self.keys
        ):
            raise forged
        if now.timestamp() > expires:
            raise PermanentError("link_expired", "this link has expired")
        return notification_id


def link_id(token: str) -> str:
    """The same link followed twice is the same message (its inbox record refuses it)."""
    return hashlib.sha256(token.encode()).hexdigest()[:40]
