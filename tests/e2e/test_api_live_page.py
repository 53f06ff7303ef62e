"""The buyer's console at /v1/live in a real browser (Debian's chromium, driven by
playwright), the parts that need no catalogue: its assets and Content-Security-Policy, a
refusal shown with its reason and detail, the logged-in client known from /v1/me and its
earlier subscription (nothing of it retyped), small counts suppressed, log out. The whole
purchase, followed live and delivered: test_buyer_console.py. Screenshots are kept under
the test's tmp dir (printed) as artifacts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from functions.identity.messages import Role
from tests.e2e.test_api_flow import PASSWORD, api_url, login, register
from tests.unit.subscriptions.factories import CLIENT

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ASSETS = {"live": "text/html", "live.js": "text/javascript", "live-api.js": "text/javascript",
          "live.css": "text/css"}  # fmt: skip


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_console(stack: Any, browser: Any) -> tuple[Any, list[str]]:
    """The console in a fresh context (its own address: the login limit is per address),
    and the script errors and policy violations it reports."""
    context = browser.new_context(
        extra_http_headers={"X-Forwarded-For": f"10.251.{uuid.uuid4().int % 250}.3"}
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
    page.goto(f"{api_url(stack)}/v1/live")
    return page, problems


def log_in(page: Any, username: str, password: str = PASSWORD) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")


def test_the_console_serves_its_own_assets_under_its_policy(stack: Any) -> None:
    for name, media in ASSETS.items():
        answer = requests.get(f"{api_url(stack)}/v1/{name}", timeout=10)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith(media)
        policy = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "connect-src 'self'" in policy
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    page = requests.get(f"{api_url(stack)}/v1/live", timeout=10).text
    assert "<style" not in page and " style=" not in page and "onclick" not in page
    for name in ("live.js", "live-api.js"):
        script = requests.get(f"{api_url(stack)}/v1/{name}", timeout=10).text
        # Data is set as text, never parsed as HTML; tokens never outlive the tab.
        assert not re.search(r"\.(inner|outer)HTML\b|insertAdjacentHTML|localStorage\.", script)


def test_the_console_knows_the_client_and_shows_each_refusal(
    stack: Any, browser: Any, tmp_path: Path
) -> None:
    code = uuid.uuid4().hex[:8]
    username = register(Role.CLIENT, code)
    page, problems = open_console(stack, browser)

    log_in(page, username, "not the password")
    page.wait_for_selector("#error:has-text('log in: 401')")
    assert page.is_visible("#login-form")
    page.screenshot(path=str(tmp_path / "refused-login.png"), full_page=True)

    log_in(page, username)
    page.wait_for_selector(f"#whoami:has-text('{username} (client)')")
    page.wait_for_selector("#status:has-text('Logged in as')")
    assert page.inner_text("#error") == ""
    known = page.inner_text("#client-known")
    assert code in known and username in known and f"{username}@example.com" in known
    # No subscription yet: names and RUT are asked, nothing else.
    for asked in ("#client_first_names", "#client_last_names", "#client_rut"):
        assert page.is_visible(asked)
    assert page.evaluate("Object.keys(localStorage).length") == 0

    # Counts for a source with no image: every cell suppressed, shown as "< k".
    page.fill("#sources", f"nowhere-{code}")
    page.click("#browse-counts")
    page.wait_for_selector("#counts-body tr")
    total = page.eval_on_selector_all(
        "#counts-body tr:last-child td", "cells => cells.map(c => c.textContent)"
    )
    assert total == ["< 10", "< 10", "< 10"], total
    # Its quote is refused: the reason and the detail are shown, no order can be placed.
    page.fill("#dataset_code", "empty")
    page.click("#get-quote")
    page.wait_for_selector("#error:has-text('quote: 422')")
    assert "dataset_too_small" in page.inner_text("#error")
    assert page.is_disabled("#place-order")
    page.screenshot(path=str(tmp_path / "refused-quote.png"), full_page=True)

    # A reload keeps the session (sessionStorage); log out ends it.
    page.reload()
    page.wait_for_selector(f"#whoami:has-text('{username}')")
    page.click("#logout")
    page.wait_for_selector("#login-form:not([hidden])")
    assert page.evaluate("sessionStorage.length") == 0
    assert page.is_disabled("#browse-counts")
    assert not problems, problems
    print(f"screenshots: {tmp_path}")


def test_an_earlier_subscription_s_names_are_not_asked_again(
    stack: Any, browser: Any, tmp_path: Path
) -> None:
    code = uuid.uuid4().hex[:8]
    username = register(Role.CLIENT, code)
    auth = login(stack, username)
    body = {"client": {**CLIENT, "code": code, "username": username}, "plan": "BASIC"}
    accepted = requests.post(
        f"{api_url(stack)}/v1/subscriptions", json=body, headers=auth, timeout=10
    )
    assert accepted.status_code == 202, accepted.text
    page, problems = open_console(stack, browser)
    log_in(page, username)
    subscription = accepted.json()["subscription_id"]
    # Once the subscription is stored: it is offered, and its names are known.
    page.wait_for_selector(f"#whoami:has-text('{username}')")
    for _ in range(30):
        if page.query_selector(f"#subscription option[value='{subscription}']"):
            break
        page.wait_for_timeout(1000)
        page.reload()
    page.wait_for_selector(f"#subscription option[value='{subscription}']", state="attached")
    known = page.inner_text("#client-known")
    assert CLIENT["first_names"] in known and CLIENT["last_names"] in known
    assert not page.is_visible("#client_first_names") and not page.is_visible("#client_last_names")
    assert page.is_visible("#client_rut")  # no record the console may read holds it
    page.select_option("#subscription", subscription)
    assert not page.is_visible("#client_rut")  # an existing subscription needs none
    assert page.is_disabled("#plan")
    page.screenshot(path=str(tmp_path / "known-client.png"), full_page=True)
    assert not problems, problems
    print(f"screenshots: {tmp_path}")
