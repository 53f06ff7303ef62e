"""Reading the header without the pixels, and copying bulk pixel elements byte for byte.

The header (everything before Pixel Data / Float Pixel Data) is parsed by pydicom with large
values deferred; the bulk element is located by walking its header (and, when encapsulated,
its item headers) and is later streamed from the source to the output in chunks, so memory
is bounded by the header, not by the file. Whatever follows the pixels (trailing padding,
signatures, private groups) is parsed as a small trailing dataset and goes through the
profile like everything else.
"""

from __future__ import annotations

import io
import mmap
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import dcmread, read_dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian

from .element_tree import NeedsFullParser
from .reasons import DeidFailure, Rejection

Source = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO

BULK_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
DEFER_SIZE = 256 * 1024
COPY_CHUNK = 1024 * 1024
_LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_SEQ_DELIMITER = 0xFFFEE0DD


SMALL_FILE = 4 * 1024 * 1024


@dataclass(slots=True)
class OpenedSource:
    """A seekable binary stream over the input, its size, and where the object starts."""

    fp: BinaryIO
    size: int
    owned: bool
    origin: int = 0
    data: bytes | None = None  # the object's bytes from ``origin`` on, when in memory

    def close(self) -> None:
        if self.owned:
            self.fp.close()

    def buffer(self) -> memoryview:
        """The object's bytes without reading them: the caller's bytes, or an mmap of the file.

        Pages of an mmap are only read when touched, so the pixel data never is.
        """
        if self.data is not None:
            return memoryview(self.data)[: self.size]
        if self.size <= SMALL_FILE:
            # One read beats mmap's page faults for small files; still bounded.
            self.fp.seek(self.origin)
            self.data = self.fp.read(self.size)
            return memoryview(self.data)
        try:
            mapped = mmap.mmap(self.fp.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            if isinstance(self.fp, io.BytesIO):  # in memory already: one read, as before
                self.fp.seek(self.origin)
                return memoryview(self.fp.read(self.size))
            # A large stream with no file behind it (a ranged Cloud Storage reader): reading
            # it whole would hold the pixels in memory; the pydicom path streams them.
            raise NeedsFullParser("large stream that cannot be mapped") from None
        return memoryview(mapped)[self.origin : self.origin + self.size]


def open_source(source: Source, spool_limit: int = 64 * 1024 * 1024) -> OpenedSource:
    """Open bytes, a path or a stream as a seekable stream (spooling unseekable streams)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return OpenedSource(io.BytesIO(data), len(data), True, data=data)
    if isinstance(source, (str, os.PathLike)):
        fp = Path(source).open("rb")  # noqa: SIM115 - closed by OpenedSource.close()
        return OpenedSource(fp, os.fstat(fp.fileno()).st_size, True)
    if source.seekable():
        start = source.tell()
        size = source.seek(0, io.SEEK_END) - start
        source.seek(start)
        return OpenedSource(source, size, False, origin=start)
    # Closed by OpenedSource.close(): the stream outlives this function.
    spooled = tempfile.SpooledTemporaryFile(max_size=spool_limit)  # noqa: SIM115
    shutil.copyfileobj(source, spooled, COPY_CHUNK)
    size = spooled.tell()
    spooled.seek(0)
    return OpenedSource(spooled, size, True)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class BulkSegment:
    """A bulk pixel element to copy verbatim: absolute byte range in the source."""

    tag: int
    start: int
    end: int


@dataclass(slots=True)
class ParsedObject:
    """The parsed header and, in file order, the bulk segments and trailing element groups."""

    dataset: FileDataset
    parts: list[BulkSegment | Dataset]
    streamed: bool  # False when the whole file had to be read (deflated transfer syntax)
    implicit: bool
    little: bool


def _sniff(fp: BinaryIO, size: int) -> None:
    """Reject early, with a precise reason, what is not a DICOM Part 10 file."""
    start = fp.tell()
    head = fp.read(132)
    fp.seek(start)
    if len(head) == 132 and head[128:132] == b"DICM":
        return
    if head[:4] == b"DICM":
        return
    # A bare data set (no preamble, no meta) starts with a low even group tag.
    if len(head) >= 8:
        group, element = struct.unpack("<HH", head[:4])
        if group in (0x0008, 0x0010, 0x0020) and element < 0x1000:
            raise DeidFailure(Rejection.MISSING_FILE_META, "no DICM prefix, bare data set")
        group_be = struct.unpack(">H", head[:2])[0]
        if group_be == 0x0008:
            raise DeidFailure(Rejection.MISSING_FILE_META, "no DICM prefix, bare data set")
    if size < 132:
        raise DeidFailure(Rejection.NOT_DICOM, "too short")
    raise DeidFailure(Rejection.NOT_DICOM, "no DICM prefix")


def _element_end(fp: BinaryIO, start: int, size: int, implicit: bool, little: bool) -> int:
    """End offset of the bulk element starting at ``start``; raises TRUNCATED if cut short."""
    endian = "<" if little else ">"
    fp.seek(start)
    head = fp.read(12)
    if len(head) < 8:
        raise DeidFailure(Rejection.TRUNCATED, "pixel data header cut short")
    if implicit:
        length = int(struct.unpack(endian + "L", head[4:8])[0])
        value_start = start + 8
    elif head[4:6] in _LONG_LENGTH_VRS:
        if len(head) < 12:
            raise DeidFailure(Rejection.TRUNCATED, "pixel data header cut short")
        length = int(struct.unpack(endian + "L", head[8:12])[0])
        value_start = start + 12
    else:
        length = int(struct.unpack(endian + "H", head[6:8])[0])
        value_start = start + 8
    if length != _UNDEFINED:
        end = value_start + length
        if end > size:
            raise DeidFailure(Rejection.TRUNCATED, "pixel data shorter than its length")
        return end
    # Encapsulated: walk the item headers (always little endian) up to the delimiter.
    pos = value_start
    while True:
        fp.seek(pos)
        item = fp.read(8)
        if len(item) < 8:
            raise DeidFailure(Rejection.TRUNCATED, "encapsulated pixel data not terminated")
        group, element, item_length = struct.unpack("<HHL", item)
        tag = group << 16 | element
        pos += 8
        if tag == _SEQ_DELIMITER:
            return pos
        if tag != _ITEM or item_length == _UNDEFINED:
            raise DeidFailure(Rejection.INVALID_DATASET, "malformed encapsulated pixel data")
        pos += item_length
        if pos > size:
            raise DeidFailure(Rejection.TRUNCATED, "pixel data fragment cut short")


def _stop_at_bulk(tag: int, vr: str | None, length: int) -> bool:
    return tag in BULK_TAGS


def load_deferred(ds: Dataset, fp: BinaryIO, public_only: bool = False) -> None:
    """Read the values pydicom deferred, straight from the source stream.

    Called with ``public_only`` before the profile runs (private blobs are usually dropped
    unread) and again afterwards for whatever deferred element survived.
    """
    for tag in list(ds.keys()):
        if public_only and tag >> 16 & 1:
            continue
        elem = ds.get_item(tag)
        if isinstance(elem, RawDataElement) and elem.value is None and elem.length:
            fp.seek(elem.value_tell)
            value = fp.read(elem.length)
            if len(value) < elem.length:
                raise DeidFailure(Rejection.TRUNCATED, "element value cut short")
            ds._dict[tag] = elem._replace(value=value)


def _encoding_differs(ds: Dataset, implicit: bool) -> bool:
    for elem in ds._dict.values():
        if isinstance(elem, RawDataElement):
            return bool(elem.is_implicit_VR) != implicit
    return False


def parse(opened: OpenedSource) -> ParsedObject:
    """Parse the header and locate the bulk elements; never reads pixel bytes."""
    fp, size = opened.fp, opened.size
    origin = fp.tell()
    _sniff(fp, size)
    try:
        ds = dcmread(fp, stop_before_pixels=True, defer_size=DEFER_SIZE)
    except InvalidDicomError as exc:
        raise DeidFailure(Rejection.NOT_DICOM, type(exc).__name__) from None
    except (EOFError, struct.error) as exc:
        raise DeidFailure(Rejection.TRUNCATED, type(exc).__name__) from None
    except (ValueError, KeyError, TypeError, NotImplementedError, OSError) as exc:
        raise DeidFailure(Rejection.INVALID_DATASET, type(exc).__name__) from None
    meta = getattr(ds, "file_meta", None)
    transfer_syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if not transfer_syntax:
        raise DeidFailure(Rejection.MISSING_FILE_META, "no transfer syntax in file meta")
    implicit = bool(transfer_syntax.is_implicit_VR)
    little = bool(transfer_syntax.is_little_endian)
    if transfer_syntax == DeflatedExplicitVRLittleEndian or _encoding_differs(ds, implicit):
        # Deflated: the pixels live inside the deflate stream. Encoding contradicting the
        # transfer syntax (pydicom tolerates it): every element must be re-encoded. Both are
        # rare; read the object whole and let pydicom write it.
        fp.seek(origin)
        try:
            full = dcmread(fp)
        except Exception as exc:
            raise DeidFailure(Rejection.INVALID_DATASET, type(exc).__name__) from None
        return ParsedObject(full, [], streamed=False, implicit=implicit, little=little)
    parts = _locate_parts(fp, fp.tell(), origin + size, implicit, little)
    return ParsedObject(ds, parts, streamed=True, implicit=implicit, little=little)


def _locate_parts(
    fp: BinaryIO, pos: int, size: int, implicit: bool, little: bool
) -> list[BulkSegment | Dataset]:
    """Bulk elements (by byte range) and trailing element groups after the header."""
    parts: list[BulkSegment | Dataset] = []
    while pos < size:
        fp.seek(pos)
        head = fp.read(4)
        if len(head) < 4:
            break
        group, element = struct.unpack(("<" if little else ">") + "HH", head)
        tag = group << 16 | element
        if tag in BULK_TAGS:
            end = _element_end(fp, pos, size, implicit, little)
            parts.append(BulkSegment(tag, pos, end))
            pos = end
            continue
        fp.seek(pos)
        try:
            trailer = read_dataset(
                fp, implicit, little, stop_when=_stop_at_bulk, defer_size=DEFER_SIZE
            )
        except (EOFError, struct.error):
            raise DeidFailure(Rejection.TRUNCATED, "trailing elements cut short") from None
        except (ValueError, KeyError, TypeError, NotImplementedError) as exc:
            raise DeidFailure(Rejection.INVALID_DATASET, type(exc).__name__) from None
        new_pos = fp.tell()
        if new_pos <= pos:
            break
        parts.append(trailer)
        pos = new_pos
    return parts


def copy_range(src: BinaryIO, start: int, end: int, out: BinaryIO, digest: object) -> int:
    """Stream ``src[start:end]`` to ``out`` in chunks, feeding ``digest``; returns bytes copied."""
    src.seek(start)
    remaining = end - start
    update = digest.update  # type: ignore[attr-defined]
    while remaining > 0:
        chunk = src.read(min(COPY_CHUNK, remaining))
        if not chunk:
            raise DeidFailure(Rejection.TRUNCATED, "source ended while copying pixel data")
        out.write(chunk)
        update(chunk)
        remaining -= len(chunk)
    return end - start
