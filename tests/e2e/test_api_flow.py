"""The public API on the local stack: login, a command through the API to the subscriptions
context and its outcome, the timeline (ETag, SSE), the original route, a center's upload
through a signed URL into the pipeline, and rate-limit counters shared across instances."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.bootstrap import cloud_platform
from functions.identity import wiring as identity_wiring
from functions.identity.domain import NewAccount
from functions.identity.messages import Role
from shared.config import Settings
from shared.service.context import database_of
from tests.unit.subscriptions.factories import CLIENT

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
PASSWORD = "correct horse battery staple"


def api_url(stack: Any) -> str:
    return f"{stack.functions_url}/api_http"


def register(role: Role, scope: str) -> str:
    """An account made in identity's database of the stack's Firestore (the test's env points
    at it); a cheap argon2 cost, which the hash carries, so identity verifies it at that
    cost."""
    settings = Settings(api_password_time_cost=1, api_password_memory_kib=64)
    platform = cloud_platform(settings, database_of("identity"))
    accounts = identity_wiring.build(platform).accounts
    username = f"{role.value}-{uuid.uuid4().hex[:10]}"
    email = f"{username}@example.com"
    accounts.register(NewAccount(username, PASSWORD, Role(role.value), scope, email, "1"))
    return username


def login(stack: Any, username: str, address: str | None = None) -> dict[str, str]:
    """Authorization headers of a fresh session (each test from its own address, so the
    per-address login limit of one test never reaches another)."""
    response = requests.post(
        f"{api_url(stack)}/v1/auth/login",
        json={"username": username, "password": PASSWORD},
        headers={"X-Forwarded-For": address or f"10.{uuid.uuid4().int % 250}.0.1"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def until(probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def client_body(code: str) -> dict[str, Any]:
    return {"client": {**CLIENT, "code": code}, "plan": "PRO"}


def test_a_subscription_through_the_api(stack: Any) -> None:
    code = uuid.uuid4().hex[:8]
    auth = login(stack, register(Role.CLIENT, code))
    base = api_url(stack)
    accepted = requests.post(
        f"{base}/v1/subscriptions", json=client_body(code), headers=auth, timeout=10
    )
    assert accepted.status_code == 202, accepted.text
    links = accepted.json()["links"]

    def settled() -> dict[str, Any] | None:
        status: dict[str, Any] = requests.get(
            base + links["command"], headers=auth, timeout=10
        ).json()
        return status if status["status"] != "pending" else None

    assert until(settled)["status"] == "applied"
    view = requests.get(base + links["subscription"], headers=auth, timeout=10)
    assert view.status_code == 200
    assert "national_id" not in view.json()["client"]
    # The saga and the notifications keep the timeline moving for a while; once it rests,
    # a poll with its ETag is answered 304.
    tags = [""]

    def unchanged() -> bool:
        answer = requests.get(
            base + links["timeline"], headers={**auth, "If-None-Match": tags[-1]}, timeout=10
        )
        if answer.status_code == 200:
            tags.append(answer.headers["ETag"])
        return answer.status_code == 304

    assert until(unchanged)
    assert len(tags) >= 2
    # The stream sends the settled timeline, then ends.
    with requests.get(base + links["stream"], headers=auth, stream=True, timeout=30) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = [line for line in stream.iter_lines(decode_unicode=True) if line]
    events = [json.loads(line[6:]) for line in lines if line.startswith('data: {"')]
    assert events[0]["command"]["status"] == "applied"
    assert lines[-1] == "data: {}" and "event: end" in lines
    listed = requests.get(f"{base}/v1/subscriptions", headers=auth, timeout=10).json()
    assert [s["subscription_id"] for s in listed["items"]] == [accepted.json()["subscription_id"]]


def test_the_original_route_creates_a_subscription(stack: Any) -> None:
    code = uuid.uuid4().hex[:8]
    auth = login(stack, register(Role.CLIENT, code))
    original = {
        "cliente": {
            "codigo": code, "nombre": {"nombres": "Pablo", "apellidos": "Perez Prieto"},
            "usuario": "pperez", "rut": {"numero": CLIENT["rut"]},
            "cedula": {"numero": int(CLIENT["national_id"])}, "email": "pperez@example.com",
        },
        "plan": {"codigo": "pro", "nombre": "PRO"},
        "facturas": [],
    }  # fmt: skip
    base = api_url(stack)
    accepted = requests.post(
        f"{base}/suscripciones/suscripcion-comando", json=original, headers=auth, timeout=10
    )
    assert accepted.status_code == 202, accepted.text
    command = accepted.json()["links"]["command"]

    def settled() -> dict[str, Any] | None:
        status: dict[str, Any] = requests.get(base + command, headers=auth, timeout=10).json()
        return status if status["status"] != "pending" else None

    assert until(settled)["status"] == "applied"


def test_a_center_uploads_through_a_signed_url_into_its_own_catalogue(
    stack: Any, tmp_path: Path
) -> None:
    from infra.samples.synthetic_dicom import make_study, write_study

    center = f"center-{uuid.uuid4().hex[:8]}"
    auth = login(stack, register(Role.CENTER, center))
    base = api_url(stack)
    grant = requests.post(
        f"{base}/v1/uploads", json={"file_name": "scan.dcm"}, headers=auth, timeout=10
    ).json()
    assert grant["object"].startswith(f"{center}/uploads/")
    (path,) = write_study(
        make_study("DOE^JANE", n_series=1, n_instances=1, with_sr=False), tmp_path
    )
    put = requests.put(grant["url"], data=path.read_bytes(), headers=grant["headers"], timeout=30)
    assert put.status_code in (200, 201), put.text

    def catalogued() -> list[dict[str, Any]]:
        page: dict[str, Any] = requests.get(f"{base}/v1/images", headers=auth, timeout=10).json()
        items: list[dict[str, Any]] = page["items"]
        return items

    images = until(catalogued, timeout=90)
    assert [image["data_source"] for image in images] == [center]
    # Another center sees none of it.
    other = login(stack, register(Role.CENTER, f"center-{uuid.uuid4().hex[:8]}"))
    assert requests.get(f"{base}/v1/images", headers=other, timeout=10).json()["items"] == []
    image = images[0]["image_id"]
    assert requests.get(f"{base}/v1/images/{image}", headers=other, timeout=10).status_code == 404


def test_rate_limit_counters_are_shared_by_instances(stack: Any) -> None:
    # Two instances = two Firestore clients; eight threads hit one user's route at once.
    from google.cloud import firestore

    from functions.api.adapters.firestore_counters import FirestoreWindowCounters

    settings = Settings()
    collection = settings.collection("api_rate_limits")
    instances = [
        FirestoreWindowCounters(firestore.Client(project=settings.project_id), collection)
        for _ in range(2)
    ]
    counter = f"test-{uuid.uuid4().hex}"
    expires = datetime.now(UTC) + timedelta(minutes=2)
    totals: list[int] = []
    lock = threading.Lock()

    def hit(n: int) -> None:
        for _ in range(10):
            total = instances[n % 2].increment(counter, expires)
            with lock:
                totals.append(total)

    threads = [threading.Thread(target=hit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(totals) == 80  # every increment counted, whichever instance made it
    assert instances[0].increment(counter, expires) == 81


def test_a_burst_from_one_user_is_limited_across_the_functions_host(stack: Any) -> None:
    auth = login(stack, register(Role.CLIENT, uuid.uuid4().hex[:8]))
    limit = Settings().api_queries_per_minute
    url = f"{api_url(stack)}/v1/me"
    statuses: list[int] = []
    retry_after: list[str] = []

    def burst(n: int) -> None:
        with requests.Session() as session:
            for _ in range(n):
                response = session.get(url, headers=auth, timeout=10)
                statuses.append(response.status_code)
                if response.status_code == 429:
                    retry_after.append(response.headers["Retry-After"])

    # Windows are fixed minutes of the clock. A burst that straddled a boundary let the whole
    # burst through now and then (about 1 run in 6 on two busy cores): start it with at
    # least 30 s of its window left, so one window must refuse what passes the limit.
    left = 60 - time.time() % 60
    if left < 30:
        time.sleep(left + 0.5)
    threads = [threading.Thread(target=burst, args=((limit + 40) // 4,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A window boundary inside the burst lets up to twice the limit through, never more.
    assert set(statuses) <= {200, 429}
    assert 429 in statuses
    assert statuses.count(200) <= 2 * limit
    assert all(0 < int(seconds) <= 60 for seconds in retry_after)


def test_logout_and_disabling_revoke_live_tokens_and_operators_read_sagas(stack: Any) -> None:
    """On Firestore: the per-request token-version check refuses a token the moment its
    account logs out or is disabled, well inside its 10 minutes; an operator reads the STUCK
    list and a client its own subscription's sagas (the sagas' read side, composed)."""
    base = api_url(stack)
    username = register(Role.CLIENT, uuid.uuid4().hex[:8])
    address = {"X-Forwarded-For": f"10.{uuid.uuid4().int % 250}.1.1"}

    def session() -> dict[str, str]:
        answer = requests.post(
            f"{base}/v1/auth/login", json={"username": username, "password": PASSWORD},
            headers=address, timeout=10,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def me(access_token: str) -> int:
        headers = {"Authorization": f"Bearer {access_token}"}
        return requests.get(f"{base}/v1/me", headers=headers, timeout=10).status_code

    first = session()
    assert me(first["access_token"]) == 200
    logout = requests.post(
        f"{base}/v1/auth/logout", json={"refresh_token": first["refresh_token"]}, timeout=10
    )
    assert logout.status_code == 204
    assert me(first["access_token"]) == 401
    second = session()
    assert me(second["access_token"]) == 200
    operator = login(stack, register(Role.OPERATOR, ""))
    user_id = requests.get(
        f"{base}/v1/me", headers={"Authorization": f"Bearer {second['access_token']}"}, timeout=10
    ).json()["user_id"]
    disabled = requests.post(f"{base}/v1/users/{user_id}/disable", headers=operator, timeout=10)
    assert disabled.status_code == 200, disabled.text
    assert me(second["access_token"]) == 401
    stuck = requests.get(f"{base}/v1/sagas", headers=operator, timeout=10)
    assert stuck.status_code == 200 and "items" in stuck.json()
    assert all(s["status"] == "STUCK" for s in stuck.json()["items"])
