"""The outcome of de-identifying one object: pseudonyms, codes and technical facts, no PHI."""

from __future__ import annotations

from dataclasses import dataclass, field

from .pixels.summary import PixelCleaning
from .policy import Change
from .provenance import Provenance
from .reasons import Rejection


@dataclass(frozen=True, slots=True)
class DeidResult:
    """Outcome for one object. Never holds PHI: only pseudonyms, codes and technical facts."""

    ok: bool
    reason: Rejection | None
    detail: str
    provenance: Provenance
    patient_token: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None
    modality: str | None = None
    body_part: str | None = None
    transfer_syntax: str | None = None
    image_format: str | None = None
    number_of_frames: int | None = None
    size: int = 0
    sha256: str | None = None
    changes: tuple[Change, ...] = field(default=())
    # Set when the pixels were checked for burned-in text (and masked where found).
    pixel_cleaning: PixelCleaning | None = None

    @property
    def quarantined(self) -> bool:
        """Valid DICOM routed to review (burned-in risk) rather than failed."""
        return self.reason is not None and self.reason.is_quarantine

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for events, catalogue records and CLI reports."""
        return {
            "ok": self.ok,
            "reason": self.reason.value if self.reason else None,
            "detail": self.detail,
            "patient_token": self.patient_token,
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "sop_instance_uid": self.sop_instance_uid,
            "sop_class_uid": self.sop_class_uid,
            "modality": self.modality,
            "body_part": self.body_part,
            "transfer_syntax": self.transfer_syntax,
            "image_format": self.image_format,
            "number_of_frames": self.number_of_frames,
            "size": self.size,
            "sha256": self.sha256,
            "provenance": self.provenance.as_dict(),
            "pixel_cleaning": self.pixel_cleaning.as_dict() if self.pixel_cleaning else None,
        }
