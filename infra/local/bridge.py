"""The local Eventarc: pulls the topology's trigger subscriptions and POSTs CloudEvents.

The Pub/Sub emulator's push retries a failing endpoint every second forever, ignores
filters and drops orderingKey, so the bridge pulls instead and does what Eventarc and
Pub/Sub do in the cloud: exponential backoff between attempts (the topology's retry
policy), dead-lettering after max_delivery_attempts, filters, and at most N concurrent
deliveries per subscription. A message stays leased (subscription_leases.py extends its
deadline) until its final outcome, so if the bridge dies mid-retry Pub/Sub redelivers it.
A trigger subscription is pulled when its topic's doorbell rings (topic_doorbell.py): one
long-poll per topic rather than one per subscription (each Pull costs the emulator CPU).
It can inject chaos (see chaos.py) and serves an admin API (see bridge_admin.py).

Run: python -m infra.local.bridge --functions-url http://127.0.0.1:8090 --admin-port 8091
(PUBSUB_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT and SALUDTECH_BUCKET_PREFIX from the env).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from google.api_core import exceptions as google_exceptions
from google.cloud import pubsub_v1  # type: ignore[attr-defined,unused-ignore]
from requests.adapters import HTTPAdapter

from infra.local.bridge_admin import AdminServer
from infra.local.chaos import ChaosControl, ChaosSettings, ReorderBuffer, chaos_from_environment
from infra.local.delivery_stats import SubscriptionStats
from infra.local.eventarc_envelope import (
    EventDelivery,
    PulledMessage,
    pubsub_published_event,
    pubsub_push,
    rfc3339,
    storage_finalized_event,
    storage_notification_push,
    with_object_resource,
)
from infra.local.ports import StackPorts
from infra.local.scheduler import Scheduler, jobs_of
from infra.local.subscription_leases import Lease, LeaseKeeper
from infra.local.topic_doorbell import TopicDoorbell
from infra.local.topology import (
    DEFAULT_TOPOLOGY_PATH,
    TriggerSubscription,
    load_topology,
)
from shared.adapters.local_id_tokens import platform_tokens

log = logging.getLogger("bridge")

DEFAULT_CONCURRENCY = 16
# As long as the stack waits for any part (stack.READY_TIMEOUT_SECONDS): on a loaded machine
# the Pub/Sub JVM alone can take half a minute before the subscriptions exist.
SUBSCRIPTION_WAIT_SECONDS = 60.0
STOP_IN_FLIGHT_SECONDS = 2.0  # with the Pull's 2 s, within the stack's 5 s stop grace


@dataclass
class DeliveryJob:
    pulled: PulledMessage
    event: EventDelivery
    lease: Lease  # ack() ends it; until then the message is Pub/Sub's to redeliver


class SubscriptionPump:
    """Delivers one trigger subscription to one function target."""

    def __init__(  # noqa: PLR0917 (keyword use would only add noise at the one call site)
        self,
        spec: TriggerSubscription,
        project: str,
        bucket_prefix: str,
        functions_url: str,
        subscriber: pubsub_v1.SubscriberClient,
        publisher: pubsub_v1.PublisherClient,
        chaos: ChaosControl,
        concurrency: int,
        doorbell: TopicDoorbell,
        push: bool = False,
    ) -> None:
        self.spec = spec
        # The cloud mode: raw Pub/Sub push bodies, as our push subscriptions send them,
        # with an ID token of the platform (the router checks it).
        self._push = push
        self._tokens = platform_tokens()
        self.stats = SubscriptionStats()
        self._project = project
        self._physical_bucket = f"{bucket_prefix}-{spec.bucket}" if spec.bucket else None
        # Where the object resource of a notification without payload is read (the front).
        self._storage_url = os.environ.get("STORAGE_EMULATOR_HOST", "")
        self._url = f"{functions_url.rstrip('/')}/{spec.target}/"
        self._subscriber = subscriber
        self._publisher = publisher
        self._chaos = chaos
        self._concurrency = concurrency
        self._filter = spec.policy.attribute_filter
        self._stopping = threading.Event()
        self._deliveries = ThreadPoolExecutor(concurrency, thread_name_prefix=spec.name)
        self._session = requests.Session()
        # Loopback only: skip the proxy and netrc lookups requests does on every call.
        self._session.trust_env = False
        # Room for every worker plus a duplicate each, so connections are reused.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=concurrency * 2)
        self._session.mount("http://", adapter)
        self._reorder: ReorderBuffer[DeliveryJob] = ReorderBuffer(
            spec.name, chaos, self._submit, self._count_shuffle
        )
        self._leases = LeaseKeeper(
            subscriber,
            self.path,
            spec.policy.ack_deadline_seconds,
            # Leased but undelivered messages wait in the executor or the reorder buffer;
            # twice the concurrency keeps workers busy without hoarding the backlog.
            max_outstanding=concurrency * 2,
            on_message=self._on_message,
            # Rung by the topic's doorbell (topic_doorbell.py) for what may pass the filter.
            bell=doorbell.bell(self._may_want),
        )

    @property
    def path(self) -> str:
        return str(self._subscriber.subscription_path(self._project, self.spec.name))

    def _may_want(self, attributes: Mapping[str, str]) -> bool:
        """False for a message _event_for surely drops: its doorbell does not ring for it."""
        if self.spec.kind == "gcs" or self._filter is None:
            return True
        return self._filter.matches(attributes)

    @property
    def running(self) -> bool:
        return self._leases.running

    def start(self) -> None:
        self._leases.start()

    def stop(self) -> None:
        self._stopping.set()  # retry loops end without acking
        self._reorder.close()
        self._deliveries.shutdown(wait=False, cancel_futures=True)
        self._leases.stop_pulling()
        # Let requests already at the function finish, so their acks are sent rather than
        # their messages redelivered to the next bridge as duplicates.
        deadline = time.monotonic() + STOP_IN_FLIGHT_SECONDS
        while self.stats.snapshot()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.02)
        self._leases.finish()

    # -- receiving -------------------------------------------------------------------------

    def _on_message(self, lease: Lease) -> bool:
        """Hand the message on to delivery (True), or drop it (False)."""
        self.stats.add("received")
        pulled = lease.message
        try:
            event = self._event_for(pulled)
        except requests.RequestException as error:  # not acked: Pub/Sub redelivers it
            log.warning("bridge: %s: object resource unread: %s", self.spec.name, error)
            return False
        if event is None:
            # Not for this function (filter, other bucket or event type): Pub/Sub and
            # Eventarc acknowledge such messages without delivering them.
            lease.ack()
            self.stats.add("filtered")
            return False
        job = DeliveryJob(pulled=pulled, event=event, lease=lease)
        if self._reorder.enabled():
            self._reorder.add(job)
        else:
            self._submit(job)
        return True

    def _event_for(self, pulled: PulledMessage) -> EventDelivery | None:
        if self.spec.kind == "gcs":
            assert self._physical_bucket is not None
            if self._push:
                return storage_notification_push(
                    pulled, self._project, self.spec.name, self._physical_bucket
                )
            if not pulled.data and pulled.attributes.get("bucketId") == self._physical_bucket:
                found = with_object_resource(pulled, self._storage_url)
                if found is None:
                    return None
                pulled = found
            return storage_finalized_event(pulled, self._physical_bucket)
        if self._filter is not None and not self._filter.matches(pulled.attributes):
            return None
        if self._push:
            return pubsub_push(pulled, self._project, self.spec.name)
        return pubsub_published_event(pulled, self._project, self.spec.topic, self.spec.name)

    def _submit(self, job: DeliveryJob) -> None:
        if self._stopping.is_set():
            return
        self._deliveries.submit(self._deliver, job)

    def _count_shuffle(self, window: int, moved: int) -> None:
        self.stats.add("reorder_windows")
        self.stats.add("reordered", moved)

    # -- delivering ------------------------------------------------------------------------

    def _deliver(self, job: DeliveryJob) -> None:
        self.stats.add("in_flight")
        try:
            self._deliver_with_retries(job)
        except Exception:  # a bug here must not kill the worker; the lease expires instead
            log.exception("%s: delivering %s failed", self.spec.name, job.event.event_id)
        finally:
            self.stats.add("in_flight", -1)

    def _deliver_with_retries(self, job: DeliveryJob) -> None:
        subscription, event_id = self.spec.name, job.event.event_id
        delay = self._chaos.delay_seconds(subscription, event_id)
        if delay and self._stopping.wait(delay):
            return
        if self._chaos.should_duplicate(subscription, event_id):
            self.stats.add("duplicates_injected")
            self._deliveries.submit(self._post, job.event)
        policy = self.spec.policy
        attempt = 0
        while True:
            attempt += 1
            if self._post(job.event):
                job.lease.ack()
                self.stats.add("acked")
                published = job.pulled.publish_time
                self.stats.record_latency((datetime.now(UTC) - published).total_seconds() * 1000)
                return
            if attempt >= policy.max_delivery_attempts:
                self._give_up(job, attempt)
                return
            self.stats.add("retried")
            # Leaving the message unacked on shutdown makes Pub/Sub redeliver it later.
            if self._stopping.wait(policy.retry.backoff_after(attempt)):
                return

    def _post(self, event: EventDelivery) -> bool:
        self.stats.add("delivered")
        try:
            response = self._session.post(
                self._url,
                data=event.body,
                headers={**event.headers, **self._tokens(self._url.rstrip("/"))},
                timeout=self.spec.policy.ack_deadline_seconds,
            )
        except requests.RequestException as error:
            log.warning("%s: %s -> %s", self.spec.name, event.event_id, error)
            return False
        if 200 <= response.status_code < 300:
            return True
        log.warning(
            "%s: %s -> HTTP %s %s",
            self.spec.name,
            event.event_id,
            response.status_code,
            response.text[:200].replace("\n", " "),
        )
        return False

    def _give_up(self, job: DeliveryJob, attempts: int) -> None:
        topic = self.spec.policy.dead_letter_topic
        if topic is None:
            log.error(
                "%s: dropping %s after %d attempts (no dead-letter topic)",
                self.spec.name,
                job.event.event_id,
                attempts,
            )
            job.lease.ack()
            self.stats.add("dropped")
            return
        attributes = {
            **job.pulled.attributes,
            # The attributes Pub/Sub adds when it forwards a message to a dead-letter topic.
            "CloudPubSubDeadLetterSourceDeliveryCount": str(attempts),
            "CloudPubSubDeadLetterSourceSubscription": self.spec.name,
            "CloudPubSubDeadLetterSourceSubscriptionProject": self._project,
            "CloudPubSubDeadLetterSourceTopicPublishTime": rfc3339(job.pulled.publish_time),
        }
        try:
            self._publisher.publish(
                self._publisher.topic_path(self._project, topic), job.pulled.data, **attributes
            ).result(timeout=30)
        except Exception:
            # Not acked: the message comes back after its lease and is tried again.
            log.exception("%s: dead-lettering %s failed", self.spec.name, job.event.event_id)
            return
        job.lease.ack()
        self.stats.add("dead_lettered")
        log.warning(
            "%s: dead-lettered %s to %s after %d attempts",
            self.spec.name,
            job.event.event_id,
            topic,
            attempts,
        )


class Bridge:
    """Every pump of the topology, their shared chaos control, and the admin server."""

    def __init__(
        self,
        subscriptions: list[TriggerSubscription],
        *,
        project: str,
        bucket_prefix: str,
        functions_url: str,
        chaos: ChaosSettings,
        concurrency: int = DEFAULT_CONCURRENCY,
        push: bool = False,
    ) -> None:
        self.project = project
        self.chaos = ChaosControl(chaos)
        self.started_at = time.time()
        self._subscriber = pubsub_v1.SubscriberClient()
        self._publisher = pubsub_v1.PublisherClient()
        self.doorbells = {
            topic: TopicDoorbell(self._subscriber, project, topic)
            for topic in sorted({spec.topic for spec in subscriptions})
        }
        self.pumps = [
            SubscriptionPump(
                spec, project, bucket_prefix, functions_url,
                self._subscriber, self._publisher, self.chaos, concurrency,
                self.doorbells[spec.topic], push,
            )
            for spec in subscriptions
        ]  # fmt: skip

    def wait_for_subscriptions(self, timeout: float = SUBSCRIPTION_WAIT_SECONDS) -> None:
        """The stack creates the subscriptions while the bridge boots: wait for them."""
        deadline = time.monotonic() + timeout
        for pump in self.pumps:
            while True:
                try:
                    self._subscriber.get_subscription(subscription=pump.path, timeout=5)
                    break
                except (google_exceptions.NotFound, google_exceptions.ServiceUnavailable):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        # Their topics exist now; the bridge's own doorbell subscriptions are made here.
        for doorbell in self.doorbells.values():
            doorbell.create()

    def start(self) -> None:
        self.wait_for_subscriptions()
        for pump in self.pumps:
            pump.start()
        for doorbell in self.doorbells.values():
            doorbell.start()

    def stop(self) -> None:
        for doorbell in self.doorbells.values():
            doorbell.stop_pulling()
        # In parallel: each pump may wait for deliveries in flight, each doorbell for its
        # long poll.
        stops = [*(p.stop for p in self.pumps), *(d.finish for d in self.doorbells.values())]
        with ThreadPoolExecutor(max(1, len(stops))) as pool:
            list(pool.map(lambda stop: stop(), stops))

    def status(self) -> dict[str, object]:
        return {
            "project": self.project,
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "chaos": self.chaos.settings.model_dump(),
            "subscriptions": [
                {
                    "name": pump.spec.name,
                    "topic": pump.spec.topic,
                    "function": pump.spec.function,
                    "target": pump.spec.target,
                    "kind": pump.spec.kind,
                    "running": pump.running and self.doorbells[pump.spec.topic].running,
                }
                for pump in self.pumps
            ],
        }

    def stats(self) -> dict[str, object]:
        return {pump.spec.name: pump.stats.snapshot() for pump in self.pumps}

    def reset_stats(self) -> None:
        for pump in self.pumps:
            pump.stats.reset()


def main(argv: list[str] | None = None) -> None:
    ports = StackPorts.from_environment()  # the stack's (SALUDTECH_PORT_*), as `up` finds them
    parser = argparse.ArgumentParser(description="Local Eventarc bridge")
    parser.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY_PATH)
    parser.add_argument("--functions-url", default=ports.url("functions"))
    parser.add_argument("--admin-port", type=int, default=ports.bridge)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument(
        "--push", action="store_true", help="POST raw Pub/Sub push bodies (the cloud mode)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s"
    )
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "saludtech-local")
    topology = load_topology(args.topology)
    bridge = Bridge(
        topology.trigger_subscriptions(),
        project=project,
        bucket_prefix=os.environ.get("SALUDTECH_BUCKET_PREFIX", "saludtech-local"),
        functions_url=args.functions_url,
        chaos=chaos_from_environment(),
        concurrency=args.concurrency,
        push=args.push,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    bridge.start()
    # Cloud Scheduler's part is played here too: the jobs call the functions host.
    scheduler = Scheduler(jobs_of(topology, args.functions_url, datetime.now(UTC)))
    scheduler.start()
    # The admin port answers only once every pump streams: it doubles as the ready check.
    admin = AdminServer(bridge, port=args.admin_port, scheduler=scheduler)
    admin.start()
    log.info("bridging %s for project %s", [p.spec.name for p in bridge.pumps], project)
    if scheduler.jobs:
        log.info("scheduling %s", [job.describe() for job in scheduler.jobs.values()])
    stopping.wait()
    scheduler.stop()
    admin.stop()
    bridge.stop()


if __name__ == "__main__":
    main()
