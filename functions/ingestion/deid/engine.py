"""The de-identification engine: one object in, one clean object (or a reason) out.

Order of work for one object: parse the header only; route burned-in risks; walk the
profile over the header and any trailing elements; replace patient identity with the keyed
token; stamp provenance; rebuild file meta; serialize the header; run the fail-closed leak
check on the serialized bytes; only then write header + pixel bytes (copied verbatim) +
trailing elements to the output. Nothing is written for a rejected object.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import threading
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from pydicom import config as pydicom_config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID

from .actions import IodContext
from .burned_in import facts_from_dataset
from .dicom_io import (
    BulkSegment,
    OpenedSource,
    ParsedObject,
    Source,
    copy_range,
    load_deferred,
    open_source,
    parse,
)
from .element_tree import NeedsFullParser
from .encoder import encode_dataset, encode_file_meta
from .fast_path import Engine, provenance_elements, run_fast
from .leak_check import NeedleSet
from .options import DeidOptions
from .pixel_step import IDENTITY_KEYWORDS, run_pixel_step, with_payload
from .pixels import CleanedPixels, Payload
from .policy import IDENTITY, UID_SYNTAX, code_string, identity_pattern
from .profile import compile_profile
from .provenance import ENGINE_NAME, ENGINE_VERSION, build_provenance, stamp
from .pseudonyms import Pseudonymizer
from .reasons import DeidFailure, Rejection
from .result import DeidResult
from .walker import BULK_TAGS, Change, Walker

_MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"
_QUIET = threading.local()


class _DropWhileDeidentifying(logging.Filter):
    """pydicom logs warnings that can quote attribute values: none may leave the engine."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_QUIET, "active", False)


logging.getLogger("pydicom").addFilter(_DropWhileDeidentifying())
IMPLEMENTATION_CLASS_UID = "2.25.216744178061946046337352349183146423471"
IMPLEMENTATION_VERSION = f"{ENGINE_NAME[:8]}_{ENGINE_VERSION}"

# Values of the patient identity that also serve to clean descriptors of this patient.
_IDENTITY_KEYWORDS = tuple((keyword, kind) for _tag, keyword, kind in IDENTITY)


