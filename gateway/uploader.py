"""The uploader: sends the spool to the center's ingest prefix through the public api.

For each batch (spool.plan_batches): ask `POST /v1/uploads` for a signed URL (logged in as
the center's account), PUT the bytes to it with the headers it answered, and only then
remove the batch from the spool. Every failure is retried with exponential backoff and
jitter, without end while the gateway runs: the batch stays in the spool while the
platform is unreachable, and goes when it returns. A crash between the PUT and the removal
sends the batch again after the restart: at least once. The platform's ingestion records
one catalogue entry per instance and treats an identical second arrival from the same
center as nothing to do (functions/ingestion/domain.py, Arrival.SAME), so at least once
here is exactly once in the catalogue.

Failures are reported as reason codes (REASONS), never with a response body, a URL (a
signed URL is a credential) or a file name.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from gateway.config import PlatformConfig, UploadConfig
from gateway.spool import Batch, Spool, plan_batches
from gateway.status import Stats

log = logging.getLogger("saludtech.gateway.uploader")

REASONS = {
    "unreachable": "the api or the storage did not answer (network, DNS, refused)",
    "timeout": "a request timed out",
    "login_refused": "the center account's username or password was refused (401)",
    "token_refused": "the access token was refused; the next attempt logs in again",
    "rate_limited": "the api answered 429; waiting at least its Retry-After",
    "http_<code>": "the api answered an error status",
    "put_<code>": "the signed URL's storage answered an error status",
    "bad_answer": "the api's answer was not what the gateway expects",
    "local_io": "the spool could not be read or a zip could not be built",
}
TOKEN_MARGIN_SECONDS = 60  # refresh this long before the access token expires
CONTENT_TYPES = {".dcm": "application/dicom", ".zip": "application/zip"}


class UploadError(Exception):
    """A failed attempt; `reason` is a code of REASONS."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class Target(Protocol):
    def send(self, file_name: str, path: Path) -> None:
        """Put the file into the center's ingest prefix, named `file_name`; raise
        UploadError when it is not there."""


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _failure(response: requests.Response, prefix: str = "http") -> UploadError:
    if response.status_code == 429:
        return UploadError("rate_limited", _retry_after(response))
    return UploadError(f"{prefix}_{response.status_code}")


@dataclass
class ApiTarget:
    """The platform's public api, as the center's account (login, refresh, signed PUTs)."""

    platform: PlatformConfig
    clock: Callable[[], float] = time.monotonic
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _access: str | None = None
    _refresh: str | None = None
    _expires: float = 0.0

    @property
    def _http(self) -> requests.Session:
        # One session per uploader thread: connections are reused, never shared.
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        session: requests.Session = self._local.session
        return session

    def _call(self, method: str, url: str, **options: Any) -> requests.Response:
        try:
            return self._http.request(method, url, timeout=self.platform.timeout_seconds, **options)
        except requests.Timeout:
            raise UploadError("timeout") from None
        except requests.RequestException:
            raise UploadError("unreachable") from None

    def _tokens(self, path: str, body: dict[str, str]) -> bool:
        response = self._call("POST", f"{self.platform.api_url}{path}", json=body)
        if response.status_code == 401:
            return False
        if response.status_code != 200:
            raise _failure(response)
        try:
            answer = response.json()
            self._access, self._refresh = answer["access_token"], answer["refresh_token"]
            self._expires = self.clock() + float(answer["expires_in"])
        except (ValueError, KeyError, TypeError):
            raise UploadError("bad_answer") from None
        return True

    def _bearer(self) -> str:
        with self._lock:
            if self._access is None or self.clock() > self._expires - TOKEN_MARGIN_SECONDS:
                refreshed = self._refresh is not None and self._tokens(
                    "/v1/auth/refresh", {"refresh_token": self._refresh}
                )
                if not refreshed:
                    self._access = self._refresh = None
                    body = {"username": self.platform.username,
                            "password": self.platform.password()}  # fmt: skip
                    if not self._tokens("/v1/auth/login", body):
                        raise UploadError("login_refused")
            return f"Bearer {self._access}"

    def _forget(self, bearer: str) -> None:
        with self._lock:
            if f"Bearer {self._access}" == bearer:
                self._access = None  # revoked or expired early: refresh, or log in again

    def grant(self, file_name: str) -> dict[str, Any]:
        bearer = self._bearer()
        response = self._call(
            "POST", f"{self.platform.api_url}/v1/uploads",
            json={"file_name": file_name}, headers={"Authorization": bearer},
        )  # fmt: skip
        if response.status_code == 401:
            self._forget(bearer)
            raise UploadError("token_refused")
        if response.status_code != 201:
            raise _failure(response)
        try:
            answer: dict[str, Any] = response.json()
            if not isinstance(answer["url"], str) or not isinstance(answer["headers"], dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise UploadError("bad_answer") from None
        return answer

    def send(self, file_name: str, path: Path) -> None:
        grant = self.grant(file_name)
        try:
            size = path.stat().st_size
            with path.open("rb") as body:  # streamed: memory stays flat whatever the size
                headers = {**grant["headers"], "Content-Length": str(size)}
                response = self._call("PUT", grant["url"], data=body, headers=headers)
        except OSError:
            raise UploadError("local_io") from None
        if not 200 <= response.status_code < 300:
            raise _failure(response, "put")


def build_zip(batch: Batch, directory: Path) -> Path:
    """The batch as one zip of `<sop-key>.dcm` entries. Stored, not deflated: DICOM pixel
    data is usually compressed already, and the gateway's CPU is the PACS host's."""
    path = directory / f"{uuid.uuid4().hex}.zip"
    try:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            for entry in batch.entries:
                archive.write(entry.path, arcname=entry.path.name)
    except OSError:
        path.unlink(missing_ok=True)
        raise UploadError("local_io") from None
    return path


def backoff(initial: float, maximum: float) -> Callable[[RetryCallState], float]:
    """Exponential with jitter (so gateways that lost the platform together do not return
    together), never shorter than the Retry-After of a 429."""
    exponential = wait_exponential_jitter(initial=initial, max=maximum, jitter=initial)

    def wait(state: RetryCallState) -> float:
        seconds = float(exponential(state))
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, UploadError) and failure.retry_after:
            seconds = max(seconds, min(failure.retry_after, maximum))
        return seconds

    return wait


