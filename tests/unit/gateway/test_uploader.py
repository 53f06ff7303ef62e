"""The uploader: retries with backoff keep every item while the target is down; what was
sent leaves the spool; a crash between the PUT and the removal sends it again."""

from __future__ import annotations

import io
import logging
import threading
import zipfile
from pathlib import Path

import pytest
import requests
from tenacity import RetryCallState

from gateway.config import Grouping, PlatformConfig, UploadConfig
from gateway.spool import Spool
from gateway.status import Stats
from gateway.uploader import ApiTarget, Uploader, UploadError, backoff, build_zip
from tests.unit.gateway.fakes import FakeTarget, instances, uids_of


def _spool(tmp_path: Path, n: int = 3) -> tuple[Spool, list[bytes]]:
    spool = Spool.open(tmp_path)
    study = instances(n)
    for k, data in enumerate(study):
        uids = uids_of(data)
        spool.store([data], uids[0], uids[2] + str(k * 0))
    return spool, study


def _uploader(
    spool: Spool, target: FakeTarget, grouping: Grouping = "study", keep_sent: bool = False
) -> tuple[Uploader, list[float]]:
    config = UploadConfig(grouping=grouping, study_quiet_seconds=0, backoff_initial_seconds=1,
                          backoff_max_seconds=8, keep_sent=keep_sent)  # fmt: skip
    uploader = Uploader(spool, target, config, Stats(), clock=lambda: 1e12)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        # While the target is down, everything acknowledged is still in the spool.
        assert spool.depth()[0] == 3
        waits.append(seconds)

    uploader._sleep = sleep  # type: ignore[method-assign]
    return uploader, waits


@pytest.mark.parametrize("grouping", ["study", "instance"])
def test_backoff_keeps_every_item_while_the_target_is_down(
    tmp_path: Path, grouping: Grouping
) -> None:
    spool, study = _spool(tmp_path)
    target = FakeTarget(down=6)
    uploader, waits = _uploader(spool, target, grouping)
    assert uploader.run_once() == 3
    assert sorted(target.received) == sorted(study)
    assert spool.depth() == (0, 0)
    assert list(spool.sending.iterdir()) == []
    # Exponential (1, 2, 4, then the 8 s cap) with up to 1 s of jitter each.
    assert len(waits) == 6
    for wait, base in zip(waits, [1, 2, 4, 8, 8, 8], strict=True):
        assert base <= wait <= min(base + 1, 8)
    counters = uploader.stats.snapshot()
    assert counters["failed_attempts"] == 6 and counters["last_error"] == "unreachable"
    assert counters["sent_instances"] == 3
    assert counters["sent_batches"] == (1 if grouping == "study" else 3)


def test_a_retry_after_is_waited_at_least(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path)
    target = FakeTarget(down=1, reason="rate_limited", retry_after=7)
    uploader, waits = _uploader(spool, target)
    uploader.run_once()
    assert waits and waits[0] >= 7


def test_stopping_during_an_outage_puts_the_batch_back(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path)
    target = FakeTarget(down=1000)
    uploader, _ = _uploader(spool, target)

    def stop_while_waiting(seconds: float) -> None:
        uploader.stopping.set()

    uploader._sleep = stop_while_waiting  # type: ignore[method-assign]
    assert uploader.run_once() == 0
    assert len(spool.pending()) == 3 and list(spool.sending.iterdir()) == []


