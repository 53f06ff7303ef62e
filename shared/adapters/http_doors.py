"""Doors over HTTP: the local functions host, or each function's own URL in the cloud.

In the cloud every door is a private function: a call carries an ID token of the caller's
service account whose audience is the door's URL (Cloud Run checks it, and checks that the
caller holds the invoker role Terraform grants from infra/topology.yaml's `invokes`).
Tokens are fetched from the metadata server and kept until shortly before they expire.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from shared.adapters import grants
from shared.ports.doors import DoorAnswer, DoorUnavailable, is_json

TIMEOUT_SECONDS = (3.05, 30.0)  # connect, read
TOKEN_LIFETIME_SECONDS = 3600
TOKEN_MARGIN_SECONDS = 300
IdTokenSource = Callable[[str], str]  # audience -> ID token
PIECE_BYTES = 256 * 1024  # of an answer that is passed on as it arrives


def door_url(template: str, target: str) -> str:
    """`{target}` is the entry point (the local host's path), `{function}` the deployed
    function's name (the topology's, dashes for underscores)."""
    return template.format(target=target, function=target.replace("_", "-"))


def metadata_id_tokens() -> IdTokenSource:
    """ID tokens of the function's own service account (google-auth, metadata server)."""
    import google.auth.transport.requests
    import google.oauth2.id_token

    request = google.auth.transport.requests.Request()

    def fetch(audience: str) -> str:
        return str(google.oauth2.id_token.fetch_id_token(request, audience))  # type: ignore[no-untyped-call]

    return fetch


def _pieces(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives; the connection goes back to the pool once it is read or the
    reader closes the iterator."""
    try:
        yield from response.iter_content(chunk_size=PIECE_BYTES)
    finally:
        response.close()


class HttpDoors:
    def __init__(
        self,
        url_template: str,
        id_tokens: IdTokenSource | None = None,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._template = url_template.rstrip("/")
        self._id_tokens = id_tokens
        self._session = session or requests.Session()
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _authorization(self, audience: str) -> dict[str, str]:
        if self._id_tokens is None:
            return {}
        with self._lock:
            token, fetched = self._tokens.get(audience, ("", -1e18))
            if self._clock() - fetched > TOKEN_LIFETIME_SECONDS - TOKEN_MARGIN_SECONDS:
                token = self._id_tokens(audience)
                self._tokens[audience] = (token, self._clock())
        return {"Authorization": f"Bearer {token}"}

    def call(
        self,
        target: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> DoorAnswer:
        # IAM's invoker check, on the caller's side too (the router plays Cloud Run's).
        grants.check_invoke(target.replace("_", "-"))
        base = door_url(self._template, target)
        sent = {**dict(headers or {}), **self._authorization(base)}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"))
            sent["Content-Type"] = "application/json"
        try:
            # Streamed: a success that is not JSON (DICOM, multipart) is passed on as it
            # arrives, never whole in memory; a JSON answer is read at once, as before.
            response = self._session.request(
                method, base + path, params=dict(params or {}), data=data, headers=sent,
                timeout=TIMEOUT_SECONDS, allow_redirects=False, stream=True,
            )  # fmt: skip
        except requests.RequestException as error:
            raise DoorUnavailable(f"{target} did not answer") from error
        if response.status_code >= 500:
            response.close()
            raise DoorUnavailable(f"{target} answered {response.status_code}")
        if response.ok and not is_json(response.headers.get("Content-Type")):
            return DoorAnswer(
                response.status_code, None, dict(response.headers), content=_pieces(response)
            )
        try:
            parsed = response.json() if response.content else None
        except ValueError as error:
            raise DoorUnavailable(f"{target} answered no JSON") from error
        return DoorAnswer(response.status_code, parsed, dict(response.headers))
