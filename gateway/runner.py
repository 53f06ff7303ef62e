"""The running gateway: the SCP, the uploader thread and the status writer, started and
stopped in the order the guarantees need (at stop: no new acknowledgements first, then the
uploader, whose batch in flight goes back to the spool)."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import TextIO

from pynetdicom.transport import ThreadedAssociationServer

from gateway import scp, status, status_page
from gateway.config import GatewayConfig
from gateway.spool import Spool
from gateway.status import Stats
from gateway.uploader import ApiTarget, Target, Uploader

log = logging.getLogger("saludtech.gateway")
STATUS_SECONDS = 1.0


@dataclass
class Gateway:
    config: GatewayConfig
    target: Target | None = None  # the platform's api unless a test gives another
    stats: Stats = field(default_factory=Stats)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _server: ThreadedAssociationServer | None = None
    _uploader: Uploader | None = None
    _spool: Spool | None = None
    _lock_handle: TextIO | None = None
    _page: ThreadingHTTPServer | None = None

    def start(self) -> Gateway:
        self._lock()
        # The spool first: what a crash left is put back before anything new arrives.
        self._spool = Spool.open(self.config.spool_dir)
        self.config.platform.password()  # fail now, not at the first upload
        target = self.target or ApiTarget(self.config.platform)
        self._uploader = Uploader(
            self._spool, target, self.config.upload, self.stats, self._stopping,
            workers=self.config.upload.workers,
        )  # fmt: skip
        self._server = scp.start(self.config.scp, self._spool, self.stats)
        for name, run in (("uploader", self._uploader.run), ("status", self._publish)):
            thread = threading.Thread(target=run, name=f"gateway-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.config.status.port:
            page = self.config.status
            self._page = status_page.serve(
                self.config.status_file, self._spool.depth, page.host, page.port
            )
        depth = self._spool.depth()
        log.info("started queue_instances=%d queue_bytes=%d", *depth)
        return self

    def _lock(self) -> None:
        """One gateway per spool: a second one would undo the first one's work in progress
        as if it were a crash's. The kernel drops the lock when the process dies."""
        self.config.spool_dir.mkdir(parents=True, exist_ok=True)
        handle = (self.config.spool_dir / "lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise OSError(f"another gateway is running on {self.config.spool_dir}") from None
        self._lock_handle = handle

    def _status(self, state: str) -> dict[str, object]:
        assert self._spool is not None
        instances, size = self._spool.depth()
        return {**self.stats.snapshot(), "state": state, "pid": os.getpid(),
                "updated_at": time.time(), "queue_instances": instances,
                "queue_bytes": size}  # fmt: skip

    def _publish(self) -> None:
        while not self._stopping.is_set():
            try:
                status.write(self.config.status_file, self._status("running"))
            except OSError as exc:
                log.warning("status_not_written errno=%s", exc.errno)
            self._stopping.wait(STATUS_SECONDS)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # no association, so no acknowledgement, after this
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=30)
        if self._spool is not None:
            status.write(self.config.status_file, self._status("stopped"))
        if self._page is not None:
            self._page.shutdown()
            self._page.server_close()
        if self._lock_handle is not None:
            self._lock_handle.close()  # and with it the lock
        log.info("stopped")
