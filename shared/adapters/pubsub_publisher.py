"""EventPublisher on Google Cloud Pub/Sub (the cloud or the emulator).

Messages use the CloudEvents binary binding. With ordering on, the aggregate id is the
ordering key, so the events of one aggregate keep their order where a subscription asks for it.
The personal fields of a message are sealed with the `sealer` the platform gives (none: such
a message is refused, never published in clear).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures

from google.api_core import exceptions as google_errors
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from shared.adapters import grants
from shared.domain.errors import TransientError
from shared.ports.envelope import Envelope
from shared.service.sealed_messages import NO_KEY, MessageSealer

PUBLISH_TIMEOUT_SECONDS = 30.0


class PubSubPublisher:
    def __init__(
        self,
        project_id: str,
        *,
        sealer: MessageSealer = NO_KEY,
        ordering: bool = False,
        client: pubsub_v1.PublisherClient | None = None,
    ) -> None:
        self._project_id = project_id
        self._sealer = sealer
        self._ordering = ordering
        self._client = client or pubsub_v1.PublisherClient(
            # A command answers an HTTP request: batch for milliseconds, not the default 10 ms.
            batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.002),
            publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=ordering),
        )

    def topic_path(self, topic: str) -> str:
        return str(self._client.topic_path(self._project_id, topic))

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str]) -> None:
        grants.check_publish(topic)
        future = self._client.publish(self.topic_path(topic), data, **attributes)
        try:
            future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        except (google_errors.GoogleAPICallError, futures.TimeoutError) as error:
            raise TransientError(f"pubsub publish to {topic}: {type(error).__name__}") from error

    def publish(self, topic: str, envelopes: Sequence[Envelope]) -> None:
        grants.check_publish(topic)
        path = self.topic_path(topic)
        pending = []
        for envelope in envelopes:
            data, attributes = envelope.to_pubsub(self._sealer)
            key = envelope.subject if self._ordering else ""
            pending.append((key, self._client.publish(path, data, ordering_key=key, **attributes)))
        for key, future in pending:
            try:
                future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
            except (google_errors.GoogleAPICallError, futures.TimeoutError) as error:
                if key:  # an ordered key pauses after a failure until resumed
                    self._client.resume_publish(path, key)
                problem = type(error).__name__
                raise TransientError(f"pubsub publish to {topic}: {problem}") from error
