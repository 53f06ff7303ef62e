"""The security regression suite, on the session's stack, through the public /v1 only.

Two tenants of every role (two centers, two clients, two experts, two operators) and a full
flow of tenant A's with planted identities: a center's DICOM images whose headers carry a
planted patient name, id, birth date and free text (one through a signed upload whose
object name carries the name, nine through STOW-RS); a client's PRO subscription with a
planted RUT, national id and email, its data request reviewed by an expert registered
with a planted national id and email, paid through to delivery, with its emails sent.

Then, read from the api's own /v1/openapi.json so a new route is covered without an edit:
- every forged token (tests/unit/api/test_forged_tokens.py's kinds) on every protected
  operation is a 401;
- tenant B of every role asks for tenant A's resources on every route that names one,
  reads and writes: never a 2xx, never a 5xx, a 403 (not its role) or a 404 (not its
  own); its lists never hold A's ids. A route it cannot exercise is in NOT_CROSS_TENANT
  with the reason, and a route neither exercised nor listed fails the suite;
- the PHI sweep: every planted value, in every form it could be copied in, is searched in
  every log of the run, every message on every topic (a pull subscription on each, made
  before the flow), every document of every database, every email of the mailbox and the
  delivered files. Patient data: nowhere. A client's or an expert's contact: never in a
  log, a document in clear or a mail body; on a topic only as a contract field that
  carries it on purpose (ALLOWED_ON_TOPICS); an address only as its own mail's recipient.

Its figures (requests, 4xx, 5xx, leaks) are printed and written to
.artifacts/security/summary.json; 5xx and leaks must both be 0."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydicom
import pytest
import requests

from functions.identity.messages import Role
from infra.samples.clients import SAMPLE_CLIENT
from tests.e2e.test_api_flow import api_url, login, register
from tests.support.security_suite import (
    REPO,
    ROLES,
    CountedSession,
    Leak,
    Operation,
    Planted,
    StackForger,
    Tally,
    TopicTap,
    needles,
    operations,
    sweep_documents,
    sweep_files,
    sweep_logs,
    sweep_mailbox,
    sweep_topics,
)
from tests.unit.api.test_forged_tokens import AN_ID, USER_OF_ROLE, Forger
from tests.unit.ingestion.helpers import dicom_bytes, study

pytestmark = [
    pytest.mark.emulators,
    pytest.mark.e2e,
    # HS512 with the HS256-sized key is one of the forgeries: PyJWT warns about its length.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]
SUMMARY = REPO / ".artifacts" / "security" / "summary.json"
T = TypeVar("T")

# Cells of the cross-tenant matrix that are not a tenant asking for another's resource.
# Operators act platform-wide (no tenant): an operator on a route of its role is never a
# cross-tenant cell, whatever the route (the rule in `_cells`). A route whose only role is
# the operator's is therefore exercised by the other roles alone (each a 403), and listed:
OPERATOR_ONLY = "operators act platform-wide (no tenant); the other roles are refused (403)"
NOT_CROSS_TENANT: dict[str, str] = {
    "POST /v1/users/{user_id}/disable": OPERATOR_ONLY,
    "POST /v1/users/{user_id}/enable": OPERATOR_ONLY,
    "POST /v1/sagas/{saga_id}/retry": OPERATOR_ONLY,
    "GET /v1/experts/{expert_code}": OPERATOR_ONLY,
    "POST /v1/experts/{expert_code}/retire": OPERATOR_ONLY,
    "POST /v1/review/quarantine/{rejection_id}/release": OPERATOR_ONLY,
    "POST /v1/review/quarantine/{rejection_id}/discard": OPERATOR_ONLY,
    # A store names a study UID, not a stored resource of another tenant: what a center
    # stores through it is its own copy (docs/decisions/0013-referrals.md), never written
    # into another center's study (tests/e2e/test_stow.py). Other roles: 403.
    "POST /v1/dicomweb/studies/{study_id}": "a store makes the center's own copy (ADR 0013)",
}
# Valid bodies of the writes, so a refusal is the ownership's and not the body's.
BODIES: dict[str, dict[str, Any]] = {
    "POST /v1/subscriptions/{subscription_id}/plan": {"plan": "BASIC"},
    "POST /v1/subscriptions/{subscription_id}/cancel": {"reason": "security suite"},
    "POST /v1/subscriptions/{subscription_id}/payments": {"card_token": "tok_visa"},
    "POST /v1/subscriptions/{subscription_id}/data-request": {
        "dataset": {"code": "stolen", "criteria": {}},
        "cloud": {"code": "links", "type": "links"},
    },
    "POST /v1/assignments/{data_service_id}/exclusions": {"reason": "artifact"},
    "POST /v1/assignments/{data_service_id}/approve": {},
}


def _until(probe: Callable[[], T | None], what: str, timeout: float = 120) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.4)


@dataclass
class Account:
    role: str
    username: str
    scope: str
    headers: dict[str, str]
    user_id: str = ""


class Tenants:
    """Two accounts of every role ("A" holds the flow's resources, "B" asks for them)."""

    def __init__(self, stack: Any, base: str, token: str) -> None:
        self.base = base
        scopes: dict[str, Callable[[str], str]] = {
            "center": lambda t: f"center-sec-{token}-{t.lower()}",
            "client": lambda t: f"csec{token}{t.lower()}",
            "expert": lambda t: f"EXP-SEC-{token}-{t}".upper(),
            "operator": lambda t: "",
        }
        self.accounts: dict[tuple[str, str], Account] = {}
        for role in ROLES:
            for tenant in ("A", "B"):
                scope = scopes[role](tenant)
                username = register(Role(role), scope)
                headers = login(stack, username)
                self.accounts[role, tenant] = Account(role, username, scope, headers)
        for account in self.accounts.values():
            me = requests.get(f"{base}/v1/me", headers=account.headers, timeout=30)
            assert me.status_code == 200, me.text
            account.user_id = me.json()["user_id"]

    def __getitem__(self, key: tuple[str, str]) -> Account:
        return self.accounts[key]


def _planted_images(planted: Planted) -> list[bytes]:
    """One image per planted patient id, its headers carrying the planted identity."""
    images = []
    for patient_id in planted.patient_ids:
        (data,) = study(n_instances=1, seed=89, patient_name=planted.patient_name, patient_id=patient_id)  # fmt: skip
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.PatientBirthDate = planted.birth_date
        ds.PatientComments = planted.free_text
        ds.ImageComments = f"{planted.patient_name.replace('^', ' ')}: {planted.free_text}"
        images.append(dicom_bytes(ds))
    return images


def _stow_body(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
            for part in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


class Flow:
    """Tenant A's full flow through /v1, every answer tallied under "flow"."""

    def __init__(self, base: str, tenants: Tenants, planted: Planted, tally: Tally) -> None:
        self.base, self.tenants, self.planted = base, tenants, planted
        self.http = CountedSession(tally, "flow")
        self.ids: dict[str, str] = {}
        self.delivered: dict[str, bytes] = {}

    def call(self, account: Account, method: str, path: str, **options: Any) -> Any:
        return self.http.request(method, f"{self.base}{path}", headers={
            **account.headers, **options.pop("headers", {})}, **options)  # fmt: skip

    def applied(self, account: Account, answer: requests.Response) -> dict[str, Any]:
        assert answer.status_code == 202, answer.text
        accepted: dict[str, Any] = answer.json()
        path = accepted["links"]["command"].removeprefix("/api_http")

        def settled() -> dict[str, Any] | None:
            found: dict[str, Any] = self.call(account, "GET", path).json()
            return None if found.get("status") == "pending" else found

        outcome = _until(settled, f"the command of {answer.request.path_url}")
        assert outcome["status"] == "applied", outcome
        return accepted

    def images(self) -> None:
        center = self.tenants["center", "A"]
        first, *rest = _planted_images(self.planted)
        grant = self.call(
            center, "POST", "/v1/uploads", json={"file_name": self.planted.object_name}
        )
        assert grant.status_code in (200, 201), grant.text
        put = requests.put(
            grant.json()["url"], data=first, headers=grant.json()["headers"], timeout=60
        )
        assert put.status_code in (200, 201), put.text
        body, content_type = _stow_body(rest)
        stored = self.call(center, "POST", "/v1/dicomweb/studies", data=body,
                           headers={"Content-Type": content_type})  # fmt: skip
        assert stored.status_code in (200, 202), stored.text

    def experts(self, speciality: str) -> None:
        operator = self.tenants["operator", "A"]
        for tenant in ("A", "B"):
            code = self.tenants["expert", tenant].scope
            contact = (
                (self.planted.expert_national_id, self.planted.expert_email)
                if tenant == "A"
                else (f"EXB{uuid.uuid4().hex[:8]}".upper(), f"{code.lower()}@example.com")
            )
            body = {
                "expert_code": code, "first_names": "Ana", "last_names": "Ruiz",
                "username": code.lower(), "national_id": contact[0], "email": contact[1],
                # B's speciality its own: the service's assignment goes to expert A.
                "specialities": [speciality if tenant == "A" else f"{speciality}B"],
                "capacity": 5,
            }  # fmt: skip
            self.applied(operator, self.call(operator, "POST", "/v1/experts", json=body))

    def subscriptions(self) -> None:
        planted = self.planted
        for tenant, plan in (("A", "PRO"), ("B", "BASIC")):
            client = self.tenants["client", tenant]
            contact = (
                {"rut": planted.client_rut, "national_id": planted.client_national_id,
                 "email": planted.client_email}
                if tenant == "A"
                else {"email": f"{client.scope}@example.com"}
            )  # fmt: skip
            body = {"client": {**SAMPLE_CLIENT, "code": client.scope, **contact}, "plan": plan}
            accepted = self.applied(
                client, self.call(client, "POST", "/v1/subscriptions", json=body)
            )
            if tenant == "A":
                self.ids["subscription_id"] = accepted["subscription_id"]
                self.ids["command_id"] = accepted["command_id"]

    def catalogued(self) -> None:
        center = self.tenants["center", "A"]

        def ten() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = self.call(
                center, "GET", "/v1/images", params={"limit": 50}
            ).json()["items"]
            return items if len(items) >= len(self.planted.patient_ids) else None

        images = _until(ten, "the planted images in the center's catalogue", 180)
        self.ids["image_id"] = str(images[0]["image_id"])
        self.ids["study_id"] = str(images[0]["study_id"])
        self.ids["series_id"] = str(images[0]["series_id"])
        uploads = self.call(center, "GET", "/v1/uploads").json()["items"]
        self.ids["upload_id"] = str(uploads[0]["upload_id"])

    def purchase(self, speciality: str) -> None:
        client = self.tenants["client", "A"]
        sid = self.ids["subscription_id"]
        request = {
            "dataset": {
                "code": "sec",
                "criteria": {"sources": [self.tenants["center", "A"].scope]},
            },
            "cloud": {"code": "links", "type": "links"},
            "speciality": speciality,
            "review_required": True,
        }

        def accepted() -> requests.Response | None:
            answer = self.call(
                client, "POST", f"/v1/subscriptions/{sid}/data-request", json=request
            )
            return answer if answer.status_code == 202 else None  # the projection catching up

        self.applied(client, _until(accepted, "the data request's quote", 90))
        paying = self.call(client, "POST", f"/v1/subscriptions/{sid}/payments",
                           json={"card_token": "tok_visa"})  # fmt: skip
        self.applied(client, paying)

    def review(self) -> None:
        expert = self.tenants["expert", "A"]

        def assigned() -> str | None:
            items = self.call(expert, "GET", "/v1/assignments").json().get("items", [])
            return str(items[0]["data_service_id"]) if items else None

        service = _until(assigned, "the data service's assignment to expert A", 180)
        self.ids["data_service_id"] = self.ids["service_id"] = service

        def prepared() -> list[dict[str, Any]] | None:
            answer = self.call(expert, "GET", f"/v1/assignments/{service}")
            found = answer.json().get("review") if answer.status_code == 200 else None
            return (found or {}).get("entries") or None  # the dataset is being prepared

        entries = _until(prepared, "the dataset to review", 120)
        self.ids["review_image_id"] = str(entries[0]["image_id"])
        preview = self.call(expert, "GET", entries[0]["preview"].removeprefix("/api_http"))
        assert preview.status_code == 200, preview.text
        self.applied(
            expert, self.call(expert, "POST", f"/v1/assignments/{service}/approve", json={})
        )

    def delivery(self) -> None:
        client = self.tenants["client", "A"]
        service, sid = self.ids["data_service_id"], self.ids["subscription_id"]

        def delivered() -> bool | None:
            found = self.call(client, "GET", f"/v1/data-services/{service}").json()
            assert found.get("status") not in ("CANCELLED", "FAILED"), found
            return True if found.get("status") == "DELIVERED" else None

        _until(delivered, "the data service's delivery", 180)
        files = self.call(client, "GET", f"/v1/data-services/{service}/files", params={"limit": 50})
        assert files.status_code == 200, files.text
        for item in files.json()["items"]:
            self.delivered[item["name"]] = requests.get(item["url"], timeout=60).content
        sagas = self.call(client, "GET", "/v1/sagas", params={"subscription_id": sid}).json()
        self.ids["saga_id"] = str(sagas["items"][0]["saga_id"])
        assert self.call(client, "GET", "/v1/notifications").status_code == 200


def _mails_to(mail_dir: Path, address: str) -> list[str]:
    import email
    import email.policy

    subjects = []
    for path in mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message.get("To", "")):
            subjects.append(str(message["Subject"]))
    return subjects


# -- forged tokens -------------------------------------------------------------------------
def _forged(base: str, tenants: Tenants, protected: list[Operation], tally: Tally) -> list[str]:
    """Every forgery of an account of the operation's first role, on every protected
    operation: the ones that were not a 401 (the placeholders name no real resource, so a
    forgery let through would change nothing of the flow's)."""
    names = {USER_OF_ROLE[role]: tenants[role, "A"] for role in ROLES}
    forger_of = {}
    for role in ROLES:
        shim = StackForger(
            users={name: account.user_id for name, account in names.items()},
            tokens={
                name: account.headers["Authorization"].split()[1] for name, account in names.items()
            },
        )
        forger = Forger(shim, USER_OF_ROLE[role])  # type: ignore[arg-type]
        honest = requests.get(f"{base}/v1/me", timeout=30,
                              headers={"Authorization": f"Bearer {forger.signed()}"})  # fmt: skip
        # The same claims signed as identity signs them pass: each 401 is the forgery's.
        assert honest.status_code == 200, honest.text
        forger_of[role] = forger
    http = CountedSession(tally, "forged")
    values = {"frames": "1"}

    def attempt(operation: Operation) -> list[str]:
        forger = forger_of[operation.roles[0]]
        url = f"{base}{operation.concrete(values | {p: AN_ID for p in operation.params if p != 'frames'})}"
        wrong = []
        for kind, forge in forger.forgeries().items():
            token = forge()
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            body: dict[str, Any] | None = {} if operation.method == "POST" else None
            answer = http.request(operation.method, url, headers=headers, json=body)
            if answer.status_code != 401:
                wrong.append(f"{operation} with {kind}: {answer.status_code} {answer.text[:120]}")
        return wrong

    with ThreadPoolExecutor(max_workers=3) as pool:
        return [w for found in pool.map(attempt, protected) for w in found]


# -- cross-tenant --------------------------------------------------------------------------
@dataclass
class Matrix:
    cells: int = 0
    refused_403: int = 0
    refused_404: int = 0
    owner_controls: int = 0  # A's own reads of the ids B asked for
    owner_checked: int = 0  # ...that A was answered (2xx)
    lists_checked: int = 0


def _cross_tenant(
    base: str, tenants: Tenants, every: list[Operation], ids: dict[str, str], tally: Tally
) -> tuple[Matrix, list[str], list[str]]:
    """(figures, wrong answers, routes neither exercised nor listed)."""
    http = CountedSession(tally, "cross_tenant")
    matrix = Matrix()
    wrong: list[str] = []
    unexercised: list[str] = []
    theirs = {v for k, v in ids.items() if k not in ("frames",)}

    def value_of(operation: Operation, param: str) -> str | None:
        if param == "frames":
            return "1"
        if param == "image_id" and operation.path.startswith("/v1/assignments/"):
            return ids.get("review_image_id")
        if param == "instance_id":
            return ids.get("image_id")
        if param == "user_id":
            return tenants["client", "A"].user_id
        if param == "expert_code":
            return tenants["expert", "A"].scope
        if param == "rejection_id":
            return AN_ID  # operator-only routes: a refusal by role needs no real one
        return ids.get(param)

    def cells() -> list[tuple[Operation, str, str]]:
        found = []
        for operation in every:
            if not operation.roles or not operation.params:
                continue  # public (no tenant), or names no resource (lists: `lists`)
            values = {p: value_of(operation, p) for p in operation.params}
            if any(v is None for v in values.values()):
                if str(operation) not in NOT_CROSS_TENANT:
                    unexercised.append(f"{operation}: no value for {values}")
                continue
            path = operation.concrete({k: str(v) for k, v in values.items()})
            exercised = False
            for role in ROLES:
                if role == "operator" and role in operation.roles:
                    continue  # no tenant
                if str(operation) in NOT_CROSS_TENANT and role in operation.roles:
                    continue
                found.append((operation, role, path))
                exercised = exercised or role in operation.roles
            if not exercised and str(operation) not in NOT_CROSS_TENANT:
                unexercised.append(f"{operation}: no tenant role exercised")
        return found

    def ask(cell: tuple[Operation, str, str]) -> None:
        operation, role, path = cell
        account = tenants[role, "B"]
        body = BODIES.get(str(operation), {}) if operation.method == "POST" else None
        if operation.path == "/v1/assignments/{data_service_id}/exclusions":
            body = {**(body or {}), "image_ids": [ids["review_image_id"]]}
        answer = http.request(operation.method, f"{base}{path}", headers=account.headers, json=body)
        expected = {403, 404} if role in operation.roles else {403}
        matrix.cells += 1
        if answer.status_code == 403:
            matrix.refused_403 += 1
        elif answer.status_code == 404:
            matrix.refused_404 += 1
        if answer.status_code not in expected:
            wrong.append(f"{role} B {operation.method} {path}: {answer.status_code} "
                         f"{answer.text[:160]}")  # fmt: skip

    def ask_list(cell: tuple[Operation, str, str]) -> None:
        """A list of B's: A's ids never in it, whether B names one of them in its query
        (`?subscription_id=`) or not."""
        operation, role, path = cell
        params = {q: ids[q] for q in operation.query if q in ids}
        answer = http.request(
            "GET", f"{base}{path}", headers=tenants[role, "B"].headers, params=params
        )
        leaked = sorted(i for i in theirs if i in answer.text) if answer.ok else []
        if answer.status_code >= 500 or leaked:
            wrong.append(f"{role} B GET {path} {params}: {answer.status_code}, A's ids {leaked}")

    def lists() -> list[tuple[Operation, str, str]]:
        """Every parameterless read of a tenant role: B's answer must not hold A's ids."""
        return [
            (operation, role, operation.path)
            for operation in every
            if operation.roles and operation.method == "GET" and not operation.params
            for role in operation.roles
            if role != "operator"
        ]

    def owner(cell: tuple[Operation, str, str]) -> None:
        """The id is real: A reads it (a control, so a B's 404 means something)."""
        _, role, path = cell
        answer = http.request("GET", f"{base}{path}", headers=tenants[role, "A"].headers)
        if 200 <= answer.status_code < 300:
            matrix.owner_checked += 1

    matrix_cells = cells()
    list_cells = lists()
    matrix.lists_checked = len(list_cells)
    controls = [
        (op, role, path)
        for op, role, path in matrix_cells
        if op.method == "GET" and role in op.roles
    ]
    matrix.owner_controls = len(controls)
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(ask, matrix_cells))
        list(pool.map(ask_list, list_cells))
        list(pool.map(owner, controls))
    return matrix, wrong, unexercised


