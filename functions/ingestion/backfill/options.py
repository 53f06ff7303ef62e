"""The backfill's pipeline options, and the settings a worker builds its service from.

On the DirectRunner the workers inherit the launcher's environment (the local stack's
variables, or a shell's SALUDTECH_*), so no option is needed beyond the source and the
dead-letter path. A Dataflow worker has no such environment: the options carry the project,
the bucket prefix and the names of the two key secrets (never a key), and each worker
resolves them once, in its setup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from functions.ingestion.backfill.secrets import access_secret
from shared.config import Settings

_DEVELOPMENT_MARK = "local-development"


class BackfillOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument("--source", help="gs://<bucket>/<prefix>, or a folder")
        parser.add_argument(
            "--dead_letter",
            help="Path prefix of the dead-letter output (JSON lines, one per refused object)",
        )
        parser.add_argument(
            "--center",
            default=None,
            help="The center of every object; default: the first folder below the prefix",
        )
        parser.add_argument(
            "--saludtech_project",
            default=None,
            help="Project of the product's buckets, Firestore and Pub/Sub (default: env)",
        )
        parser.add_argument(
            "--worker_threads",
            type=int,
            default=4,
            help="Objects ingested at once by each worker process (their waits overlap)",
        )
        parser.add_argument("--bucket_prefix", default=None, help="SALUDTECH_BUCKET_PREFIX")
        parser.add_argument("--collection_prefix", default=None, help="tests only")
        parser.add_argument(
            "--hmac_key_secret",
            default=None,
            help="projects/<p>/secrets/saludtech-hmac-key[/versions/<v>] (Dataflow)",
        )
        parser.add_argument(
            "--field_encryption_key_secret",
            default=None,
            help="projects/<p>/secrets/saludtech-field-encryption-key[/versions/<v>]",
        )


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to build the ingestion service: picklable, and free of keys."""

    project_id: str | None = None
    bucket_prefix: str | None = None
    collection_prefix: str | None = None
    hmac_key_secret: str | None = None
    field_encryption_key_secret: str | None = None

    @classmethod
    def from_options(cls, options: PipelineOptions) -> WorkerConfig:
        mine = options.view_as(BackfillOptions)
        return cls(
            project_id=mine.saludtech_project,
            bucket_prefix=mine.bucket_prefix,
            collection_prefix=mine.collection_prefix,
            hmac_key_secret=mine.hmac_key_secret,
            field_encryption_key_secret=mine.field_encryption_key_secret,
        )

    def project(self) -> str:
        """The product's project (listing needs no more: no key is read for it)."""
        return self.project_id or Settings().project_id

    def settings(self, read_secret: Callable[[str], str] = access_secret) -> Settings:
        """The environment's settings, with what the options give on top."""
        given: dict[str, Any] = {}
        if self.project_id:
            given["GOOGLE_CLOUD_PROJECT"] = self.project_id
        if self.bucket_prefix:
            given["bucket_prefix"] = self.bucket_prefix
        if self.collection_prefix is not None:
            given["collection_prefix"] = self.collection_prefix
        for field, secret in (
            ("hmac_key", self.hmac_key_secret),
            ("field_encryption_key", self.field_encryption_key_secret),
        ):
            if secret:
                value = read_secret(secret)
                # A key from Secret Manager is a production key: the public development
                # default would make every pseudonym reversible by anyone.
                if not value or _DEVELOPMENT_MARK in value:
                    raise ValueError(f"{secret} holds no key, or a development key")
                given[field] = value
        return Settings(**given)
