"""De-identify one object read as the element tree: the steps every object goes through.

Order of work: route burned-in risks (the pixel step); walk the profile over the header and
any trailing elements; replace patient identity with the keyed token; add provenance; build
a fresh file meta; serialize; run the fail-closed leak check on the serialized bytes; only
then write header + pixel bytes (copied verbatim, or cleaned) + trailing elements. Nothing
is written for a rejected object. The object may come from the element-tree parser or from
the pydicom fallback (``pydicom_reader``): the tree is the same, and so is everything here.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO

from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from .actions import IodContext
from .dicom_io import ParsedObject, emit
from .element_tree import Element, pad, text_element, text_of, write_elements
from .encoder import encode_meta_values
from .leak_check import NeedleKind, NeedleSet
from .options import DeidOptions
from .pixel_step import IDENTITY_KEYWORDS, run_pixel_step, with_payload
from .pixels import CleanedPixels, HeaderEdit
from .policy import IDENTITY, UID_SYNTAX, Change, code_string, identity_pattern, keyword_of
from .profile import CompiledProfile
from .provenance import Provenance
from .pseudonyms import Pseudonymizer
from .reasons import DeidFailure, Rejection
from .result import DeidResult
from .tree_walker import TreeWalker, encodings_of

MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"
_PROVENANCE_TAGS = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})
# (tag, kind) of the patient identity: needles, and terms to clean descriptors.
IDENTITY_TAGS = tuple((tag, kind) for tag, _keyword, kind in IDENTITY)


@dataclass(frozen=True, slots=True)
class Engine:
    """What the steps need from a ``Deidentifier``: built once, shared by all objects."""

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


def _routing_facts(index: dict[int, Element], sop_class: str, modality: str) -> dict[str, str]:
    return {
        "BurnedInAnnotation": text_of(index.get(0x00280301)).upper(),
        "SOPClassUID": sop_class.upper(),
        "ImageType": text_of(index.get(0x00080008)).upper(),
        "Modality": modality,
        "ConversionType": "PRESENT" if 0x00080064 in index else "",
    }


@dataclass(frozen=True, slots=True)
class _Facts:
    """What was read from the object's header, for the rest of the work."""

    parsed: ParsedObject
    index: dict[int, Element]
    sop_uid: str
    sop_class: str
    modality: str
    body_part: str | None
    frames_text: str


def _facts(parsed: ParsedObject) -> _Facts:
    index = {e.tag: e for e in parsed.top}
    sop_uid = text_of(index.get(0x00080018))
    sop_class = text_of(index.get(0x00080016)) or parsed.meta.get(0x00020002, "")
    if sop_class == MEDIA_DIRECTORY or 0x00041220 in index:
        # A DICOMDIR indexes patients by name: it is never an output of this engine.
        raise DeidFailure(Rejection.UNSUPPORTED_OBJECT, "DICOMDIR is not a composite object")
    if not sop_uid or not sop_class:
        raise DeidFailure(Rejection.MISSING_UID, "SOP Instance or SOP Class UID missing")
    if not UID_SYNTAX.match(sop_class):
        raise DeidFailure(Rejection.INVALID_DATASET, "SOP Class UID is not a valid UID")
    return _Facts(
        parsed,
        index,
        sop_uid,
        sop_class,
        code_string(text_of(index.get(0x00080060)), upper=True) or "",
        code_string(text_of(index.get(0x00180015))),
        text_of(index.get(0x00280008)),
    )


def _output_syntax(parsed: ParsedObject, cleaned: CleanedPixels | None) -> str:
    """The output's transfer syntax: the input's, unless the pixel cleaning re-encoded."""
    syntax = cleaned.transfer_syntax if cleaned is not None else parsed.transfer_syntax
    if parsed.deflated and syntax == ExplicitVRLittleEndian:
        return str(DeflatedExplicitVRLittleEndian)
    return syntax


def deidentify_object(
    engine: Engine,
    parsed: ParsedObject,
    center_id: str,
    output: BinaryIO | None,
    record: bool,
    *,
    uid_scope: str = "",
) -> DeidResult:
    """De-identify one parsed object; write it to ``output`` only when it is clean."""
    facts = _facts(parsed)
    index = facts.index
    try:
        cleaned = run_pixel_step(
            _routing_facts(index, facts.sop_class, facts.modality),
            parsed,
            index,
            identity={k: text_of(index.get(t)) for t, k in IDENTITY_KEYWORDS if t in index},
        )
    except DeidFailure as failure:
        if not failure.reason.is_quarantine:
            raise
        return DeidResult(
            ok=False,
            reason=failure.reason,
            detail=failure.detail,
            provenance=engine.provenance,
            modality=facts.modality or None,
            body_part=facts.body_part,
            sop_class_uid=facts.sop_class,
            transfer_syntax=_output_syntax(parsed, None),
        )
    try:
        return _deidentify(
            engine, facts, center_id, output, record=record, cleaned=cleaned, uid_scope=uid_scope
        )
    finally:
        if cleaned is not None:
            cleaned.close()


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