def test_a_crash_between_the_put_and_the_removal_sends_it_again(tmp_path: Path) -> None:
    spool, study = _spool(tmp_path)
    target = FakeTarget()
    uploader, _ = _uploader(spool, target)

    def crash(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed after the PUT")

    spool.finish = crash  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        uploader.run_once()
    assert sorted(target.received) == sorted(study)
    restarted = Spool.open(tmp_path)
    again, _ = _uploader(restarted, target)
    assert again.run_once() == 3
    # At least once: the platform got every instance twice, identical bytes (its ingestion
    # keeps one catalogue entry for an identical arrival of the same instance).
    assert sorted(target.received) == sorted(study * 2)
    assert restarted.depth() == (0, 0)


def test_keep_sent_moves_instead_of_deleting(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path)
    uploader, _ = _uploader(spool, FakeTarget(), keep_sent=True)
    uploader.run_once()
    assert len(list(spool.sent.rglob("*.dcm"))) == 3


def test_upload_names_zip_entries_and_logs_carry_no_uids(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spool, study = _spool(tmp_path)
    target = FakeTarget(down=1)
    uploader, _ = _uploader(spool, target)
    uploader.run_once()
    uids = {uid for data in study for uid in uids_of(data)}
    assert target.names and target.names[0].startswith("study-")
    for uid in uids:
        assert not any(uid in name for name in target.names)
        assert uid not in caplog.text


def test_a_zip_holds_the_spooled_bytes_verbatim(tmp_path: Path) -> None:
    spool, study = _spool(tmp_path)
    from gateway.spool import Batch

    path = build_zip(Batch("s", tuple(spool.pending())), tmp_path)
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        assert sorted(archive.read(i) for i in archive.infolist()) == sorted(study)
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}


def test_the_wait_is_capped(tmp_path: Path) -> None:
    wait = backoff(1, 30)
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.attempt_number = 50
    assert wait(state) <= 30


# -- the api client, on a fake HTTP session ----------------------------------------------
class FakeHttp:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.login_status = 200
        self.fail_puts = 0

    def request(self, method: str, url: str, **options: object) -> requests.Response:
        self.calls.append((method, url.split("?", maxsplit=1)[0]))
        response = requests.Response()
        response.status_code = 200
        if url.endswith("/v1/auth/login") or url.endswith("/v1/auth/refresh"):
            response.status_code = self.login_status
            response._content = b'{"access_token": "a", "refresh_token": "r", "expires_in": 600}'
        elif url.endswith("/v1/uploads"):
            response.status_code = 201
            response._content = (
                b'{"url": "http://storage/put?sig=secret", "headers": '
                b'{"Content-Type": "application/zip"}, "object": "c/uploads/x/f.zip"}'
            )
        elif method == "PUT":
            body = options["data"]
            assert hasattr(body, "read")  # streamed from the file, never read whole
            if self.fail_puts:
                self.fail_puts -= 1
                response.status_code = 503
        return response


def _target(monkeypatch: pytest.MonkeyPatch, clock: list[float]) -> tuple[ApiTarget, FakeHttp]:
    monkeypatch.setenv("GW_PASSWORD", "pw")
    target = ApiTarget(
        PlatformConfig("http://api", "center-user", password_env="GW_PASSWORD"),
        clock=lambda: clock[0],
    )
    http = FakeHttp()
    target._local.session = http
    return target, http


def test_the_api_client_logs_in_once_and_refreshes_before_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [0.0]
    target, http = _target(monkeypatch, clock)
    file = tmp_path / "f.zip"
    file.write_bytes(b"PK")
    target.send("f.zip", file)
    target.send("f.zip", file)
    clock[0] = 560.0  # within a minute of the 600 s expiry
    target.send("f.zip", file)
    paths = [path.removeprefix("http://api") for _, path in http.calls]
    assert paths == [
        "/v1/auth/login", "/v1/uploads", "http://storage/put",
        "/v1/uploads", "http://storage/put",
        "/v1/auth/refresh", "/v1/uploads", "http://storage/put",
    ]  # fmt: skip


def test_the_api_client_reports_reason_codes_never_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, http = _target(monkeypatch, [0.0])
    file = tmp_path / "f.zip"
    file.write_bytes(b"PK")
    http.fail_puts = 1
    with pytest.raises(UploadError) as failed:
        target.send("f.zip", file)
    assert failed.value.reason == "put_503" and "secret" not in str(failed.value)
    http.login_status = 401
    target._access = None
    target._refresh = None
    with pytest.raises(UploadError) as refused:
        target.send("f.zip", file)
    assert refused.value.reason == "login_refused"


def test_an_unreachable_api_is_a_reason_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_PASSWORD", "pw")
    target = ApiTarget(
        PlatformConfig("http://127.0.0.1:9", "u", password_env="GW_PASSWORD", timeout_seconds=2)
    )
    with pytest.raises(UploadError) as failed:
        target.grant("x.dcm")
    assert failed.value.reason == "unreachable"


def test_the_uploader_thread_stops_promptly(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path)
    uploader = Uploader(spool, FakeTarget(down=10**6), UploadConfig(study_quiet_seconds=0),
                        Stats())  # fmt: skip
    thread = threading.Thread(target=uploader.run)
    thread.start()
    uploader.stopping.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert spool.depth()[0] == 3
