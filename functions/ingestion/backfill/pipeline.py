"""The backfill as an Apache Beam pipeline.

    source ─ List ─ Spread ─ Batch ─ Ingest ─┬─ outcomes (counted: Metrics "backfill")
                                             └─ dead letters ─ JSON lines ─ <dead_letter>*

List runs on one worker (one element: the source) and yields the archive's objects; Spread
(a reshuffle) breaks the fusion with it, so the objects are ingested by every worker rather
than by the one that listed them. Batch groups them so that Ingest can overlap the waits of a
few objects on a worker's threads (--worker_threads). Ingest builds the ingestion service
once per worker process, from the shared platform as the functions do
(bootstrap.cloud_platform on the context's database, then ingestion/wiring.build), and hands
it each object.
"""

# Beam's own functions are partly annotated only (mypy strict calls them untyped).
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from functions.bootstrap import cloud_platform
from functions.ingestion import wiring
from functions.ingestion.backfill.options import BackfillOptions, WorkerConfig
from functions.ingestion.backfill.reading import ArchiveFiles
from functions.ingestion.backfill.service import BackfillService, Outcome
from functions.ingestion.backfill.sources import ArchiveObject, ArchiveSource, lister_for
from shared.domain.errors import TransientError
from shared.logging import configure_logging
from shared.service.context import database_of

NAMESPACE = "backfill"
DEAD_LETTER = "dead_letter"
OUTCOMES = "outcomes"
RETRIES = 6
# A batch holds this many objects per thread, so the threads stay busy to its end.
BATCH_PER_THREAD = 4

# One service per worker process and configuration, shared by its threads (the ingestion
# service is thread-safe: the functions host serves it from many threads too). The settings
# come from the environment as well: a worker in this very process (multi_threading) after
# the environment changed (another stack) must not get a service built for the old one.
_services: dict[tuple[object, ...], BackfillService] = {}
_lock = threading.Lock()


def _environment() -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            (name, value)
            for name, value in os.environ.items()
            if name.startswith("SALUDTECH_")
            or name.endswith("_EMULATOR_HOST")
            or name == "GOOGLE_CLOUD_PROJECT"
        )
    )


def worker_service(config: WorkerConfig, center_id: str | None) -> BackfillService:
    with _lock:
        key = (config, center_id, _environment())
        if key not in _services:
            settings = config.settings()
            configure_logging(settings.log_level)
            platform = cloud_platform(settings, database_of("ingestion"))
            service = wiring.build(platform).service
            _services[key] = BackfillService(service, ArchiveFiles(platform.blobs), center_id)
        return _services[key]


class ListArchive(beam.DoFn):
    def __init__(self, config: WorkerConfig) -> None:
        super().__init__()
        self._config = config

    def process(self, source: ArchiveSource) -> Iterator[ArchiveObject]:
        project = self._config.project()
        listed = Metrics.counter(NAMESPACE, "listed")
        for obj in lister_for(source, project).list(source):
            listed.inc()
            yield obj


class IngestObjects(beam.DoFn):
    """Ingests a batch of objects on `threads` threads of the worker: an object spends most
    of its time waiting on Cloud Storage, Firestore and Pub/Sub, which threads overlap
    (the ingestion service is thread-safe, as the functions host serves it from threads)."""

    def __init__(self, config: WorkerConfig, center_id: str | None, threads: int) -> None:
        super().__init__()
        self._config = config
        self._center_id = center_id
        self._threads = threads
        self._service: BackfillService | None = None
        self._pool: ThreadPoolExecutor | None = None

    def setup(self) -> None:
        self._service = worker_service(self._config, self._center_id)
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="backfill")

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def process(self, batch: list[ArchiveObject]) -> Iterator[Any]:
        assert self._service is not None and self._pool is not None
        backfill = self._service.backfill
        # Counted and emitted here, on the bundle's own thread (Beam's metrics belong to it).
        for done in self._pool.map(lambda obj: _retried(backfill, obj), batch):
            Metrics.counter(NAMESPACE, done.outcome).inc()
            yield done.outcome
            if done.dead_letter is not None:
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, done.dead_letter)


def _retried(backfill: Callable[[ArchiveObject], Outcome], obj: ArchiveObject) -> Outcome:
    """What a function leaves to Pub/Sub's redelivery (a store that did not answer, a
    record changed under a transaction) is retried here, the object alone: a failed bundle
    fails the DirectRunner's whole job, and would redo a Dataflow bundle's other objects.
    What still fails after that fails the bundle (Dataflow retries it, then the job)."""
    for attempt in Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(RETRIES),
        wait=wait_random_exponential(multiplier=0.5, max=10),
        reraise=True,
    ):
        with attempt:
            return backfill(obj)
    raise AssertionError("unreachable: Retrying returns or raises")


def build(  # noqa: PLR0917 - the pipeline, then what the options say
    pipeline: beam.Pipeline,
    source: ArchiveSource,
    dead_letter: str,
    config: WorkerConfig,
    center_id: str | None = None,
    threads: int = 1,
) -> Any:
    """The transforms, on `pipeline`; returns the tagged outputs of Ingest."""
    objects = (
        pipeline
        | "Source" >> beam.Create([source])
        | "List" >> beam.ParDo(ListArchive(config))
        | "Spread" >> beam.Reshuffle()
        | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=BATCH_PER_THREAD * threads)
    )
    ingest = IngestObjects(config, center_id, threads)
    results = objects | "Ingest" >> beam.ParDo(ingest).with_outputs(DEAD_LETTER, main=OUTCOMES)
    _ = (
        results[DEAD_LETTER]
        | "AsJson" >> beam.Map(lambda letter: json.dumps(letter, sort_keys=True))
        | "WriteDeadLetters" >> beam.io.WriteToText(dead_letter, file_name_suffix=".jsonl")
    )
    return results


def run(argv: list[str]) -> dict[str, int]:
    """Run the backfill to the end; returns how many objects had each outcome."""
    options = PipelineOptions(argv)
    mine = options.view_as(BackfillOptions)
    if not mine.source or not mine.dead_letter:
        raise ValueError("--source and --dead_letter are required")
    source = ArchiveSource.parse(mine.source)
    pipeline = beam.Pipeline(options=options)
    config = WorkerConfig.from_options(options)
    build(pipeline, source, mine.dead_letter, config, mine.center, mine.worker_threads)
    result = pipeline.run()
    result.wait_until_finish()
    return counts(result)


def counts(result: Any) -> dict[str, int]:
    found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    totals: dict[str, int] = {}
    for counter in found:
        value = counter.committed if counter.committed is not None else counter.attempted
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + int(value or 0)
    return totals