def _walker(
    engine: Engine,
    facts: _Facts,
    center_id: str,
    patient_key: str,
    changes: list[Change] | None,
    *,
    uid_scope: str = "",
) -> TreeWalker:
    index, options = facts.index, engine.options
    needles = NeedleSet()
    pairs = [
        (keyword_of(t), kind, bytes(index[t].value or b""))
        for t, kind in IDENTITY_TAGS
        if t in index and index[t].value is not None
    ]
    return TreeWalker(
        profile=engine.profile,
        pseudonyms=engine.pseudonyms,
        ctx=IodContext(
            facts.sop_class,
            facts.modality,
            0x52009229 in index,
            0x00102201 in index,
            text_of(index.get(0x300E0002)).upper(),
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
        little=facts.parsed.little,
        encodings=encodings_of(index[0x00080005].value if 0x00080005 in index else None),
        record=changes,
        uid_scope=uid_scope,
    )


def _deidentify(
    engine: Engine,
    facts: _Facts,
    center_id: str,
    output: BinaryIO | None,
    *,
    record: bool,
    cleaned: CleanedPixels | None,
    uid_scope: str = "",
) -> DeidResult:
    parsed, index = facts.parsed, facts.index
    implicit, little = parsed.implicit, parsed.little
    transfer_syntax = _output_syntax(parsed, cleaned)
    provenance = engine.provenance if cleaned is None else engine.pixel_provenance
    provenance_items = (
        engine.provenance_elements if cleaned is None else engine.pixel_provenance_elements
    )
    patient_id = text_of(index.get(0x00100020))
    study = text_of(index.get(0x0020000D))
    patient_key = (
        "pid:" + patient_id
        if patient_id
        else ("study:" + study if study else "sop:" + facts.sop_uid)
    )
    token = engine.pseudonyms.patient_token(center_id, patient_key)
    changes: list[Change] | None = [] if record else None
    walker = _walker(engine, facts, center_id, patient_key, changes, uid_scope=uid_scope)
    out = [
        e
        for e in walker.walk(parsed.top)
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
    trailers = {id(p): walker.walk(p) for p in parsed.parts if isinstance(p, list)}
    new_index = {e.tag: e for e in out}
    new_sop = text_of(new_index.get(0x00080018))
    if not new_sop or new_sop == facts.sop_uid:
        raise DeidFailure(Rejection.MISSING_UID, "SOP Instance UID was not remapped")

    meta = encode_meta_values(
        facts.sop_class,
        new_sop,
        transfer_syntax,
        engine.implementation_uid,
        engine.implementation_version,
    )
    header = _encode(out, implicit, little)
    trailer_bytes = {key: _encode(elements, implicit, little) for key, elements in trailers.items()}
    walker.needles.allow_public(walker.public, walker.coded)
    hit = walker.needles.first_hit(meta + header, *trailer_bytes.values())
    reported = partial(
        DeidResult,
        provenance=provenance,
        modality=facts.modality or None,
        body_part=facts.body_part,
        sop_class_uid=facts.sop_class,
        transfer_syntax=transfer_syntax,
        changes=tuple(changes or ()),
    )
    if hit is not None:
        return reported(
            ok=False,
            reason=Rejection.LEAK_DETECTED,
            detail=f"{hit.kind.value} value from {hit.source} found in output",
        )
    emitted = with_payload(list(parsed.parts), cleaned.payload if cleaned else None)
    size_out, digest = emit(
        parsed.source,
        emitted,
        header,
        trailer_bytes,
        output,
        meta=meta,
        deflate=transfer_syntax == DeflatedExplicitVRLittleEndian,
    )
    return reported(
        ok=True,
        reason=None,
        detail="",
        patient_token=token,
        study_uid=text_of(new_index.get(0x0020000D)) or None,
        series_uid=text_of(new_index.get(0x0020000E)) or None,
        sop_instance_uid=new_sop,
        image_format=UID(transfer_syntax).name,
        number_of_frames=int(facts.frames_text) if facts.frames_text.isdigit() else None,
        size=size_out,
        sha256=digest,
        pixel_cleaning=cleaned.summary if cleaned else None,
    )


def _encode(elements: list[Element], implicit: bool, little: bool) -> bytes:
    chunks: list[bytes | memoryview] = []
    write_elements(elements, implicit, little, chunks)
    return b"".join(chunks)
