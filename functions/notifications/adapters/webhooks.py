"""Webhooks: a signed JSON POST (Standard Webhooks) to the recipient's URL.

What an answer means: 2xx delivered; 408, 429 and 5xx, a timeout or a refused connection
are worth another attempt on the schedule; any other 4xx says the receiver will not take
this message, so it is not retried (the notification fails with `webhook_<status>`).
Redirects are not followed: a signed message goes where it was registered to go.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import requests

from functions.notifications.adapters import webhook_signing
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
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (3.0, 10.0),
    ) -> None:
        self._secrets = list(secrets)
        self._now = now
        self._session = session or requests.Session()
        self._timeout = timeout

    def send(self, outgoing: Outgoing, preference: ChannelPreference) -> Outcome:
        if not preference.url:
            return Outcome(False, "no_webhook_url", permanent=True)
        body = payload(outgoing)
        headers = {
            "content-type": "application/json",
            "user-agent": "saludtech-notifications/1",
            **webhook_signing.headers(self._secrets, outgoing.notification_id, self._now(), body),
        }
        try:
            answer = self._session.post(
                preference.url, data=body, headers=headers, timeout=self._timeout,
                allow_redirects=False,
            )  # fmt: skip
        except requests.Timeout:
            return Outcome(False, "webhook_timeout")
        except requests.RequestException:
            return Outcome(False, "webhook_unreachable")
        status = answer.status_code
        if 200 <= status < 300:
            return Outcome(True)
        permanent = 400 <= status < 500 and status not in _RETRYABLE_4XX
        return Outcome(False, f"webhook_{status}", permanent=permanent)
