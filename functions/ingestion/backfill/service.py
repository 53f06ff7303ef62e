"""One archived object through the ingestion service, and what the backfill job emits for it.

The steps are the ingestion service's own (IngestionService.replay, .ingest, .refuse): the
same engine and options, the same CatalogueImage through the same MessageProcessor, the same
quarantine with `<name>.reason.json`. So an object ingested here and also uploaded ends as
one catalogue record: whichever arrives second meets the record's aggregate, which calls the
same file again SAME (no change, no second ImageAnonymized), other content under the same
UIDs a conflict (quarantined with its reason), and another center's copy a referral (that
center's own image, under its own UIDs: docs/decisions/0013-referrals.md).

A unit recorded already (a re-run, a retried bundle) is not read again: its recorded events
are published again with their ids (consumers' inboxes ignore them; a crash between the
commit and the publish is healed that way), and nothing else happens.

Refused objects also go to the job's dead-letter output, named by their unit id (a hash)
rather than by their name, which may carry PHI: the name is in the `<name>.reason.json` the
quarantine keeps beside the object, for the people who review quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.ingestion.backfill.reading import ArchiveReader, SourceGone
from functions.ingestion.backfill.sources import ArchiveObject
from functions.ingestion.domain import UNKNOWN_CENTER, Upload, center_of
from functions.ingestion.pipeline import IngestionService, Unit
from shared.logging import get_logger

log = get_logger(__name__)
# Outcomes: the ingestion service's (anonymized, unchanged, rejected), and the backfill's own.
DUPLICATE = "duplicate"  # recorded by an earlier run: nothing done
MISSING = "missing"  # deleted or replaced after it was listed
SKIPPED = "skipped"  # a zip: packages are ingested by upload, not by the backfill
PACKAGE_NOT_BACKFILLED = "package_not_backfilled"


@dataclass(frozen=True)
class Outcome:
    outcome: str
    # A refused (or skipped) object, as the dead-letter output has it: no names, no PHI.
    dead_letter: dict[str, Any] | None = None


@dataclass
class BackfillService:
    ingestion: IngestionService
    reader: ArchiveReader
    # Every object's center; None: the first folder below the prefix, as an upload's is.
    center_id: str | None = None

    def backfill(self, obj: ArchiveObject) -> Outcome:
        source = _as_upload(obj)
        center = self.center_id or center_of(obj.relative)
        try:
            unit_id = self.reader.unit_id(obj, center or UNKNOWN_CENTER)
        except SourceGone:
            return self._gone(None, center)
        if source.is_package:
            # A zip fans out through the package path, which deletes it once complete: not
            # what an archive wants. Left for an upload of it (docs/backfill.md).
            return Outcome(SKIPPED, _dead_letter(unit_id, center, PACKAGE_NOT_BACKFILLED))
        if self.ingestion.replay(unit_id):
            return self._settled(unit_id, DUPLICATE)
        unit = Unit(
            unit_id=unit_id,
            center_id=center or UNKNOWN_CENTER,
            descriptors=source.descriptors,
            source=source,
            correlation_id=unit_id,
        )
        keep = self.reader.keeper(obj)
        refusal = self.ingestion.refusal(source, center)
        try:
            if refusal is not None:
                outcome = self.ingestion.quarantine(unit, *refusal, keep)
            else:
                with self.reader.open(obj) as stream:
                    outcome = self.ingestion.ingest(unit, stream, keep)
        except SourceGone:
            return self._gone(unit_id, center)
        return self._settled(unit_id, outcome)

    def _settled(self, unit_id: str, outcome: str) -> Outcome:
        """A refused unit (now, or by an earlier run) goes to the dead letters, every run."""
        if outcome not in {"rejected", DUPLICATE}:
            return Outcome(outcome)
        rejection = self.ingestion.store.get(self.ingestion.collections.rejections, unit_id)
        if rejection is None:
            return Outcome(outcome)
        letter = _dead_letter(
            unit_id,
            rejection.get("data_source"),
            str(rejection.get("reason")),
            str(rejection.get("detail") or ""),
            rejection.get("quarantine_uri"),
        )
        return Outcome(outcome, letter)

    def _gone(self, unit_id: str | None, center: str | None) -> Outcome:
        log.warning("backfill_source_missing", unit_id=unit_id)
        return Outcome(MISSING, _dead_letter(unit_id, center, "source_missing"))


def _as_upload(obj: ArchiveObject) -> Upload:
    """The object as the ingestion service names a unit's source (in `<name>.reason.json`)."""
    bucket = obj.location if obj.scheme == "gs" else f"file://{obj.location}"
    return Upload(bucket, obj.name, obj.generation, obj.size, obj.content_type, dict(obj.metadata))


def _dead_letter(
    unit_id: str | None,
    center_id: str | None,
    reason: str,
    detail: str = "",
    quarantine_uri: str | None = None,
) -> dict[str, Any]:
    return {
        "source_id": unit_id,
        "center_id": center_id,
        "reason": reason,
        "detail": detail,
        "quarantine_uri": quarantine_uri,
    }