@dataclass
class Uploader:
    spool: Spool
    target: Target
    config: UploadConfig
    stats: Stats
    stopping: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.time  # compared with the spool files' mtimes
    workers: int = 1

    def _sleep(self, seconds: float) -> None:
        self.stopping.wait(seconds)  # interrupted at shutdown

    def _failed(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        reason = failure.reason if isinstance(failure, UploadError) else "local_io"
        self.stats.add(failed_attempts=1)
        self.stats.error(reason)
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("upload_failed reason=%s attempt=%d retry_in=%.1fs",
                    reason, state.attempt_number, wait)  # fmt: skip

    def send(self, batch: Batch) -> None:
        """Send one claimed batch, retrying until it is sent or the gateway stops (then
        UploadError)."""
        retrying = Retrying(
            retry=retry_if_exception_type(UploadError),
            wait=backoff(self.config.backoff_initial_seconds, self.config.backoff_max_seconds),
            stop=lambda state: self.stopping.is_set(),
            sleep=self._sleep,
            before_sleep=self._failed,
            reraise=True,
        )
        retrying(self._attempt, batch)

    def _attempt(self, batch: Batch) -> None:
        if len(batch.entries) == 1 and self.config.grouping == "instance":
            (entry,) = batch.entries
            self.target.send(entry.path.name, entry.path)
            return
        archive = build_zip(batch, self.spool.outgoing)
        try:
            self.target.send(f"study-{batch.study[:24]}-{archive.stem[:8]}.zip", archive)
        finally:
            archive.unlink(missing_ok=True)

    def _one(self, batch: Batch) -> int:
        if self.stopping.is_set():
            return 0
        claimed = self.spool.claim(batch)
        if not claimed.entries:
            self.spool.unclaim(claimed)
            return 0
        try:
            self.send(claimed)
        except UploadError:
            self.spool.unclaim(claimed)  # stopping: kept for the next start
            return 0
        self.spool.finish(claimed, keep=self.config.keep_sent)
        self.stats.sent(len(claimed.entries))
        log.info("uploaded study=%s instances=%d bytes=%d",
                 claimed.study[:12], len(claimed.entries), claimed.size)  # fmt: skip
        return len(claimed.entries)

    def run_once(self) -> int:
        """Send every batch due now; the number of instances sent."""
        batches = plan_batches(
            self.spool.pending(), self.clock(), self.config.grouping,
            self.config.study_quiet_seconds, self.config.max_batch_bytes,
            self.config.max_batch_entries,
        )  # fmt: skip
        if not batches:
            return 0
        if self.workers <= 1 or len(batches) == 1:
            sent = 0
            for batch in batches:
                if self.stopping.is_set():
                    break
                sent += self._one(batch)
        else:
            with ThreadPoolExecutor(self.workers) as pool:
                sent = sum(pool.map(self._one, batches))
        self.spool.forget_empty_studies()
        return sent

    def run(self) -> None:
        """The uploader thread: until stopped, send what is due, then wait a little."""
        while not self.stopping.is_set():
            try:
                sent = self.run_once()
            except OSError as exc:  # the spool itself: keep going, say why
                self.stats.error("local_io")
                log.error("spool_error errno=%s", exc.errno)
                sent = 0
            if not sent:
                self.stopping.wait(self.config.poll_seconds)
