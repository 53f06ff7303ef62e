"""The security regression suite's tools (tests/e2e/test_security_suite.py): a tally of
every request it sends, the planted identities and the forms they are searched in, the
sweeps of the stack's logs, topics, Firestore documents and mailbox, and the route
matrices read from the api's own /v1/openapi.json.

A finding names where a planted value was found and which one (the values are fictitious,
planted by the suite), so a failure says exactly what leaked where."""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from functions.subscriptions.domain import rut_check_digit
from shared.config import Settings
from shared.service.context import database_of

REPO = Path(__file__).resolve().parents[2]
ROLES = ("center", "client", "expert", "operator")


# -- the tally -----------------------------------------------------------------------------
@dataclass
class Tally:
    """Every answer the suite got, per phase: requests, 4xx, 5xx (each 5xx kept whole)."""

    counts: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, phase: str, answer: requests.Response) -> None:
        with self.lock:
            self.counts["requests"] += 1
            self.counts[f"{phase}.requests"] += 1
            if 400 <= answer.status_code < 500:
                self.counts["4xx"] += 1
                self.counts[f"{phase}.4xx"] += 1
            elif answer.status_code >= 500:
                self.counts["5xx"] += 1
                self.counts[f"{phase}.5xx"] += 1
                request = answer.request
                self.server_errors.append(
                    f"{phase}: {request.method} {request.path_url} -> {answer.status_code} "
                    f"{answer.text[:200]}"
                )