def _str(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _patient_key(ds: Dataset) -> str:
    """What identifies the patient within a center; falls back so nobody shares a token."""
    patient_id = _str(ds, "PatientID")
    if patient_id:
        return "pid:" + patient_id
    study = _str(ds, "StudyInstanceUID")
    return "study:" + study if study else "sop:" + _str(ds, "SOPInstanceUID")


def _identity_pattern(ds: Dataset, needles: NeedleSet) -> re.Pattern[str] | None:
    """Collect the patient's identity as needles and as a pattern to clean descriptors."""
    texts: list[str] = []
    for keyword, kind in _IDENTITY_KEYWORDS:
        if ds.get(keyword) is None:
            continue
        value = ds[keyword].value
        text = "\\".join(str(v) for v in value) if isinstance(value, list) else str(value or "")
        needles.add_text(text.encode("utf-8", "replace"), kind, keyword)
        texts.append(text)
    return identity_pattern(texts)


def _context(ds: Dataset) -> IodContext:
    return IodContext(
        sop_class_uid=_str(ds, "SOPClassUID"),
        modality=_str(ds, "Modality").upper(),
        enhanced=0x52009229 in ds,
        species=0x00102201 in ds,
        approval_status=_str(ds, "ApprovalStatus").upper(),
    )


def _identity_uids(ds: Dataset) -> tuple[str, str]:
    """SOP Instance and SOP Class UID of a composite object, or the reason it is not one."""
    sop_uid = _str(ds, "SOPInstanceUID")
    sop_class = _str(ds, "SOPClassUID") or _str(ds.file_meta, "MediaStorageSOPClassUID")
    if sop_class == _MEDIA_DIRECTORY or 0x00041220 in ds:
        # A DICOMDIR indexes patients by name: it is never an output of this engine.
        raise DeidFailure(Rejection.UNSUPPORTED_OBJECT, "DICOMDIR is not a composite object")
    if not sop_uid or not sop_class:
        raise DeidFailure(Rejection.MISSING_UID, "SOP Instance or SOP Class UID missing")
    if not UID_SYNTAX.match(sop_class):
        raise DeidFailure(Rejection.INVALID_DATASET, "SOP Class UID is not a valid UID")
    return sop_uid, sop_class


def _file_meta(sop_class: str, sop_instance: str, transfer_syntax: UID) -> FileMetaDataset:
    """Fresh file meta: the source's (sending AE title, private info) is not carried over."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta


def _apply_pixel_edits(ds: Dataset, cleaned: CleanedPixels, streamed: bool) -> UID:
    """Header attributes of the cleaned pixels; returns the output transfer syntax."""
    for edit in cleaned.edits:
        if not (edit.only_if_absent and edit.keyword in ds):
            setattr(ds, edit.keyword, edit.value)
    if cleaned.payload is not None and not streamed:
        # Read whole (deflated): the cleaned native values go back into the dataset.
        ds.PixelData = cleaned.payload.value()
    return UID(cleaned.transfer_syntax)


class Deidentifier:
    """De-identifies DICOM objects with one key and one set of options.

    Build one per process (it compiles the profile once) and call :meth:`deidentify`
    for each object. Thread-compatible, not thread-safe (it caches UID mappings).
    """

    def __init__(self, key: bytes, options: DeidOptions | None = None) -> None:
        self.options = options or DeidOptions()
        self._pseudonyms = Pseudonymizer(key)
        self._profile = compile_profile(self.options)
        self.provenance = build_provenance(self.options)
        self.pixel_provenance = build_provenance(self.options, clean_pixel_data=True)
        self._engine = Engine(
            options=self.options,
            profile=self._profile,
            pseudonyms=self._pseudonyms,
            provenance=self.provenance,
            provenance_elements=provenance_elements(self.provenance),
            pixel_provenance=self.pixel_provenance,
            pixel_provenance_elements=provenance_elements(self.pixel_provenance),
            implementation_uid=IMPLEMENTATION_CLASS_UID,
            implementation_version=IMPLEMENTATION_VERSION,
        )
        # pydicom would otherwise warn with attribute values in the message: no PHI in logs.
        pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
        pydicom_config.settings.writing_validation_mode = pydicom_config.IGNORE

    def _reject(self, reason: Rejection, detail: str = "") -> DeidResult:
        return DeidResult(ok=False, reason=reason, detail=detail, provenance=self.provenance)

    def deidentify(
        self,
        source: Source,
        center_id: str,
        output: BinaryIO | str | os.PathLike[str] | None = None,
        *,
        record_changes: bool = False,
    ) -> DeidResult:
        """De-identify one object from bytes, a path or a binary stream.

        ``output`` is a binary stream or a path (written atomically, only on success). With
        ``output`` None nothing is written (dry run); ``record_changes`` lists the attributes
        changed (paths of keywords, tags and actions: never values).
        """
        if isinstance(output, (str, os.PathLike)):
            return self._to_path(source, center_id, Path(output), record_changes)
        return self._to_stream(source, center_id, output, record_changes)

    def _to_stream(
        self, source: Source, center_id: str, output: BinaryIO | None, record_changes: bool
    ) -> DeidResult:
        try:
            opened = open_source(source)
        except OSError as exc:
            return self._reject(Rejection.NOT_DICOM, f"cannot open source: {type(exc).__name__}")
        _QUIET.active = True
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._run(opened, center_id, output, record_changes)
        except DeidFailure as failure:
            return self._reject(failure.reason, failure.detail)
        except RecursionError:
            return self._reject(Rejection.INVALID_DATASET, "nesting too deep")
        except MemoryError:
            return self._reject(Rejection.TOO_LARGE, "object does not fit in memory")
        except Exception as exc:
            # Only the exception type: messages of parsers may quote attribute values.
            return self._reject(Rejection.INTERNAL_ERROR, type(exc).__name__)
        finally:
            _QUIET.active = False
            opened.close()

    def _to_path(
        self, source: Source, center_id: str, target: Path, record_changes: bool
    ) -> DeidResult:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            with partial.open("wb") as fp:
                result = self.deidentify(source, center_id, fp, record_changes=record_changes)
            if result.ok:
                partial.replace(target)
            return result
        finally:
            partial.unlink(missing_ok=True)

    def _walker(
        self, ds: Dataset, center_id: str, patient_key: str, changes: list[Change] | None
    ) -> Walker:
        shift = (
            self._pseudonyms.date_offset_days(center_id, patient_key)
            if self.options.retain_longitudinal_modified_dates
            else None
        )
        needles = NeedleSet()
        return Walker(
            profile=self._profile,
            pseudonyms=self._pseudonyms,
            ctx=_context(ds),
            day_shift=shift,
            safe_private=self.options.retain_safe_private,
            needles=needles,
            identity_terms=_identity_pattern(ds, needles),
            record=changes,
        )

    def _run(
        self, opened: OpenedSource, center_id: str, output: BinaryIO | None, record: bool
    ) -> DeidResult:
        try:
            return run_fast(self._engine, opened, center_id, output, record)
        except NeedsFullParser:
            opened.fp.seek(opened.origin)
        try:
            return self._run_full(opened, center_id, output, record)
        except (DeidFailure, MemoryError, RecursionError):
            raise
        except Exception as exc:
            # The fast parser found this object irregular; whatever pydicom then trips on is
            # the input's fault, not ours.
            raise DeidFailure(Rejection.INVALID_DATASET, type(exc).__name__) from None

    def _run_full(
        self, opened: OpenedSource, center_id: str, output: BinaryIO | None, record: bool
    ) -> DeidResult:
        """The pydicom path: for deflated or unusually encoded objects."""
        parsed = parse(opened)
        ds = parsed.dataset
        load_deferred(ds, opened.fp, public_only=True)
        transfer_syntax = UID(str(ds.file_meta.TransferSyntaxUID))
        has_pixels = bool(parsed.parts and any(isinstance(p, BulkSegment) for p in parsed.parts))
        has_pixels = has_pixels or any(tag in ds for tag in BULK_TAGS)
        _, sop_class = _identity_uids(ds)
        modality = code_string(_str(ds, "Modality"), upper=True)
        body_part = code_string(_str(ds, "BodyPartExamined"))
        try:
            cleaned = run_pixel_step(
                facts_from_dataset(ds),
                has_pixels,
                fp=opened.fp,
                origin=opened.origin,
                dataset=None if parsed.streamed else ds,
                identity={k: _str(ds, k) for _, k in IDENTITY_KEYWORDS if k in ds},
                implicit=parsed.implicit,
                little=parsed.little,
            )
        except DeidFailure as failure:
            if not failure.reason.is_quarantine:
                raise
            return DeidResult(
                ok=False,
                reason=failure.reason,
                detail=failure.detail,
                provenance=self.provenance,
                modality=modality,
                body_part=body_part,
                sop_class_uid=sop_class,
                transfer_syntax=str(transfer_syntax),
            )
        try:
            return self._clean_header(
                opened, parsed, center_id, output, record=record, cleaned=cleaned
            )
        finally:
            if cleaned is not None:
                cleaned.close()

    def _clean_header(
        self,
        opened: OpenedSource,
        parsed: ParsedObject,
        center_id: str,
        output: BinaryIO | None,
        *,
        record: bool,
        cleaned: CleanedPixels | None,
    ) -> DeidResult:
        ds = parsed.dataset
        transfer_syntax = UID(str(ds.file_meta.TransferSyntaxUID))
        sop_uid, sop_class = _identity_uids(ds)
        modality = code_string(_str(ds, "Modality"), upper=True)
        body_part = code_string(_str(ds, "BodyPartExamined"))
        frames_text = _str(ds, "NumberOfFrames")
        frames = int(frames_text) if frames_text.isdigit() else None
        provenance = self.provenance if cleaned is None else self.pixel_provenance

        patient_key = _patient_key(ds)
        token = self._pseudonyms.patient_token(center_id, patient_key)
        changes: list[Change] | None = [] if record else None
        walker = self._walker(ds, center_id, patient_key, changes)
        needles = walker.needles
        walker.walk(ds)
        trailers = [p for p in parsed.parts if isinstance(p, Dataset)]
        for trailer in trailers:
            load_deferred(trailer, opened.fp, public_only=True)
            walker.walk(trailer)
            load_deferred(trailer, opened.fp)
        load_deferred(ds, opened.fp)

        # Z allows a dummy value: the keyed token keeps the patient linkable for us only.
        ds.PatientID = token
        ds.PatientName = token
        stamp(ds, provenance)
        new_sop = _str(ds, "SOPInstanceUID")
        if not new_sop or new_sop == sop_uid:
            raise DeidFailure(Rejection.MISSING_UID, "SOP Instance UID was not remapped")
        if cleaned is not None:
            transfer_syntax = _apply_pixel_edits(ds, cleaned, parsed.streamed)
        ds.file_meta = _file_meta(sop_class, new_sop, transfer_syntax)
        ds.preamble = b"\x00" * 128

        if parsed.streamed:
            header = encode_file_meta(ds.file_meta) + encode_dataset(
                ds, parsed.implicit, parsed.little
            )
        else:
            header_buffer = io.BytesIO()
            # Visiting every element turns raw ones into typed ones: an element read as
            # implicit VR under an explicit syntax has no VR until then.
            ds.walk(lambda _ds, _elem: None)
            dcmwrite(header_buffer, ds, enforce_file_format=True)
            header = header_buffer.getvalue()
        trailer_bytes = {id(t): encode_dataset(t, parsed.implicit, parsed.little) for t in trailers}
        if parsed.streamed:
            scanned = [header, *trailer_bytes.values()]
        else:
            # Deflated output is compressed: scan an uncompressed rendering instead.
            plain = Dataset()
            plain._dict.update({k: v for k, v in ds._dict.items() if k not in BULK_TAGS})
            scanned = [encode_dataset(plain, False, True)]
        needles.allow_public(walker.public, walker.coded)
        hit = needles.first_hit(*scanned)
        if hit is not None:
            return DeidResult(
                ok=False,
                reason=Rejection.LEAK_DETECTED,
                detail=f"{hit.kind.value} value from {hit.source} found in output",
                provenance=provenance,
                modality=modality,
                body_part=body_part,
                sop_class_uid=sop_class,
                transfer_syntax=str(transfer_syntax),
                changes=tuple(changes or ()),
            )

        parts: Sequence[BulkSegment | Payload | Dataset] = parsed.parts
        if cleaned is not None and parsed.streamed:
            parts = with_payload(parts, cleaned.payload)
        size, digest = self._emit(opened, parts, header, trailer_bytes, output)
        return DeidResult(
            ok=True,
            reason=None,
            detail="",
            provenance=provenance,
            patient_token=token,
            study_uid=_str(ds, "StudyInstanceUID") or None,
            series_uid=_str(ds, "SeriesInstanceUID") or None,
            sop_instance_uid=new_sop,
            sop_class_uid=sop_class,
            modality=modality,
            body_part=body_part,
            transfer_syntax=str(transfer_syntax),
            image_format=transfer_syntax.name,
            number_of_frames=frames,
            size=size,
            sha256=digest,
            changes=tuple(changes or ()),
            pixel_cleaning=cleaned.summary if cleaned else None,
        )

    @staticmethod
    def _emit(
        opened: OpenedSource,
        parts: Sequence[BulkSegment | Payload | Dataset],
        header: bytes,
        trailer_bytes: dict[int, bytes],
        output: BinaryIO | None,
    ) -> tuple[int, str | None]:
        """Write header, pixel bytes (verbatim or cleaned) and trailers; size and sha256."""
        if output is None:
            bulk = sum(p.end - p.start for p in parts if isinstance(p, BulkSegment))
            bulk += sum(p.size for p in parts if isinstance(p, Payload))
            return len(header) + bulk + sum(map(len, trailer_bytes.values())), None
        digest = hashlib.sha256()
        sink = output
        sink.write(header)
        digest.update(header)
        size = len(header)
        for part in parts:
            if isinstance(part, Payload):
                size += part.write_to(sink, digest)
            elif isinstance(part, BulkSegment):
                size += copy_range(opened.fp, part.start, part.end, sink, digest)
            else:
                data = trailer_bytes[id(part)]
                sink.write(data)
                digest.update(data)
                size += len(data)
        return size, digest.hexdigest()
