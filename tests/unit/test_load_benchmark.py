"""The pure parts of the load test (benchmarks/load.py): its arguments and credentials, the
loopback check, percentiles and the report, the upload's id, and how a request meets a 429
or an expired token. The run itself goes against a stack and is not a unit test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from benchmarks import load
from benchmarks.load import Credentials, Failure, Item, Tally
from functions.ingestion.domain import Upload

SECRET = "do-not-print-this-password"


def _answer(status: int, body: Any = None, **headers: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = b"" if body is None else json.dumps(body).encode()
    answer.headers.update(headers)
    return answer


# -- arguments, credentials, loopback ---------------------------------------------------
def test_the_defaults_are_a_small_run_of_every_scenario_on_the_local_stack() -> None:
    args = load.parse_args([])
    assert (args.scenario, args.count, args.concurrency, args.api_url) == ("all", 20, 5, None)
    assert args.experts and not args.yes and not args.json
    assert load.scenarios_of("all") == ["upload", "commands", "saga"]
    assert load.scenarios_of("saga") == ["saga"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--count", "0"],
        ["--concurrency", "0"],
        ["--scenario", "everything"],
        ["--timeout", "0"],
        ["--poll-max", "0.01"],
        ["--center-password", "x"],
    ],
)
def test_arguments_out_of_range_or_unknown_are_refused(argv: list[str]) -> None:
    # No password option either: a password on the command line ends in shell history.
    with pytest.raises(SystemExit):
        load.parse_args(argv)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8090/api_http", True),
        ("http://localhost:8090", True),
        ("http://[::1]:8090", True),
        ("http://127.0.0.2", True),
        ("https://api.saludtech.example", False),
        ("http://10.0.0.1:8090", False),
        ("https://127.0.0.1.nip.io", False),
    ],
)
def test_only_this_machine_is_loopback(url: str, loopback: bool) -> None:
    assert load.is_loopback(url) is loopback


def test_a_url_that_is_not_loopback_needs_yes_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*_: Any, **__: Any) -> Any:
        raise AssertionError("nothing may be sent before --yes")

    monkeypatch.setattr(requests.Session, "request", no_network)
    with pytest.raises(SystemExit, match="--yes"):
        load.main(["--api-url", "https://api.saludtech.example"])


def test_credentials_come_from_the_flag_or_the_environment_and_hide_the_password() -> None:
    env = {"SALUDTECH_LOAD_CLIENT_USERNAME": "loader", "SALUDTECH_LOAD_CLIENT_PASSWORD": SECRET}
    assert load.credentials_of("client", None, env) == Credentials("loader", SECRET)
    assert load.credentials_of("client", "other", env) == Credentials("other", SECRET)
    assert load.credentials_of("center", None, env) is None
    assert SECRET not in repr(load.credentials_of("client", None, env))


def test_half_an_account_is_refused_without_saying_the_password() -> None:
    with pytest.raises(SystemExit) as refused:
        load.credentials_of("operator", None, {"SALUDTECH_LOAD_OPERATOR_PASSWORD": SECRET})
    assert "SALUDTECH_LOAD_OPERATOR_USERNAME" in str(refused.value)
    assert SECRET not in str(refused.value)
    with pytest.raises(SystemExit):
        load.credentials_of("operator", "ops", {})


# -- percentiles and the report --------------------------------------------------------
def test_percentiles_are_in_milliseconds() -> None:
    seconds = [n / 1000 for n in range(1, 101)]
    assert load.millis(seconds) == {"p50_ms": 51.0, "p95_ms": 95.0, "p99_ms": 99.0}
    assert load.millis([]) is None


def test_the_report_gives_ratios_to_the_baseline_throughput_outcomes_and_errors() -> None:
    started = 100.0
    items = [Item("applied", 0.2, 101.0), Item("applied", 0.4, 102.0),
             Item("rejected", 0.6, 103.0), Item("applied", 0.8, 104.0),
             Item(None, None, 110.0, "timeout"), Item(None, None, 105.0, "503")]  # fmt: skip
    report = load.summarize(
        "commands", items, started, [0.1, 0.1, 0.2],
        rate_limited=3, concurrency=4, measured="POST → applied",
    )  # fmt: skip
    assert report["latency"] == {"p50_ms": 600.0, "p95_ms": 800.0, "p99_ms": 800.0}
    assert report["baseline"]["p50_ms"] == 100.0 and report["baseline"]["count"] == 3
    assert report["ratio_to_baseline_p50"] == {"p50": 6.0, "p95": 8.0, "p99": 8.0}
    # Throughput: the items that reached a final state, over the burst until the last did.
    assert report["throughput_per_s"] == 1.0 and report["elapsed_s"] == 4.0
    assert report["outcomes"] == {"applied": 3, "rejected": 1}
    assert report["errors"] == {"timeout": 1, "503": 1}
    assert report["rate_limited"] == 3 and report["count"] == 6
    json.dumps(report)  # --json prints it as it is


def test_a_burst_where_nothing_ended_reports_no_latency_and_no_ratio() -> None:
    report = load.summarize(
        "saga", [Item(None, None, 3.0, "timeout")], 0.0, [0.05],
        rate_limited=0, concurrency=1, measured="payment → saga ended",
    )  # fmt: skip
    assert report["latency"] is None and report["ratio_to_baseline_p50"] is None
    assert report["throughput_per_s"] is None and report["errors"] == {"timeout": 1}


def test_the_table_shows_each_scenario_beside_its_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = load.summarize(
        "upload", [Item("deidentified", 0.5, 1.0)], 0.0, [0.05],
        rate_limited=2, concurrency=1, measured="PUT → upload processed",
    )  # fmt: skip
    load.print_table({"api_host": "127.0.0.1:8090", "started_at": "now",
                      "scenarios": [result], "notes": ["a note"]})  # fmt: skip
    shown = capsys.readouterr().out
    assert "baseline" in shown and "upload" in shown
    assert "10.0 / 10.0 / 10.0" in shown and "deidentified 1" in shown and "a note" in shown


def test_run_items_runs_each_index_once_and_turns_failures_into_errors() -> None:
    def one(index: int, deadline: float) -> tuple[str, float]:
        assert deadline > time.monotonic()
        if index == 2:
            raise Failure("422 dataset_too_small")
        return f"done-{index}", 0.01

    items, started = load.run_items(4, 2, one, timeout=5)
    assert [i.outcome for i in items] == ["done-0", "done-1", None, "done-3"]
    assert items[2].error == "422 dataset_too_small"
    assert all(i.ended_at >= started for i in items)


def test_an_error_of_a_step_is_named_by_its_step() -> None:
    with pytest.raises(Failure) as ended, load.stage("data request"):
        raise Failure("404 subscription_not_found")
    assert str(ended.value) == "data request: 404 subscription_not_found"


def test_the_polls_of_the_items_in_flight_stay_under_the_query_limit() -> None:
    def longest(*argv: str) -> float:
        return load.Run(load.parse_args(argv), {}).longest_poll

    assert longest() == 1.5625  # 5 items in flight, 240 queries a minute, a quarter spare
    assert longest("--concurrency", "2") == 1.0  # --poll-max
    assert longest("--concurrency", "20", "--queries-per-minute", "600") == 2.5


def test_poll_waits_for_an_answer_and_gives_up_at_the_deadline() -> None:
    answers = iter([None, None, "applied"])
    assert load.poll(lambda: next(answers), time.monotonic() + 5, 0.1) == "applied"
    with pytest.raises(Failure, match="timeout"):
        load.poll(lambda: None, time.monotonic(), 0.1)


# -- answers -------------------------------------------------------------------------------
def test_an_error_is_keyed_by_status_and_reason_never_by_its_detail() -> None:
    body = {"error": {"reason": "rate_limited", "detail": "patient DOE^JANE"}}
    assert load.error_key(_answer(429, body)) == "429 rate_limited"
    assert load.error_key(_answer(502)) == "502"
    assert load.error_key(_answer(500, ["not", "an", "object"])) == "500"


def test_retry_after_is_read_in_seconds() -> None:
    assert load.retry_after(_answer(429, **{"Retry-After": "3"})) == 3.0
    assert load.retry_after(_answer(429)) == 1.0
    assert load.retry_after(_answer(429, **{"Retry-After": "soon"})) == 1.0


def test_the_upload_id_is_ingestions_from_the_signed_url_and_the_generation() -> None:
    name = "center-1/uploads/abc.dcm"
    grant = {"url": f"https://storage.googleapis.com/p-ingest/{name}?X-Goog-Signature=s",
             "object": name}  # fmt: skip
    expected = Upload("p-ingest", name, 1700, 0).unit_id
    assert load.upload_id_of(grant, _answer(200, **{"x-goog-generation": "1700"})) == expected
    # fake-gcs-server answers the object resource instead of the header.
    assert load.upload_id_of(grant, _answer(200, {"generation": "1700"})) == expected
    with pytest.raises(Failure):
        load.upload_id_of(grant, _answer(200))


# -- requests: 429, expired tokens, signed URLs ------------------------------------------
class FakeSession:
    """Answers logins with a new token each time, and other requests from a script."""

    script: list[requests.Response] = []
    sent: list[tuple[str, str, dict[str, str], dict[str, Any]]] = []
    logins = 0

    def post(self, url: str, json: dict[str, Any], timeout: float) -> requests.Response:
        assert json["password"] == SECRET
        FakeSession.logins += 1
        return _answer(200, {"access_token": f"token-{FakeSession.logins}"})

    def request(
        self, method: str, url: str, *, headers: dict[str, str], timeout: float, **options: Any
    ) -> requests.Response:
        FakeSession.sent.append((method, url, dict(headers), options))
        if url.endswith("/v1/me") and not FakeSession.script:
            return _answer(200, {"scope": "0001"})
        return FakeSession.script.pop(0)


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[load.Account]:
    monkeypatch.setattr(requests, "Session", FakeSession)
    FakeSession.script, FakeSession.sent, FakeSession.logins = [], [], 0
    yield load.Account("http://127.0.0.1:1/api_http", "client", Credentials("c", SECRET), Tally())


def test_a_429_is_counted_and_the_same_command_sent_again_after_retry_after(
    account: load.Account,
) -> None:
    assert account.scope == "0001"
    FakeSession.script = [_answer(429, **{"Retry-After": "0"}), _answer(202, {"ok": True})]
    answer = account.call("POST", "/v1/subscriptions", json={"plan": "BASIC"},
                          headers={"Idempotency-Key": "k1"}, deadline=time.monotonic() + 5)  # fmt: skip
    assert answer.status_code == 202 and account.tally.rate_limited == 1
    first, second = FakeSession.sent[-2:]
    assert first[2]["Idempotency-Key"] == second[2]["Idempotency-Key"] == "k1"
    assert first[3] == second[3] == {"json": {"plan": "BASIC"}}


def test_a_429_whose_retry_after_passes_the_deadline_ends_the_item(
    account: load.Account,
) -> None:
    FakeSession.script = [_answer(429, **{"Retry-After": "60"})]
    with pytest.raises(Failure, match="timeout"):
        account.call("GET", "/v1/commands/x", deadline=time.monotonic() + 5)
    assert account.tally.rate_limited == 1


def test_an_expired_token_logs_in_again_once(account: load.Account) -> None:
    FakeSession.script = [_answer(401), _answer(200, {}), _answer(401), _answer(401)]
    assert account.call("GET", "/v1/me", deadline=time.monotonic() + 5).status_code == 200
    assert FakeSession.sent[-1][2]["Authorization"] == "Bearer token-2"
    assert account.call("GET", "/v1/me", deadline=time.monotonic() + 5).status_code == 401


def test_a_token_another_thread_replaced_already_is_not_replaced_again(
    account: load.Account,
) -> None:
    account.login(expired="token-0")  # not the token in use (token-1): no login
    assert FakeSession.logins == 1
    account.login(expired="token-1")
    assert FakeSession.logins == 2


def test_a_signed_url_never_gets_the_bearer_token(account: load.Account) -> None:
    FakeSession.script = [_answer(200, {"generation": "1"})]
    url = "https://storage.googleapis.com/b/o.dcm?X-Goog-Signature=s"
    account.call("PUT", url, data=b"x", headers={"Content-Type": "application/dicom"},
                 deadline=time.monotonic() + 5, signed=True)  # fmt: skip
    method, sent_to, headers, _ = FakeSession.sent[-1]
    assert (method, sent_to) == ("PUT", url) and "Authorization" not in headers


def test_a_refused_login_names_the_reason_not_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Refusing(FakeSession):
        def post(self, url: str, json: dict[str, Any], timeout: float) -> requests.Response:
            return _answer(401, {"error": {"reason": "invalid_credentials", "detail": "no"}})

    monkeypatch.setattr(requests, "Session", Refusing)
    with pytest.raises(SystemExit) as refused:
        load.Account("http://127.0.0.1:1", "center", Credentials("c", SECRET), Tally())
    assert "401 invalid_credentials" in str(refused.value) and SECRET not in str(refused.value)


def test_a_link_the_api_answered_is_read_as_a_path_of_the_api(account: load.Account) -> None:
    assert account.path("/api_http/v1/commands/c1") == "/v1/commands/c1"
    assert account.path("/v1/commands/c1") == "/v1/commands/c1"
