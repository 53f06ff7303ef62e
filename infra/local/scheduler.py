"""The local Cloud Scheduler: runs the topology's `schedules:` jobs against the functions host.

In the cloud each job is a Cloud Scheduler job that POSTs its body to an HTTP function at its
cron schedule, in its time zone. Here a thread of the bridge does the same: it sleeps until the
next job is due, POSTs `body` as JSON to `<functions_url>/<target><path>` with the headers
Cloud Scheduler sends, logs the outcome, and computes the job's next time. A job whose run is
still going when it is due again is not started twice (Cloud Scheduler does not overlap runs
either). Failed runs are logged, not retried: the next scheduled run is the retry.
The bridge's admin API lists the jobs (`GET /schedules`) and runs one now
(`POST /schedules/<job>/run`, as `gcloud scheduler jobs run` does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import requests
from croniter import croniter

from infra.local.topology import Topology
from shared.adapters.local_id_tokens import platform_tokens

log = logging.getLogger("scheduler")

RUN_TIMEOUT_SECONDS = 180.0  # Cloud Scheduler's default attempt deadline for HTTP targets
MAX_SLEEP_SECONDS = 1.0  # re-check this often, so a stop is noticed quickly


@dataclass
class ScheduledJob:
    name: str
    function: str
    url: str
    body: dict[str, object]
    cron: str
    time_zone: str
    next_run: datetime
    running: bool = False
    last_run: dict[str, object] = field(default_factory=dict)

    def advance(self, after: datetime) -> None:
        local = after.astimezone(ZoneInfo(self.time_zone))
        self.next_run = croniter(self.cron, local).get_next(datetime).astimezone(UTC)

    def describe(self) -> dict[str, object]:
        return {
            "job": self.name, "function": self.function, "schedule": self.cron,
            "time_zone": self.time_zone, "next_run": self.next_run.isoformat(),
            "running": self.running, "last_run": self.last_run,
        }  # fmt: skip


def jobs_of(topology: Topology, functions_url: str, now: datetime) -> list[ScheduledJob]:
    jobs = []
    for name, schedule in topology.schedules.items():
        # The topology's validation guarantees an HTTP function of `functions:`.
        target = topology.functions[schedule.function].target
        job = ScheduledJob(
            name=name,
            function=schedule.function,
            url=f"{functions_url}/{target}{schedule.path}",
            body=schedule.body,
            cron=schedule.schedule,
            time_zone=schedule.time_zone,
            next_run=now,
        )
        job.advance(now)
        jobs.append(job)
    return jobs


class Scheduler:
    def __init__(
        self,
        jobs: list[ScheduledJob],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.jobs = {job.name: job for job in jobs}
        self._clock = clock
        self._lock = threading.Lock()
        self._http = requests.Session()
        self._tokens = platform_tokens()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def start(self) -> None:
        if self.jobs:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def describe(self) -> list[dict[str, object]]:
        with self._lock:
            return [job.describe() for job in self.jobs.values()]

    def run_now(self, name: str) -> bool:
        """Start one run of the job at once; False if it is running already."""
        return self._start_run(self.jobs[name], self._clock(), advance=False)

    def run_due(self) -> int:
        """Start every job that is due; returns how many started."""
        now = self._clock()
        due = [job for job in self.jobs.values() if job.next_run <= now]
        return sum(self._start_run(job, now, advance=True) for job in due)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.run_due()
            with self._lock:
                earliest = min(job.next_run for job in self.jobs.values())
            wait = (earliest - self._clock()).total_seconds()
            self._stopping.wait(min(max(wait, 0.01), MAX_SLEEP_SECONDS))

    def _start_run(self, job: ScheduledJob, now: datetime, *, advance: bool) -> bool:
        with self._lock:
            scheduled = job.next_run
            if advance:
                job.advance(now)
            if job.running:
                log.warning("schedule %s: the previous run is still going; skipped", job.name)
                return False
            job.running = True
        threading.Thread(
            target=self._run, args=(job, scheduled if advance else now), daemon=True
        ).start()
        return True

    def _run(self, job: ScheduledJob, scheduled: datetime) -> None:
        headers = {
            "User-Agent": "Google-Cloud-Scheduler",
            "X-CloudScheduler": "true",
            "X-CloudScheduler-JobName": job.name,
            "X-CloudScheduler-ScheduleTime": scheduled.isoformat().replace("+00:00", "Z"),
            # Cloud Scheduler's OIDC token, in the cloud mode; its audience is the function's
            # URL (scheme, host and `/<target>`), not the job's path below it.
            **self._tokens("/".join(job.url.split("/")[:4])),
        }
        outcome: dict[str, object] = {"at": self._clock().isoformat()}
        try:
            response = self._http.post(
                job.url, json=job.body, headers=headers, timeout=RUN_TIMEOUT_SECONDS
            )
            outcome["status"] = response.status_code
            log.info("schedule %s → %s: HTTP %s", job.name, job.function, response.status_code)
        except requests.RequestException as error:
            outcome["error"] = type(error).__name__
            log.warning("schedule %s → %s failed: %s", job.name, job.function, error)
        with self._lock:
            job.running = False
            job.last_run = outcome
