"""Reading an object into the element tree without its pixels, and writing the output.

The source is opened as a seekable stream. Its bytes are seen through a buffer that costs no
copy (the caller's bytes, or an mmap of the file whose pages are only read when touched); a
large stream with no file behind it (a ranged Cloud Storage reader) is read as a growing
prefix up to the pixels, and the pixels are then located and copied through seeks. The
header and whatever follows the pixels (trailing padding, signatures, private groups) are
element trees; each bulk (pixel) element is a byte range copied verbatim, or replaced by the
cleaned pixels. Memory is bounded by the header, not by the file.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from .element_tree import BULK_TAGS, Element, NeedsFullParser, Parser, bulk_end, text_of
from .pixels import Payload
from .reasons import DeidFailure, Rejection

Source = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO

COPY_CHUNK = 1024 * 1024
SMALL_FILE = 4 * 1024 * 1024
# First read of a stream that cannot be mapped; grown fourfold until the header fits.
HEADER_WINDOW = 1024 * 1024


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

    def buffer(self) -> memoryview | None:
        """The object's bytes without copying them, or None for a large unmappable stream.

        The caller's bytes, a small file read once, or an mmap of a file (pages of an mmap
        are only read when touched, so the pixel data never is).
        """
        if self.data is not None:
            return memoryview(self.data)[: self.size]
        if self.size <= SMALL_FILE or isinstance(self.fp, io.BytesIO):
            # One read beats mmap's page faults for small files; in-memory streams are
            # in memory already.
            self.fp.seek(self.origin)
            self.data = self.fp.read(self.size)
            return memoryview(self.data)
        try:
            mapped = mmap.mmap(self.fp.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            return None  # read in windows: holding it whole would hold the pixels
        return memoryview(mapped)[self.origin : self.origin + self.size]

    def read_at(self, pos: int, length: int) -> bytes:
        """``length`` bytes of the object from ``pos`` (fewer at its end)."""
        self.fp.seek(self.origin + pos)
        return self.fp.read(max(0, min(length, self.size - pos)))


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


Part = BulkSegment | list[Element]


@dataclass(slots=True)
class ParsedObject:
    """One object as the element tree: file meta values, header, then (in file order) bulk
    segments and trailing element groups; ``source`` is where the bulk bytes are read."""

    source: OpenedSource
    meta: dict[int, str]
    top: list[Element]
    parts: list[Part]
    implicit: bool
    little: bool
    deflated: bool = False  # the input's data set was deflated: so is the output's

    @property
    def transfer_syntax(self) -> str:
        return self.meta.get(0x00020010, "")


def sniff(head: bytes, size: int) -> int:
    """Where the file meta starts; rejects, with a precise reason, what is not Part 10."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return 132
    if head[:4] == b"DICM":
        return 4
    # A bare data set (no preamble, no meta) starts with a low even group tag.
    if len(head) >= 8:
        group, element = struct.unpack("<HH", head[:4])
        if group in (0x0008, 0x0010, 0x0020) and element < 0x1000:
            raise DeidFailure(Rejection.MISSING_FILE_META, "no DICM prefix, bare data set")
        if struct.unpack(">H", head[:2])[0] == 0x0008:
            raise DeidFailure(Rejection.MISSING_FILE_META, "no DICM prefix, bare data set")
    if size < 132:
        raise DeidFailure(Rejection.NOT_DICOM, "too short")
    raise DeidFailure(Rejection.NOT_DICOM, "no DICM prefix")


def _meta(buf: memoryview) -> tuple[dict[int, str], int]:
    """File meta values and where the data set starts."""
    pos = sniff(bytes(buf[:132]), len(buf))
    elements, pos = Parser(buf, implicit=False, little=True).elements(
        pos, len(buf), top=False, group_only=0x0002
    )
    return {e.tag: text_of(e) for e in elements}, pos


