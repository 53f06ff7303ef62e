"""Webhooks: a signed JSON POST (Standard Webhooks) to the recipient's URL.

What an answer means: 2xx delivered; 408, 429 and 5xx, a timeout or a refused connection
are worth another attempt on the schedule; any other 4xx says the receiver will not take
this message, and a 3xx would take it elsewhere, so neither is retried (the notification
fails with `webhook_<status>`).
Redirects are not followed: a signed message goes where it was registered to go. Where
that may be is the guard's (webhook_guard.py): a refused URL fails the notification with
the guard's reason; the connection goes to the very address the guard checked, with the
URL's host as the Host header and the TLS server name (its certificate is verified).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import certifi
import urllib3

from functions.notifications.adapters import webhook_signing
from functions.notifications.adapters.webhook_guard import Target, UrlRefused, WebhookGuard
from functions.notifications.domain import Outcome
from functions.notifications.messages import ChannelPreference
from functions.notifications.ports import Outgoing

_RETRYABLE_4XX = {408, 425, 429}


def payload(outgoing: Outgoing) -> bytes:
    return json.dumps(
        {
            "type": f"notification.{outgoing.template}",
            "timestamp": outgoing.created_at,
            "data": {
                "notification_id": outgoing.notification_id,
                "recipient_id": outgoing.recipient_id,
                "template": outgoing.template,
                "subject": outgoing.subject,
                "text": outgoing.text,
                "facts": outgoing.facts,
                "cause_event_id": outgoing.cause_event_id,
                "cause_event_type": outgoing.cause_event_type,
                "confirm_url": outgoing.confirm_url,
            },
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


class WebhookChannel:
    def __init__(
        self,
        secrets: Sequence[str],
        now: Callable[[], int],
        guard: WebhookGuard | None = None,
        timeout: tuple[float, float] = (3.0, 10.0),
        ca_certs: str | None = None,  # the CA bundle; certifi's by default
    ) -> None:
        self._ca_certs = ca_certs or certifi.where()
        self._secrets = list(secrets)
        self._now = now
        self._guard = guard or WebhookGuard()
        self._timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])

    def send(self, outgoing: Outgoing, preference: ChannelPreference) -> Outcome:
        if not preference.url:
            return Outcome(False, "no_webhook_url", permanent=True)
        try:
            target = self._guard.resolve(preference.url)
        except UrlRefused as refused:
            return Outcome(False, refused.reason, permanent=refused.permanent)
        body = payload(outgoing)
        headers = {
            "host": target.host_header,
            "content-type": "application/json",
            "user-agent": "saludtech-notifications/1",
            **webhook_signing.headers(self._secrets, outgoing.notification_id, self._now(), body),
        }
        try:
            status = self._post(target, body, headers)
        except urllib3.exceptions.TimeoutError:
            return Outcome(False, "webhook_timeout")
        except urllib3.exceptions.HTTPError:
            return Outcome(False, "webhook_unreachable")
        if 200 <= status < 300:
            return Outcome(True)
        # A redirect is never followed, so asking again cannot help either.
        permanent = 300 <= status < 400 or (400 <= status < 500 and status not in _RETRYABLE_4XX)
        return Outcome(False, f"webhook_{status}", permanent=permanent)

    def _post(self, target: Target, body: bytes, headers: dict[str, str]) -> int:
        """POST to the checked address itself; no proxy, no redirect, no retry here."""
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                target.address, target.port, timeout=self._timeout, retries=False,
                server_hostname=target.host, assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED", ca_certs=self._ca_certs,
            )  # fmt: skip
        else:
            pool = urllib3.HTTPConnectionPool(
                target.address, target.port, timeout=self._timeout, retries=False
            )
        with pool:
            answer = pool.urlopen(
                "POST", target.path, body=body, headers=headers, redirect=False,
                retries=False, assert_same_host=False, preload_content=False,
            )  # fmt: skip
            status = int(answer.status)
            answer.release_conn()
            return status
