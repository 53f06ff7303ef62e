"""Machine-readable reasons why an object was not de-identified (never carry PHI)."""

from __future__ import annotations

from enum import StrEnum


class Rejection(StrEnum):
    """Why an object left the engine without a clean result.

    The values are stable strings: they travel in events, logs and CLI reports.
    """

    NOT_DICOM = "not_dicom"
    TRUNCATED = "truncated"
    MISSING_FILE_META = "missing_file_meta"
    INVALID_DATASET = "invalid_dataset"
    MISSING_UID = "missing_uid"
    UNSUPPORTED_OBJECT = "unsupported_object"
    BURNED_IN_ANNOTATION = "burned_in_annotation"
    BURNED_IN_RISK = "burned_in_risk"
    LEAK_DETECTED = "leak_detected"
    # Pixels checked for burned-in text and not proven clean: routed to review.
    PIXEL_TEXT_REMAINS = "pixel_text_remains"
    PIXEL_UNDECODABLE = "pixel_undecodable"
    # Another input gave an output under the same UIDs with different content (CLI).
    UID_CONFLICT = "uid_conflict"
    ZIP_CORRUPT = "zip_corrupt"
    ZIP_BOMB = "zip_bomb"
    ZIP_PATH_TRAVERSAL = "zip_path_traversal"
    TOO_LARGE = "too_large"
    INTERNAL_ERROR = "internal_error"

    @property
    def is_quarantine(self) -> bool:
        """Routed for human review (valid DICOM with a residual risk) rather than failed."""
        return self in _QUARANTINE


_QUARANTINE = frozenset(
    {
        Rejection.BURNED_IN_ANNOTATION,
        Rejection.BURNED_IN_RISK,
        Rejection.PIXEL_TEXT_REMAINS,
        Rejection.PIXEL_UNDECODABLE,
    }
)


class DeidFailure(Exception):
    """Raised inside the engine; always carries a reason and a PHI-free detail."""

    def __init__(self, reason: Rejection, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