def _header(buf: memoryview, whole: bool) -> tuple[dict[int, str], list[Element], int, UID]:
    """Meta and top-level elements up to the first bulk element (or the end)."""
    meta, pos = _meta(buf)
    text = meta.get(0x00020010, "")
    if not text:
        raise DeidFailure(Rejection.MISSING_FILE_META, "no transfer syntax in file meta")
    syntax = UID(text)
    if syntax == DeflatedExplicitVRLittleEndian or not syntax.is_transfer_syntax:
        raise NeedsFullParser("deflated or unknown transfer syntax")
    parser = Parser(buf, implicit=bool(syntax.is_implicit_VR), little=bool(syntax.is_little_endian))
    top, pos = parser.elements(pos, len(buf), top=True)
    if pos >= len(buf) and not whole:
        raise DeidFailure(Rejection.TRUNCATED, "header continues past the window")
    return meta, top, pos, syntax


def read_object(opened: OpenedSource) -> ParsedObject:
    """The element tree of the object; never reads the pixel bytes.

    Raises ``NeedsFullParser`` for what this parser leaves to pydicom (deflated data sets,
    encodings that contradict the transfer syntax, sequences encoded as UN).
    """
    whole = opened.buffer()
    window = HEADER_WINDOW
    while True:
        buf = whole if whole is not None else memoryview(opened.read_at(0, window))
        complete = whole is not None or len(buf) >= opened.size
        try:
            meta, top, pos, syntax = _header(buf, complete)
            break
        except DeidFailure as failure:
            if complete or failure.reason is not Rejection.TRUNCATED:
                raise
            window *= 4  # the header is longer than the window read so far
    implicit, little = bool(syntax.is_implicit_VR), bool(syntax.is_little_endian)
    read_at: Callable[[int, int], bytes | memoryview] = (
        opened.read_at if whole is None else lambda at, n: buf[at : at + n]
    )
    parts: list[Part] = []
    size = opened.size
    while pos < size:
        if pos + 8 > size:
            raise DeidFailure(Rejection.TRUNCATED, "element header cut short")
        group, element = struct.unpack_from("<HH" if little else ">HH", read_at(pos, 4))
        tag = group << 16 | element
        if tag in BULK_TAGS:
            end = bulk_end(read_at, pos, size, implicit, little)
            parts.append(BulkSegment(tag, opened.origin + pos, opened.origin + end))
            pos = end
            continue
        # Trailing elements: from the buffer, or (a stream) from the rest of the object.
        base, tail = (0, buf) if whole is not None else (pos, memoryview(opened.read_at(pos, size)))
        trailer, stop = Parser(tail, implicit=implicit, little=little).elements(
            pos - base, len(tail), top=True
        )
        parts.append(trailer)
        pos = base + stop
    return ParsedObject(opened, meta, top, parts, implicit, little)


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


def emit(
    source: OpenedSource,
    parts: Sequence[Part | Payload],
    header: bytes,
    trailer_bytes: dict[int, bytes],
    output: BinaryIO | None,
    *,
    meta: bytes,
    deflate: bool = False,
) -> tuple[int, str | None]:
    """Write meta, header, pixel bytes (verbatim or cleaned) and trailers; size and sha256.

    ``deflate``: the data set (everything after the meta) is written raw-deflated, as the
    Deflated Explicit VR Little Endian transfer syntax asks (such objects are in memory).
    """
    if deflate:
        plain = io.BytesIO()
        emit(source, parts, header, trailer_bytes, plain, meta=b"")
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = meta + packer.compress(plain.getvalue()) + packer.flush()
        if output is not None:
            output.write(packed)
        return len(packed), hashlib.sha256(packed).hexdigest() if output is not None else None
    if output is None:
        bulk = sum(p.end - p.start for p in parts if isinstance(p, BulkSegment))
        bulk += sum(p.size for p in parts if isinstance(p, Payload))
        return len(meta) + len(header) + bulk + sum(map(len, trailer_bytes.values())), None
    digest = hashlib.sha256(meta)
    digest.update(header)
    output.write(meta)
    output.write(header)
    size = len(meta) + len(header)
    data = memoryview(source.data) if source.data is not None else None
    for part in parts:
        if isinstance(part, Payload):
            size += part.write_to(output, digest)
        elif isinstance(part, BulkSegment):
            if data is None:
                size += copy_range(source.fp, part.start, part.end, output, digest)
                continue
            chunk = data[part.start - source.origin : part.end - source.origin]
            output.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        else:
            trailer = trailer_bytes[id(part)]
            output.write(trailer)
            digest.update(trailer)
            size += len(trailer)
    return size, digest.hexdigest()
