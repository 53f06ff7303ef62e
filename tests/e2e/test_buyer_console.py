"""The buyer's console (/v1/live) in a real browser (Debian's chromium, driven by playwright)
on the local stack, as a client uses it: log in (the page knows who you are: your code,
username and email are never typed), browse the catalogue's counts (a small cell shown as
"< k"), fill an order and see its quote, pay (a declined card first, with the stream
blocked so the page follows by polling with ETags; then the good card, streamed), follow
the saga to its end, and find the delivered files listed with links that work: one is
fetched and its SHA-256 checked against the page and the dataset's SHA256SUMS.

Screenshots of every step are kept as artefacts, one folder per run, under
.artifacts/console/ (git ignores it; CI keeps it), or under $SALUDTECH_CONSOLE_SHOTS when
set (printed either way)."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
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
from tests.e2e import test_api_live_page
from tests.e2e.conftest import expert_with_room
from tests.e2e.test_api_flow import PASSWORD, api_url
from tests.unit.ingestion.helpers import study
from tests.unit.subscriptions.factories import CLIENT

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "console"
PATIENTS = 10  # the catalogue's minimum cell: a dataset of fewer is refused
browser = test_api_live_page.browser  # the same fixture: Debian's chromium
REGION, PATHOLOGY, SPECIALITY = "chest", "nodule", "CHEST"  # a sample expert's speciality


def eventually(probe: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.3)


def client_account(code: str) -> str:
    """A client account made in identity's database of the stack (a cheap argon2 cost),
    with the national id and email its subscription will carry."""
    settings = Settings(api_password_time_cost=1, api_password_memory_kib=64)
    accounts = identity_wiring.build(cloud_platform(settings, database_of("identity"))).accounts
    username = f"buyer-{uuid.uuid4().hex[:10]}"
    email = f"{username}@example.com"
    national_id = CLIENT["national_id"]
    accounts.register(NewAccount(username, PASSWORD, Role.CLIENT, code, email, national_id))
    return username


def catalogue_of_our_own(stack: Any) -> str:
    """PATIENTS patients, one chest image each, from a centre of this test's own (its own
    patient ids too: no image is another test's), in the data services' catalogue."""
    from google.cloud import firestore, storage  # type: ignore[attr-defined]
    from google.cloud.firestore_v1.base_query import FieldFilter

    run = uuid.uuid4().hex[:8]
    center = f"console-{run}"
    ingest = storage.Client(project=stack.project_id).bucket(stack.bucket("ingest"))
    for index in range(PATIENTS):
        [data] = study(
            n_instances=1, seed=97, patient_name=f"BUYER^P{index}", patient_id=f"{run}-{index}"
        )
        blob = ingest.blob(f"{center}/{index}.dcm")
        blob.metadata = {"anatomical_region": REGION, "pathology": PATHOLOGY}
        blob.upload_from_string(data)
    prefix = stack.env.get("SALUDTECH_COLLECTION_PREFIX", "")
    catalogue = firestore.Client(
        project=stack.project_id, database=database_of("data_services")
    ).collection(f"{prefix}data_services_catalogue")
    query = catalogue.where(filter=FieldFilter("data_source", "==", center))
    found = eventually(lambda: len(list(query.stream())) == PATIENTS, 120)
    assert found, "the catalogue projection did not get the images"
    return center


class Shots:
    def __init__(self, page: Any, where: Path) -> None:
        self.page, self.where, self.taken = page, where, list[Path]()
        where.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> None:
        path = self.where / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)


def rows_of(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        f"{selector} tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )


def test_a_client_buys_a_dataset_in_the_console_and_fetches_it(stack: Any, browser: Any) -> None:
    started = time.monotonic()
    base = api_url(stack)
    expert_with_room(stack.functions_url)
    center = catalogue_of_our_own(stack)
    print(f"catalogue ready in {time.monotonic() - started:.0f} s")
    code = f"c{uuid.uuid4().hex[:8]}"
    username = client_account(code)

    context = browser.new_context(
        extra_http_headers={"X-Forwarded-For": f"10.252.{uuid.uuid4().int % 250}.7"},
        viewport={"width": 1100, "height": 900},
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None  # a refusal's status is logged by chromium: the page shows it
        ),
    )
    # Under the test's tmp dir (pytest keeps the last three runs'), or where asked.
    kept = Path(os.environ.get("SALUDTECH_CONSOLE_SHOTS") or ARTIFACTS)
    shots = Shots(page, kept / uuid.uuid4().hex[:8])
    try:
        page.goto(f"{base}/v1/live")
        shots("start")

        # 1 · session: the page knows the client; only what no record holds is asked.
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_selector(f"#whoami:has-text('{username}')")
        page.wait_for_selector("#status:has-text('Logged in as')")
        known = page.inner_text("#client-known")
        assert code in known and f"{username}@example.com" in known
        for asked in ("#client_first_names", "#client_last_names", "#client_rut"):
            assert page.is_visible(asked)
        assert not page.query_selector("#code, #client_username, #email")  # never retyped
        assert page.evaluate("Object.keys(localStorage).length") == 0
        shots("logged-in")

        # 2 · browse: nothing matches a made-up pathology (a suppressed cell), ours does.
        page.fill("#sources", center)
        page.fill("#pathology", "no-such-pathology")
        page.click("#browse-counts")
        page.wait_for_selector("#counts-body tr")
        assert rows_of(page, "#counts-body")[-1] == ["total", "< 10", "< 10", "< 10"]
        shots("counts-suppressed")
        page.fill("#pathology", PATHOLOGY)
        page.fill("#anatomical_region", REGION)
        page.select_option("#group_by", "modality")
        page.click("#browse-counts")
        page.wait_for_selector("#counts-body tr:has-text('CT')")
        total = rows_of(page, "#counts-body")[-1]
        assert total[0] == "total" and total[3] == str(PATIENTS), total
        shots("counts")

        # 3 · order: plan, dataset, caps, split, speciality, delivery; the quote first.
        assert page.is_disabled("#place-order")
        page.select_option("#plan", "PRO")
        page.fill("#dataset_code", f"chest-{code}")
        page.fill("#dataset_name", "Chest nodules")
        page.fill("#max_per_patient", "2")
        page.fill("#speciality", SPECIALITY)
        page.select_option("#cloud_type", "links")
        page.fill("#client_first_names", CLIENT["first_names"])
        page.fill("#client_last_names", CLIENT["last_names"])
        page.fill("#client_rut", CLIENT["rut"])
        page.click("#get-quote")
        page.wait_for_selector("#quote-body tr")
        quote = dict(
            (r[0], r[1]) for r in rows_of(page, "#quote-body") if len(r) == 2
        )  # fmt: skip
        assert quote["plan"] == "PRO" and quote["patients"] == str(PATIENTS), quote
        assert quote["price"].endswith(("USD", "/ month")), quote
        shots("quote")
        page.click("#place-order")
        page.wait_for_selector("#pay-form:not([disabled])", timeout=60_000)
        assert "data requestapplied" in str(page.text_content("#order-state"))
        assert page.inner_text("#error") == ""
        shots("ordered")

        # 4 · pay: a declined card, followed by polling (the stream blocked) ...
        page.route("**/stream", lambda route: route.abort())
        page.select_option("#card", "tok_declined")
        page.click("#pay-now")
        page.wait_for_selector("#invoices li.DECLINED", timeout=60_000)
        page.wait_for_selector("#status:has-text('try another card')")
        assert page.inner_text("#saga-status") == "RUNNING"  # the saga waits for a payment
        page.wait_for_function(
            "document.getElementById('log').textContent.includes('poll: timeline changed')"
        )
        assert "stream unavailable" in str(page.text_content("#log"))
        shots("declined")
        # ... then the good one, streamed; 5 · follow the saga to its end.
        page.unroute("**/stream")
        page.select_option("#card", "tok_visa")
        page.click("#pay-now")
        page.wait_for_selector("#invoices li.PAID", timeout=60_000)
        page.wait_for_selector("#subscription-status:has-text('ACTIVE')", timeout=30_000)
        page.wait_for_selector("#saga-steps li", timeout=30_000)
        shots("saga-running")
        page.wait_for_selector(
            "#saga-status:text-matches('^(COMPLETED|COMPENSATED|STUCK)$')", timeout=120_000
        )
        assert page.inner_text("#saga-status") == "COMPLETED", page.inner_text("#error")
        steps = page.eval_on_selector_all("#saga-steps li", "items => items.map(i => i.className)")
        assert steps and all(s == "DONE" for s in steps), steps
        assert "stream: timeline changed" in str(page.text_content("#log"))
        shots("saga-completed")

        # 6 · receive: where the data is, the files with their links and checksums.
        page.wait_for_selector("#service-status:has-text('DELIVERED')", timeout=60_000)
        page.wait_for_selector("#files-body a.file-link", timeout=30_000)
        page.wait_for_selector("#checksums-link")
        where = page.inner_text("#where")
        assert "links" in where, where
        files = page.eval_on_selector_all(
            "#files-body tr",
            "rows => rows.map(r => ({name: r.cells[0].textContent, url: r.querySelector('a').href,"
            " sha256: r.cells[2].textContent}))",
        )
        assert len(files) == PATIENTS, files
        shots("delivered")

        # A link works, and what it reads is what the page and SHA256SUMS say.
        first = files[0]
        data = requests.get(first["url"], timeout=30)
        assert data.status_code == 200, data.text[:200]
        digest = hashlib.sha256(data.content).hexdigest()
        assert digest == first["sha256"]
        checksums_url = page.get_attribute("#checksums-link", "href")
        sums = requests.get(str(checksums_url), timeout=30)
        assert sums.status_code == 200
        listed = {}
        for line in sums.text.splitlines():
            listed_digest, name = line.split("  ", 1)
            listed[name] = listed_digest
        assert listed[first["name"]] == digest
        assert not problems, problems  # no script error, no Content-Security-Policy violation

        page.click("#logout")
        page.wait_for_selector("#login-form:not([hidden])")
        assert page.evaluate("sessionStorage.length") == 0
    finally:
        if not page.is_closed():
            shots("last")
        context.close()
        print(f"screenshots ({len(shots.taken)}): {shots.where}")
        for path in shots.taken:
            print(f"  {path}")
        print(f"took {time.monotonic() - started:.0f} s")
