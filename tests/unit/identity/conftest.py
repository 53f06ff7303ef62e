"""The identity context on an in-memory platform: a clock the tests move, argon2 at a cheap
cost, one account per role, and its two doors as functions-framework serves them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from functions import bootstrap
from functions.bootstrap import InMemoryPlatform
from functions.identity import wiring
from functions.identity.domain import NewAccount
from functions.identity.messages import Role
from shared.config import Settings
from tests.support.functions import function_client

PASSWORD = "correct horse battery staple"
# argon2 at its production cost takes most of a second per hash on a busy machine.
CHEAP_PASSWORDS = {"api_password_time_cost": 1, "api_password_memory_kib": 64}


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Identity:
    platform: InMemoryPlatform
    clock: Clock
    commands: FlaskClient
    queries: FlaskClient
    users: dict[str, str] = field(default_factory=dict)  # username -> user id

    @property
    def wiring(self) -> wiring.IdentityWiring:
        return bootstrap.context(wiring.build)

    def add_user(self, username: str, role: Role, scope: str, **extra: str) -> str:
        user_id = self.wiring.accounts.register(
            NewAccount(username, PASSWORD, role, scope, f"{username}@example.com", "12345678",
                       **extra)
        )  # fmt: skip
        self.users[username] = user_id
        return user_id

    def log_in(self, username: str, password: str = PASSWORD) -> TestResponse:
        return self.commands.post("/sessions", json={"username": username, "password": password})

    def tokens(self, username: str) -> dict[str, Any]:
        answer = self.log_in(username)
        assert answer.status_code == 200, answer.get_json()
        found: dict[str, Any] = answer.get_json()
        return found

    def verify(self, access_token: str) -> TestResponse:
        return self.queries.post("/tokens/verify", json={"access_token": access_token})


def make_identity(**settings: Any) -> Iterator[Identity]:
    clock = Clock()
    chosen = Settings(**{**CHEAP_PASSWORDS, **settings})
    platform = dataclasses.replace(bootstrap.in_memory_platform(chosen), clock=clock)
    bootstrap.use(platform)
    identity = Identity(
        platform, clock, function_client("identity_commands_http"),
        function_client("identity_queries_http"),
    )  # fmt: skip
    identity.add_user("client-a", Role.CLIENT, "0001")
    identity.add_user("center-a", Role.CENTER, "hospital-1")
    identity.add_user("operator", Role.OPERATOR, "")
    yield identity
    bootstrap.use(None)


@pytest.fixture
def identity() -> Iterator[Identity]:
    yield from make_identity()


def reason(answer: TestResponse) -> tuple[int, str]:
    return answer.status_code, answer.get_json()["error"]["reason"]