class CountedSession(requests.Session):
    """A session whose every answer is put in the tally under its phase."""

    def __init__(self, tally: Tally, phase: str) -> None:
        super().__init__()
        self.tally = tally
        self.phase = phase
        # Enough pooled connections for the suite's threads.
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=16)
        self.mount("http://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 60)
        answer = super().request(method, url, *args, **kwargs)
        self.tally.record(self.phase, answer)
        return answer


# -- the planted identities ----------------------------------------------------------------
RUT_BODY = "27381946"
PATIENT_FAMILY, PATIENT_GIVEN = "QUISPEZORRO", "ERMENEGILDA"
PATIENT_ID_STEM = "ZQP7731"
BIRTH_DATE = "19370219"
FREE_TEXT_WORD = "ZAFRANGULO"


@dataclass(frozen=True)
class Planted:
    """Identities no record of the platform should repeat in clear. `patient`: the DICOM
    headers' and the upload's object name; `contact`: a client's and an expert's."""

    patient_name: str = f"{PATIENT_FAMILY}^{PATIENT_GIVEN}"
    patient_ids: tuple[str, ...] = tuple(f"{PATIENT_ID_STEM}-{n:02d}" for n in range(10))
    birth_date: str = BIRTH_DATE
    free_text: str = f"Vecina de la calle {FREE_TEXT_WORD} 12, fractura previa de clavicula"
    object_name: str = f"{PATIENT_GIVEN.lower()}_{PATIENT_FAMILY.lower()}_torax.dcm"
    client_rut: str = f"27.381.946-{rut_check_digit(RUT_BODY)}"
    client_national_id: str = "QZ55102938"
    client_email: str = "quimerazul.cliente@example.org"
    expert_national_id: str = "EXQ88812345"
    expert_email: str = "quimerazul.experta@example.org"


@dataclass(frozen=True)
class Needle:
    label: str  # what was planted, and in which form
    kind: str  # patient | contact
    pattern: re.Pattern[str]
    email: str | None = None  # an address: allowed as the recipient of its own mail


def _word(text: str) -> str:
    """`text` not inside a longer run of letters or digits (case-insensitive)."""
    return rf"(?<![0-9A-Za-z]){re.escape(text)}(?![0-9A-Za-z])"


def needles(planted: Planted) -> list[Needle]:
    """Every planted value in the forms it could be copied in: as sent, upper, lower and
    title case (the patterns ignore case), the DICOM name's parts in any order and with
    any separator, a date with or without dashes, a RUT with or without dots."""
    i = re.IGNORECASE
    year, month, day = planted.birth_date[:4], planted.birth_date[4:6], planted.birth_date[6:]
    rut_compact = planted.client_rut.replace(".", "")
    found = [
        Needle("patient family name", "patient", re.compile(re.escape(PATIENT_FAMILY), i)),
        Needle("patient given name", "patient", re.compile(re.escape(PATIENT_GIVEN), i)),
        Needle("patient id", "patient", re.compile(re.escape(PATIENT_ID_STEM), i)),
        Needle(
            "patient birth date",
            "patient",
            re.compile(
                rf"(?<!\d)(?:{planted.birth_date}|{year}-{month}-{day}|{day}/{month}/{year})(?!\d)"
            ),
        ),
        Needle("patient free text", "patient", re.compile(re.escape(FREE_TEXT_WORD), i)),
        Needle("object name", "patient", re.compile(re.escape(planted.object_name), i)),
        Needle(
            "client RUT",
            "contact",
            re.compile(
                rf"(?<!\d)(?:{re.escape(planted.client_rut)}|{re.escape(rut_compact)}|"
                rf"{RUT_BODY})(?!\d)",
                i,
            ),
        ),
        Needle("client national id", "contact", re.compile(_word(planted.client_national_id), i)),
        Needle(
            "client email",
            "contact",
            re.compile(re.escape(planted.client_email), i),
            email=planted.client_email,
        ),
        Needle("expert national id", "contact", re.compile(_word(planted.expert_national_id), i)),
        Needle(
            "expert email",
            "contact",
            re.compile(re.escape(planted.expert_email), i),
            email=planted.expert_email,
        ),
    ]
    return found


@dataclass(frozen=True)
class Leak:
    where: str  # log file, topic, document or mail
    what: str  # the needle's label
    kind: str
    context: str = ""

    def __str__(self) -> str:
        return f"{self.what} in {self.where}: …{self.context}…"


def search(where: str, text: str, found_in: list[Needle]) -> list[Leak]:
    leaks = []
    for needle in found_in:
        match = needle.pattern.search(text)
        if match:
            start, end = max(0, match.start() - 60), match.end() + 60
            context = text[start:end].replace("\n", " ")
            leaks.append(Leak(where, needle.label, needle.kind, context))
    return leaks


# -- the sweeps ----------------------------------------------------------------------------
def sweep_logs(log_dir: Path, planted: list[Needle]) -> tuple[int, list[Leak]]:
    """Every file of the run's log directory: (files read, leaks)."""
    files = [p for p in sorted(log_dir.rglob("*")) if p.is_file()]
    leaks: list[Leak] = []
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        leaks.extend(search(f"log {path.relative_to(log_dir)}", text, planted))
    return len(files), leaks


class TopicTap:
    """A pull subscription on every topic of the emulator's project, made before the flow
    so everything published after it is kept, then drained at the end."""

    def __init__(self, project: str) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        self.subscriber = pubsub_v1.SubscriberClient()
        publisher = pubsub_v1.PublisherClient()
        topics = [t.name for t in publisher.list_topics(request={"project": f"projects/{project}"})]
        run = uuid.uuid4().hex[:6]
        self.subscriptions: dict[str, str] = {}
        for topic in topics:
            short = topic.rsplit("/", 1)[1]
            path = self.subscriber.subscription_path(project, f"sec-{run}-{short}"[:255])
            self.subscriber.create_subscription(
                request={"name": path, "topic": topic, "ack_deadline_seconds": 60}
            )
            self.subscriptions[short] = path

    def drain(self, path: str) -> list[tuple[bytes, dict[str, str]]]:
        got: list[tuple[bytes, dict[str, str]]] = []
        while True:
            response = self.subscriber.pull(
                request={"subscription": path, "max_messages": 1000, "return_immediately": True},
                timeout=30,
            )
            if not response.received_messages:
                return got
            got.extend(
                (m.message.data, dict(m.message.attributes)) for m in response.received_messages
            )
            self.subscriber.acknowledge(
                request={
                    "subscription": path,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )

    def messages(self) -> dict[str, list[tuple[bytes, dict[str, str]]]]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            drained = pool.map(self.drain, self.subscriptions.values())
            return dict(zip(self.subscriptions, drained, strict=True))

    def close(self) -> None:
        for path in self.subscriptions.values():
            self.subscriber.delete_subscription(request={"subscription": path})


# Values that a message contract carries on purpose, by its field name, with the reason.
# Nothing personal travels in clear on a topic: every personal field of a message is sealed
# (shared/service/sealed_messages.py), SubscriptionCreated's client_email included.
ALLOWED_ON_TOPICS: dict[str, str] = {}


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            yield from _strings(inner, f"{path}[{n}]")
    elif value is not None:
        yield path, str(value)


def sweep_topics(
    messages: dict[str, list[tuple[bytes, dict[str, str]]]], planted: list[Needle]
) -> tuple[int, list[Leak], list[str]]:
    """(messages read, leaks, allowed contract copies): a message's data field by field
    when it is JSON (so a contract's field is judged by its name), whole otherwise, and
    its attributes."""
    leaks: list[Leak] = []
    allowed: list[str] = []
    count = 0
    for topic, received in messages.items():
        for data, attributes in received:
            count += 1
            kind = attributes.get("ce-type") or attributes.get("type") or "?"
            where = f"topic {topic} ({kind})"
            text = data.decode("utf-8", errors="replace")
            leaks.extend(search(f"{where} attributes", json.dumps(attributes), planted))
            try:
                fields = list(_strings(json.loads(text)))
            except ValueError:
                leaks.extend(search(where, text, planted))
                continue
            for path, value in fields:
                leaf = path.rsplit(".", 1)[-1]
                for leak in search(f"{where} field {path}", value, planted):
                    if leak.kind == "contact" and leaf in ALLOWED_ON_TOPICS:
                        allowed.append(f"{leak.what} in {where} field {path}")
                    else:
                        leaks.append(leak)
    return count, leaks, allowed


def context_databases() -> list[str]:
    """Every context's Firestore database (one per functions/<context>/wiring.py), and the
    default one."""
    contexts = sorted(p.parent.name for p in (REPO / "functions").glob("*/wiring.py"))
    return ["(default)", *(database_of(c) for c in contexts)]


def _documents(project: str, database: str) -> list[tuple[str, dict[str, Any]]]:
    from google.cloud import firestore

    client = firestore.Client(project=project, database=database)
    found: list[tuple[str, dict[str, Any]]] = []
    pending = list(client.collections())
    while pending:
        collection = pending.pop()
        for reference in collection.list_documents():
            pending.extend(reference.collections())
            snapshot = reference.get()
            if snapshot.exists:
                found.append((reference.path, snapshot.to_dict() or {}))
    return found


def sweep_documents(project: str, planted: list[Needle]) -> tuple[dict[str, int], list[Leak]]:
    """Every document of every database of the stack's project: (documents read per
    database, leaks)."""
    databases = context_databases()
    with ThreadPoolExecutor(max_workers=len(databases)) as pool:
        everything = list(pool.map(lambda db: (db, _documents(project, db)), databases))
    leaks: list[Leak] = []
    count = {database: len(documents) for database, documents in everything}
    for database, documents in everything:
        for path, document in documents:
            text = json.dumps(document, default=str, ensure_ascii=False)
            leaks.extend(search(f"document {database}/{path}", text, planted))
    return count, leaks


def sweep_mailbox(mail_dir: Path, planted: list[Needle]) -> tuple[int, list[Leak]]:
    """Every email the stack's mailbox kept. No patient data ever; an address only as the
    recipient of its own mail (the To header), never in a body or another header."""
    leaks: list[Leak] = []
    paths = sorted(mail_dir.glob("*.eml"))
    for path in paths:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        recipients = str(message.get("To", "")).lower()
        headers = "\n".join(f"{k}: {v}" for k, v in message.items() if k.lower() != "to")
        bodies = []
        for part in message.walk():
            if part.get_content_maintype() == "text":
                bodies.append(str(part.get_content()))
        text = headers + "\n" + "\n".join(bodies)
        leaks.extend(search(f"mail {path.name} to {recipients}", text, planted))
        for needle in planted:
            if needle.pattern.search(recipients) and needle.email is None:
                leaks.append(Leak(f"mail {path.name} To", needle.label, needle.kind))
    return len(paths), leaks


def sweep_files(files: dict[str, bytes], planted: list[Needle]) -> list[Leak]:
    """Delivered files, as bytes (a DICOM's text values are stored as they read)."""
    leaks: list[Leak] = []
    for name, data in files.items():
        leaks.extend(search(f"delivered {name}", data.decode("latin-1"), planted))
    return leaks


# -- the routes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as the openapi names it: /v1/subscriptions/{subscription_id}
    roles: tuple[str, ...]  # x-roles; empty: a public route
    query: tuple[str, ...] = ()  # its query parameters' names

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{([^}]+)\}", self.path)

    def concrete(self, values: dict[str, str]) -> str:
        return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, items in document["paths"].items():
        for method, operation in items.items():
            if isinstance(operation, dict):
                query = tuple(
                    p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"
                )
                roles = tuple(operation.get("x-roles") or ())
                found.append(Operation(method.upper(), path, roles, query))
    return found


class StackForger:
    """What tests/unit/api/test_forged_tokens.py's Forger reads of its in-memory api,
    answered from the stack: the key the stack signs with (the settings' default, as the
    stack's functions run with), an account's id and genuine token, the clock."""

    def __init__(self, users: dict[str, str], tokens: dict[str, str]) -> None:
        self.platform = type("Platform", (), {"settings": Settings()})()
        self.users = users
        self.tokens = tokens

    def login(self, username: str) -> str:
        return self.tokens[username]

    def clock(self) -> datetime:
        return datetime.now(UTC)


def flatten(groups: Iterable[Iterable[Leak]]) -> list[Leak]:
    return [leak for group in groups for leak in group]
