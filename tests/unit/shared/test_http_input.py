"""No 5xx from input: whatever a client sends to an HTTP function is a 4xx with a reason."""

from __future__ import annotations

import io
from typing import Any

import pytest

from functions.bootstrap import InMemoryPlatform
from tests.support.functions import function_client as client

ODD_IDS = ["..", "%2e%2e", "%2E%2E", ".", "__x__", "__name__", "a%2Fb", "x" * 300, "%00", "%20"]


@pytest.mark.parametrize("odd", ODD_IDS)
@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("subscriptions_queries_http", "/subscriptions/{}"),
        ("subscriptions_queries_http", "/commands/{}"),
        ("ingestion_queries_http", "/images/{}"),
    ],
)
def test_odd_path_ids_are_4xx(platform: InMemoryPlatform, target: str, path: str, odd: str) -> None:
    answer = client(target).get(path.format(odd))
    assert 400 <= answer.status_code < 500, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["reason"]


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_ids_in_command_paths_are_4xx(platform: InMemoryPlatform, odd: str) -> None:
    answer = client("subscriptions_commands_http").post(
        f"/subscriptions/{odd}/cancel", json={"reason": "budget"}
    )
    assert 400 <= answer.status_code < 500


@pytest.mark.parametrize(
    "cursor",
    [
        "WyJ4IiwgIi4uIl0",  # ["x", ".."]
        "WyJ4IiwgIl9feF9fIl0",  # ["x", "__x__"]
        "WzEsIDJd",  # [1, 2]
        "W1sxXSwgImEiXQ",  # [[1], "a"]
        "bnVsbA",  # null
        "A" * 5000,
    ],
)
def test_odd_cursors_are_400(platform: InMemoryPlatform, cursor: str) -> None:
    subs = client("subscriptions_queries_http").get(
        "/subscriptions", query_string={"client_code": "0001", "cursor": cursor}
    )
    images = client("ingestion_queries_http").get("/images", query_string={"cursor": cursor})
    for answer in (subs, images):
        assert answer.status_code == 400
        assert answer.get_json()["error"]["reason"] == "invalid_cursor"


@pytest.mark.parametrize(
    "body",
    [
        "[" * 30_000 + "]" * 30_000,
        '{"a":' * 30_000 + "1" + "}" * 30_000,
        '{"client": ' + "9" * 5_000 + "}",
        '{"plan": "PRO", "client": {"code": ' + "1" * 5000 + "}}",
    ],
)
def test_hostile_json_is_400(platform: InMemoryPlatform, body: str) -> None:
    answer = client("subscriptions_commands_http").post(
        "/subscriptions", data=body, content_type="application/json"
    )
    assert 400 <= answer.status_code < 500
    assert answer.get_json()["error"]["reason"] in ("malformed_json", "body_too_large")


@pytest.mark.parametrize("limit", ["99999999999999999999999", "-1", "1e3", "٣"])
def test_odd_limits_are_400(platform: InMemoryPlatform, limit: str) -> None:
    answer = client("subscriptions_queries_http").get(
        "/subscriptions", query_string={"client_code": "1", "limit": limit}
    )
    assert (answer.status_code, answer.get_json()["error"]["reason"]) == (400, "invalid_limit")


def test_unknown_query_parameters_are_400(platform: InMemoryPlatform) -> None:
    answer = client("subscriptions_queries_http").get(
        "/subscriptions", query_string={"client_code": "1", "status": "ACTIVE"}
    )
    assert (answer.status_code, answer.get_json()["error"]["reason"]) == (
        400,
        "unknown_parameter",
    )


def test_a_large_chunked_body_is_refused_without_being_read_whole(
    platform: InMemoryPlatform,
) -> None:
    class EndlessBody(io.RawIOBase):
        """300 MB of body if read to the end; counts what was read."""

        def __init__(self) -> None:
            self.read_bytes = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            if self.read_bytes >= 300_000_000:
                return 0
            size = len(buffer)
            buffer[:size] = b" " * size
            self.read_bytes += size
            return size

    body = EndlessBody()
    # What a server hands the function for a chunked body: no length, read until the end.
    # Through functions-framework's app: its after-request hook reads whatever the function
    # left unread, unless the response is streamed.
    answer = client("subscriptions_commands_http").post(
        "/subscriptions",
        content_type="application/json",
        environ_overrides={"wsgi.input": body, "wsgi.input_terminated": True},
    )
    assert (answer.status_code, answer.get_json()["error"]["reason"]) == (413, "body_too_large")
    assert answer.headers["Connection"] == "close"
    assert body.read_bytes < 1_000_000
