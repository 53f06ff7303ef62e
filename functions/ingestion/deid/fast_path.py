"""The fast path of the engine: de-identify over the lean element tree, straight from bytes.

Same steps and the same guarantees as the pydicom path in ``engine`` (routing, profile,
token, provenance, fail-closed leak check before anything is written); only the data
model differs. Raises ``NeedsFullParser`` for the rare objects it leaves to pydicom.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from .actions import IodContext
from .dicom_io import BulkSegment, OpenedSource, copy_range
from .element_tree import (
    BULK_TAGS,
    Element,
    NeedsFullParser,
    Parser,
    bulk_end,
    write_elements,
)
from .encoder import encode_meta_values
from .leak_check import NeedleKind, NeedleSet
from .options import DeidOptions
from .pixel_step import IDENTITY_KEYWORDS, run_pixel_step, with_payload
from .pixels import CleanedPixels, HeaderEdit, Payload
from .policy import IDENTITY, UID_SYNTAX, Change, code_string, identity_pattern, keyword_of
from .profile import CompiledProfile
from .provenance import Provenance
from .pseudonyms import Pseudonymizer
from .reasons import DeidFailure, Rejection
from .result import DeidResult
from .tree_walker import TreeWalker, encodings_of, pad, text_element

MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"
_PROVENANCE_TAGS = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})
# (tag, kind) of the patient identity: needles, and terms to clean descriptors.
IDENTITY_TAGS = tuple((tag, kind) for tag, _keyword, kind in IDENTITY)


@dataclass(frozen=True, slots=True)
class Engine:
    """What the fast path needs from a ``Deidentifier``: built once, shared by all objects."""

    options: DeidOptions
    profile: CompiledProfile
    pseudonyms: Pseudonymizer
    provenance: Provenance
    provenance_elements: tuple[Element, ...]
    # The variant for images whose pixels were checked (adds the Clean Pixel Data Option).
    pixel_provenance: Provenance
    pixel_provenance_elements: tuple[Element, ...]
    implementation_uid: str
    implementation_version: str


def provenance_elements(provenance: Provenance) -> tuple[Element, ...]:
    """The PS3.15 provenance attributes as ready-encoded elements (same for every object)."""
    methods = [
        provenance.engine,
        "PS3.15 E.1-1 " + provenance.table_edition.split()[2],
        *[name.upper() for name in provenance.options],
    ]
    items = [
        [
            text_element(0x00080100, "SH", code),
            text_element(0x00080102, "SH", "DCM"),
            text_element(0x00080104, "LO", meaning),
        ]
        for code, meaning in provenance.method_codes
    ]
    return (
        text_element(0x00120062, "CS", "YES"),
        text_element(0x00120063, "LO", "\\".join(methods)),
        Element(0x00120064, "SQ", None, items),
        text_element(0x00280303, "CS", provenance.longitudinal_temporal_information),
    )


def _text(elem: Element | None) -> str:
    if elem is None or elem.value is None:
        return ""
    return bytes(elem.value).decode("latin-1").strip(" \x00")


def identity_terms(
    pairs: Iterable[tuple[str, NeedleKind, bytes]], needles: NeedleSet, compile_terms: bool
) -> re.Pattern[str] | None:
    """Record the patient identity as needles; optionally a pattern to clean descriptors."""
    texts: list[str] = []
    for source, kind, raw in pairs:
        needles.add_text(raw, kind, source)
        if compile_terms:
            texts.append(raw.decode("latin-1"))
    return identity_pattern(texts)


def _meta(buf: memoryview, size: int) -> tuple[dict[int, str], int]:
    """File meta values and where the data set starts."""
    if size >= 132 and bytes(buf[128:132]) == b"DICM":
        pos = 132
    elif size >= 4 and bytes(buf[:4]) == b"DICM":
        pos = 4
    else:
        raise NeedsFullParser("no DICM prefix: let the full parser name the problem")
    elements, pos = Parser(buf, implicit=False, little=True).elements(
        pos, size, top=False, group_only=0x0002
    )
    return {e.tag: _text(e) for e in elements}, pos


def _parse(
    buf: memoryview, pos: int, origin: int, implicit: bool, little: bool
) -> tuple[list[Element], list[BulkSegment | list[Element]]]:
    """Header elements, then bulk segments and trailing element groups in file order."""
    size = len(buf)
    parser = Parser(buf, implicit=implicit, little=little)
    top, pos = parser.elements(pos, size, top=True)
    parts: list[BulkSegment | list[Element]] = []
    while pos < size:
        group, element = parser.tag_at(pos)
        if group << 16 | element in BULK_TAGS:
            end = bulk_end(buf, pos, size, implicit, little)
            parts.append(BulkSegment(group << 16 | element, origin + pos, origin + end))
            pos = end
        else:
            trailer, pos = parser.elements(pos, size, top=True)
            parts.append(trailer)
    return top, parts


def _routing_facts(index: dict[int, Element], sop_class: str, modality: str) -> dict[str, str]:
    return {
        "BurnedInAnnotation": _text(index.get(0x00280301)).upper(),
        "SOPClassUID": sop_class.upper(),
        "ImageType": _text(index.get(0x00080008)).upper(),
        "Modality": modality,
        "ConversionType": "PRESENT" if 0x00080064 in index else "",
    }


def run_fast(
    engine: Engine, opened: OpenedSource, center_id: str, output: BinaryIO | None, record: bool
) -> DeidResult:
    """De-identify one object over the element tree."""
    buf = opened.buffer()
    size = len(buf)
    meta, pos = _meta(buf, size)
    transfer_syntax = meta.get(0x00020010, "")
    if not transfer_syntax:
        raise DeidFailure(Rejection.MISSING_FILE_META, "no transfer syntax in file meta")
    syntax = UID(transfer_syntax)
    if syntax == DeflatedExplicitVRLittleEndian or not syntax.is_transfer_syntax:
        raise NeedsFullParser("deflated or unknown transfer syntax")
    implicit, little = bool(syntax.is_implicit_VR), bool(syntax.is_little_endian)
    top, parts = _parse(buf, pos, opened.origin, implicit, little)

    index = {e.tag: e for e in top}
    sop_uid = _text(index.get(0x00080018))
    sop_class = _text(index.get(0x00080016)) or meta.get(0x00020002, "")
    if sop_class == MEDIA_DIRECTORY or 0x00041220 in index:
        raise DeidFailure(Rejection.UNSUPPORTED_OBJECT, "DICOMDIR is not a composite object")
    if not sop_uid or not sop_class:
        raise DeidFailure(Rejection.MISSING_UID, "SOP Instance or SOP Class UID missing")
    if not UID_SYNTAX.match(sop_class):
        raise DeidFailure(Rejection.INVALID_DATASET, "SOP Class UID is not a valid UID")
    modality = code_string(_text(index.get(0x00080060)), upper=True) or ""
    body_part = code_string(_text(index.get(0x00180015)))
    frames_text = _text(index.get(0x00280008))
    has_pixels = any(isinstance(p, BulkSegment) for p in parts)
    try:
        cleaned = run_pixel_step(
            _routing_facts(index, sop_class, modality),
            has_pixels,
            fp=opened.fp,
            origin=opened.origin,
            dataset=None,
            identity={k: _text(index.get(t)) for t, k in IDENTITY_KEYWORDS if t in index},
            implicit=implicit,
            little=little,
        )
    except DeidFailure as failure:
        if not failure.reason.is_quarantine:
            raise
        return DeidResult(
            ok=False,
            reason=failure.reason,
            detail=failure.detail,
            provenance=engine.provenance,
            modality=modality or None,
            body_part=body_part,
            sop_class_uid=sop_class,
            transfer_syntax=transfer_syntax,
        )
    try:
        return _deidentify(
            engine,
            opened,
            center_id,
            output,
            record=record,
            cleaned=cleaned,
            facts=_Facts(
                index,
                top,
                parts,
                meta,
                sop_uid,
                sop_class,
                modality,
                body_part,
                frames_text,
                implicit,
                little,
            ),
        )
    finally:
        if cleaned is not None:
            cleaned.close()


@dataclass(frozen=True, slots=True)
class _Facts:
    """What ``run_fast`` read from the object, for the rest of the work."""

    index: dict[int, Element]
    top: list[Element]
    parts: list[BulkSegment | list[Element]]
    meta: dict[int, str]
    sop_uid: str
    sop_class: str
    modality: str
    body_part: str | None
    frames_text: str
    implicit: bool
    little: bool


def _edited(elements: list[Element], edits: tuple[HeaderEdit, ...], little: bool) -> list[Element]:
    """The header with the attributes the pixel cleaning asks for."""
    present = {e.tag for e in elements}
    replace = {e.tag: e for e in edits if not (e.only_if_absent and e.tag in present)}
    kept = [e for e in elements if e.tag not in replace]
    for edit in replace.values():
        if isinstance(edit.value, int):
            kept.append(
                Element(edit.tag, edit.vr, struct.pack("<H" if little else ">H", edit.value))
            )
        else:
            kept.append(text_element(edit.tag, edit.vr, edit.value))
    return kept


def _deidentify(
    engine: Engine,
    opened: OpenedSource,
    center_id: str,
    output: BinaryIO | None,
    *,
    record: bool,
    cleaned: CleanedPixels | None,
    facts: _Facts,
) -> DeidResult:
    index, top, parts = facts.index, facts.top, facts.parts
    sop_uid, sop_class, modality = facts.sop_uid, facts.sop_class, facts.modality
    body_part, frames_text = facts.body_part, facts.frames_text
    implicit, little = facts.implicit, facts.little
    transfer_syntax = facts.meta.get(0x00020010, "")
    provenance = engine.provenance
    provenance_items = engine.provenance_elements
    if cleaned is not None:
        provenance = engine.pixel_provenance
        provenance_items = engine.pixel_provenance_elements
        transfer_syntax = cleaned.transfer_syntax

    patient_id = _text(index.get(0x00100020))
    study = _text(index.get(0x0020000D))
    patient_key = (
        "pid:" + patient_id if patient_id else ("study:" + study if study else "sop:" + sop_uid)
    )
    token = engine.pseudonyms.patient_token(center_id, patient_key)
    options = engine.options
    needles = NeedleSet()
    pairs = [
        (keyword_of(t), kind, bytes(index[t].value or b""))
        for t, kind in IDENTITY_TAGS
        if t in index and index[t].value is not None
    ]
    changes: list[Change] | None = [] if record else None
    walker = TreeWalker(
        profile=engine.profile,
        pseudonyms=engine.pseudonyms,
        ctx=IodContext(
            sop_class,
            modality,
            0x52009229 in index,
            0x00102201 in index,
            _text(index.get(0x300E0002)).upper(),
        ),
        day_shift=(
            engine.pseudonyms.date_offset_days(center_id, patient_key)
            if options.retain_longitudinal_modified_dates
            else None
        ),
        safe_private=options.retain_safe_private,
        needles=needles,
        identity_terms=identity_terms(
            pairs, needles, options.clean_descriptors or options.retain_patient_characteristics
        ),
        little=little,
        encodings=encodings_of(index[0x00080005].value if 0x00080005 in index else None),
        record=changes,
    )
    out = [
        e
        for e in walker.walk(top)
        if e.tag not in _PROVENANCE_TAGS and e.tag not in (0x00100010, 0x00100020)
    ]
    # Z allows a dummy value: the keyed token keeps the patient linkable for us only.
    out += [
        Element(0x00100010, "PN", pad(token.encode(), "PN")),
        Element(0x00100020, "LO", pad(token.encode(), "LO")),
        *provenance_items,
    ]
    if cleaned is not None:
        out = _edited(out, cleaned.edits, little)
    trailers = {id(p): walker.walk(p) for p in parts if isinstance(p, list)}
    new_index = {e.tag: e for e in out}
    new_sop = _text(new_index.get(0x00080018))
    if not new_sop or new_sop == sop_uid:
        raise DeidFailure(Rejection.MISSING_UID, "SOP Instance UID was not remapped")

    header = encode_meta_values(
        sop_class,
        new_sop,
        transfer_syntax,
        engine.implementation_uid,
        engine.implementation_version,
    ) + _encode(out, implicit, little)
    trailer_bytes = {key: _encode(elements, implicit, little) for key, elements in trailers.items()}
    needles.allow_public(walker.public, walker.coded)
    hit = needles.first_hit(header, *trailer_bytes.values())
    if hit is not None:
        return DeidResult(
            ok=False,
            reason=Rejection.LEAK_DETECTED,
            detail=f"{hit.kind.value} value from {hit.source} found in output",
            provenance=provenance,
            modality=modality or None,
            body_part=body_part,
            sop_class_uid=sop_class,
            transfer_syntax=transfer_syntax,
            changes=tuple(changes or ()),
        )
    emitted = with_payload(list(parts), cleaned.payload if cleaned else None)
    size_out, digest = emit(opened, emitted, header, trailer_bytes, output)
    return DeidResult(
        ok=True,
        reason=None,
        detail="",
        provenance=provenance,
        patient_token=token,
        study_uid=_text(new_index.get(0x0020000D)) or None,
        series_uid=_text(new_index.get(0x0020000E)) or None,
        sop_instance_uid=new_sop,
        sop_class_uid=sop_class,
        modality=modality or None,
        body_part=body_part,
        transfer_syntax=transfer_syntax,
        image_format=UID(transfer_syntax).name,
        number_of_frames=int(frames_text) if frames_text.isdigit() else None,
        size=size_out,
        sha256=digest,
        changes=tuple(changes or ()),
        pixel_cleaning=cleaned.summary if cleaned else None,
    )


def _encode(elements: list[Element], implicit: bool, little: bool) -> bytes:
    chunks: list[bytes | memoryview] = []
    write_elements(elements, implicit, little, chunks)
    return b"".join(chunks)


def emit(
    opened: OpenedSource,
    parts: list[BulkSegment | Payload | list[Element]],
    header: bytes,
    trailer_bytes: dict[int, bytes],
    output: BinaryIO | None,
) -> tuple[int, str | None]:
    """Write header, pixel bytes (verbatim or cleaned) and trailing elements; size, sha256."""
    import hashlib

    if output is None:
        bulk = sum(p.end - p.start for p in parts if isinstance(p, BulkSegment))
        bulk += sum(p.size for p in parts if isinstance(p, Payload))
        return len(header) + bulk + sum(map(len, trailer_bytes.values())), None
    digest = hashlib.sha256(header)
    output.write(header)
    size = len(header)
    data = memoryview(opened.data) if opened.data is not None else None
    for part in parts:
        if isinstance(part, Payload):
            size += part.write_to(output, digest)
        elif isinstance(part, BulkSegment):
            if data is None:
                size += copy_range(opened.fp, part.start, part.end, output, digest)
                continue
            chunk = data[part.start - opened.origin : part.end - opened.origin]
            output.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        else:
            trailer = trailer_bytes[id(part)]
            output.write(trailer)
            digest.update(trailer)
            size += len(trailer)
    return size, digest.hexdigest()