# -- the suite -----------------------------------------------------------------------------
@pytest.mark.timeout(900)
def test_security_regression_suite(stack: Any) -> None:
    started = time.monotonic()
    tally = Tally()
    planted = Planted()
    token = uuid.uuid4().hex[:6]
    speciality = f"SEC{token}".upper()  # only the suite's experts cover it
    # Before anything is published: every topic's messages from here on are kept.
    tap = TopicTap(stack.project_id)
    try:
        base = api_url(stack)
        document = requests.get(f"{base}/v1/openapi.json", timeout=30).json()
        every = operations(document)
        protected = [op for op in every if op.roles]
        tenants = Tenants(stack, base, token)

        flow = Flow(base, tenants, planted, tally)
        with ThreadPoolExecutor(max_workers=1) as background:
            # The forgeries name no real resource: they run while the flow's events travel.
            forged_future = background.submit(_forged, base, tenants, protected, tally)
            flow.images()
            flow.experts(speciality)
            flow.subscriptions()
            flow.catalogued()
            flow.purchase(speciality)
            flow.review()
            flow.delivery()
            forged_wrong = forged_future.result()
        mail_dir = stack.state_dir / "mail"
        _until(
            lambda: True if "Your data service is ready" in _mails_to(mail_dir, planted.client_email)
            else None, "the client's ready email", 60,
        )  # fmt: skip
        matrix, cross_wrong, unexercised = _cross_tenant(base, tenants, every, flow.ids, tally)

        time.sleep(2)  # the last events of the flow reach their topics
        planted_needles = needles(planted)
        topic_count, topic_leaks, allowed = sweep_topics(tap.messages(), planted_needles)
        log_count, log_leaks = sweep_logs(stack.log_dir, planted_needles)
        document_count, document_leaks = sweep_documents(stack.project_id, planted_needles)
        mail_count, mail_leaks = sweep_mailbox(mail_dir, planted_needles)
        file_leaks = sweep_files(flow.delivered, planted_needles)
    finally:
        tap.close()

    leaks: list[Leak] = [*log_leaks, *topic_leaks, *document_leaks, *mail_leaks, *file_leaks]
    summary = {
        "seconds": round(time.monotonic() - started, 1),
        "requests": tally.counts["requests"],
        "4xx": tally.counts["4xx"],
        "5xx": tally.counts["5xx"],
        "leaks": len(leaks),
        "phases": {k: v for k, v in sorted(tally.counts.items()) if "." in k},
        "operations": len(every),
        "protected_operations": len(protected),
        "forged_not_401": len(forged_wrong),
        "cross_tenant": {**matrix.__dict__, "wrong": len(cross_wrong),
                         "unexercised": unexercised, "not_cross_tenant": NOT_CROSS_TENANT},
        "swept": {"log_files": log_count, "topics": len(tap.subscriptions),
                  "messages": topic_count, "documents": document_count, "mails": mail_count,
                  "delivered_files": len(flow.delivered)},
        "leaks_by_place": {
            "logs": len(log_leaks), "topics": len(topic_leaks), "documents": len(document_leaks),
            "mails": len(mail_leaks), "delivered_files": len(file_leaks),
        },
        "leak_details": sorted({str(leak)[:300] for leak in leaks}),
        "allowed_contract_copies": sorted(set(allowed)),
        "server_errors": tally.server_errors,
        "forged_details": forged_wrong[:50],
        "cross_tenant_details": cross_wrong,
    }  # fmt: skip
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: summary[k] for k in ("seconds", "requests", "4xx", "5xx", "leaks")}))

    problems = {
        "forged tokens not refused 401": forged_wrong[:20],
        "routes neither exercised nor listed": unexercised,
        "cross-tenant answers": cross_wrong,
        "5xx": tally.server_errors,
        "leaks": summary["leak_details"],
    }
    assert {k: v for k, v in problems.items() if v} == {}, f"see {SUMMARY}"
