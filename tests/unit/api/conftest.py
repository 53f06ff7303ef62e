"""The api function on an in-memory platform, with a clock the tests move, and one account
per role (made in the identity context, which the api asks through its doors in-process)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import flask
import pytest
from werkzeug.test import EnvironBuilder

from functions import bootstrap
from functions.api import wiring
from functions.api.entrypoints import api_http
from functions.bootstrap import InMemoryPlatform
from functions.identity import wiring as identity_wiring
from functions.identity.domain import NewAccount
from functions.identity.messages import Role
from infra.samples.clients import SAMPLE_CLIENT
from shared.config import Settings

PASSWORD = "correct horse battery staple"
CLIENT_BODY: dict[str, Any] = {"client": SAMPLE_CLIENT, "plan": "PRO"}


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None


@dataclass
class Api:
    platform: InMemoryPlatform
    clock: Clock
    users: dict[str, str] = field(default_factory=dict)  # username -> user id

    @property
    def wiring(self) -> wiring.ApiWiring:
        return bootstrap.context(wiring.build)

    @property
    def identity(self) -> identity_wiring.IdentityWiring:
        return bootstrap.context(identity_wiring.build)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        query: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        builder = EnvironBuilder(
            path=path, method=method, data=data, headers=list(sent.items()), query_string=query
        )
        response = cast(flask.Response, api_http(flask.Request(builder.get_environ())))
        return Answer(response.status_code, dict(response.headers), response.get_data())

    def add_user(self, username: str, role: Role, scope: str, **extra: str) -> str:
        user_id = self.identity.accounts.register(
            NewAccount(username, PASSWORD, Role(role.value), scope,
                       f"{username}@example.com", "12345678", **extra)
        )  # fmt: skip
        self.users[username] = user_id
        return user_id

    def login(self, username: str, address: str = "203.0.113.7") -> str:
        answer = self.call(
            "POST", "/v1/auth/login", {"username": username, "password": PASSWORD},
            headers={"X-Forwarded-For": address},
        )  # fmt: skip
        assert answer.status == 200, answer.body
        token: str = answer.body["access_token"]
        return token


# argon2 at its production cost takes most of a second per hash on a busy machine.
CHEAP_PASSWORDS = {"api_password_time_cost": 1, "api_password_memory_kib": 64}


def make_api(**settings: Any) -> Iterator[Api]:
    clock = Clock()
    chosen = Settings(**{**CHEAP_PASSWORDS, **settings})
    platform = dataclasses.replace(bootstrap.in_memory_platform(chosen), clock=clock)
    bootstrap.use(platform)
    api = Api(platform=platform, clock=clock)
    api.add_user("client-a", Role.CLIENT, SAMPLE_CLIENT["code"])
    api.add_user("client-b", Role.CLIENT, "0002")
    api.add_user("center-a", Role.CENTER, "hospital-1")
    api.add_user("center-b", Role.CENTER, "hospital-2")
    api.add_user("expert-a", Role.EXPERT, "EXP-1")
    api.add_user("operator", Role.OPERATOR, "")
    yield api
    bootstrap.use(None)


@pytest.fixture
def api() -> Iterator[Api]:
    yield from make_api()
