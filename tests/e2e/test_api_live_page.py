"""The live page in a real browser (Debian's chromium, driven by playwright): log in,
subscribe, and see the command's status and events appear without reloading; then the same
with the stream made to fail, so the page falls back to polling with ETags. Screenshots are
kept under the test's tmp dir (printed at the end) as artifacts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.identity.messages import Role
from tests.e2e.test_api_flow import PASSWORD, api_url, register
from tests.unit.subscriptions.factories import CLIENT

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
CREATED = "co.saludtech.subscriptions.subscription.created.v1"


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


def _subscribe_and_watch(stack: Any, browser: Any, shots: Path, block_stream: bool) -> Any:
    code = uuid.uuid4().hex[:8]
    username = register(Role.CLIENT, code)
    context = browser.new_context(
        extra_http_headers={"X-Forwarded-For": f"10.251.{uuid.uuid4().int % 250}.3"}
    )
    page = context.new_page()
    if block_stream:
        page.route("**/stream", lambda route: route.abort())
    page.goto(f"{api_url(stack)}/v1/live")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#whoami:has-text('logged in as client')")
    client = {**CLIENT, "code": code}
    for field in ("code", "first_names", "last_names", "rut", "national_id", "email"):
        page.fill(f"#{field}", client[field])
    page.fill("#client_username", client["username"])
    page.select_option("#plan", "PRO")
    page.screenshot(path=str(shots / "filled.png"))
    page.click("#subscribe")
    page.wait_for_selector("#command-id:text-matches('^[0-9a-f-]{36}$')")
    # Appears as it happens: the status turns applied and the event shows, no reload.
    page.wait_for_selector("#command-status:has-text('applied')", timeout=60_000)
    page.wait_for_selector(f"#events li:has-text('{CREATED}')", timeout=10_000)
    page.wait_for_selector("#subscription-status:text-matches('^[A-Z_]+$')", timeout=10_000)
    page.screenshot(path=str(shots / "applied.png"), full_page=True)
    return page


def test_the_live_page_shows_the_command_as_it_happens(
    stack: Any, browser: Any, tmp_path: Path
) -> None:
    page = _subscribe_and_watch(stack, browser, tmp_path, block_stream=False)
    log = page.inner_text("#log")
    assert "stream: timeline changed" in log
    assert page.inner_text("#error") == ""
    # The saga the PRO plan starts and the notification told to the client follow, live.
    page.wait_for_selector("#saga-steps li", timeout=30_000)
    page.wait_for_selector("#notifications li", timeout=30_000)
    page.screenshot(path=str(tmp_path / "saga-and-notifications.png"), full_page=True)
    print(f"screenshots: {tmp_path}")


def test_without_the_stream_the_page_polls_with_etags(
    stack: Any, browser: Any, tmp_path: Path
) -> None:
    page = _subscribe_and_watch(stack, browser, tmp_path, block_stream=True)
    log = page.inner_text("#log")
    assert "stream unavailable" in log
    assert "poll: timeline changed" in log
    assert "stream: timeline changed" not in log
    print(f"screenshots: {tmp_path}")
