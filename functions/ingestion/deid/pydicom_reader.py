"""The fallback reader: pydicom reads what the element-tree parser leaves to it.

Deflated data sets, encodings that contradict the transfer syntax and sequences encoded as
UN are rare, and pydicom reads them well. Instead of a second pipeline, pydicom only turns
such an object into a regular encoding (the same transfer syntax, or explicit VR little
endian for a deflated one), and that is read by ``dicom_io.read_object`` into the one
element tree: one walker, serializer, leak check and emitter for every object. The object is
held in memory whole (twice, briefly), which these rare encodings already required.
"""

from __future__ import annotations

import io
import struct

from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import dcmread
from pydicom.filewriter import dcmwrite
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from .dicom_io import OpenedSource, ParsedObject, read_object, sniff
from .element_tree import NeedsFullParser
from .reasons import DeidFailure, Rejection


def _read(opened: OpenedSource) -> Dataset:
    opened.fp.seek(opened.origin)
    try:
        return dcmread(opened.fp)
    except InvalidDicomError as exc:
        raise DeidFailure(Rejection.NOT_DICOM, type(exc).__name__) from None
    except (EOFError, struct.error) as exc:
        raise DeidFailure(Rejection.TRUNCATED, type(exc).__name__) from None
    except Exception as exc:
        # Only the type: a parser's message may quote attribute values.
        raise DeidFailure(Rejection.INVALID_DATASET, type(exc).__name__) from None


def read_with_pydicom(opened: OpenedSource) -> ParsedObject:
    """The element tree of an object the element-tree parser could not read directly."""
    sniff(opened.read_at(0, 132), opened.size)
    ds = _read(opened)
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if not syntax:
        raise DeidFailure(Rejection.MISSING_FILE_META, "no transfer syntax in file meta")
    deflated = syntax == DeflatedExplicitVRLittleEndian
    if deflated:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    regular = io.BytesIO()
    try:
        # Visiting every element turns raw ones into typed ones: an element read as
        # implicit VR under an explicit syntax has no VR until then.
        ds.walk(lambda _ds, _elem: None)
        ds.preamble = b"\x00" * 128  # with it, pydicom writes the DICM prefix and the meta
        dcmwrite(regular, ds)
    except Exception as exc:
        raise DeidFailure(Rejection.INVALID_DATASET, type(exc).__name__) from None
    data = regular.getvalue()
    del ds
    try:
        parsed = read_object(OpenedSource(io.BytesIO(data), len(data), True, data=data))
    except NeedsFullParser:
        raise DeidFailure(Rejection.INVALID_DATASET, "irregular even once re-encoded") from None
    parsed.deflated = deflated
    return parsed
