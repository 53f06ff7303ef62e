"""STOW-RS (PS3.18 10.5) without flask: the request's media type, a multipart/related body
read incrementally into spooled parts, what each part is (a DICOM instance, or a failure
and its reason), and the Store Instances Response (PS3.18 10.5.3) in the DICOM JSON model.

Memory stays bounded whatever the body's size: the body is read `chunk_bytes` at a time,
the boundary is looked for in a rolling buffer (a chunk plus the delimiter's length), and
each part is written to a SpooledTemporaryFile that moves to disk past `spool_bytes`. Only
one part exists at a time: the consumer stores it, then the next one is read. The whole
body is bounded by `max_bytes` and its parts by `max_parts` (StowRefused 413 past either).

No UID, header value or byte of a part is ever put in an exception's message: errors name
the rule that was broken, never the data.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from werkzeug.http import parse_options_header

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
MULTIPART_RELATED = "multipart/related"
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
# PS3.18 10.5.3 Failure Reasons (PS3.4 Annex B.2.3 statuses).
OUT_OF_RESOURCES = 0xA700
DOES_NOT_MATCH = 0xA900  # data set does not match SOP class (or the target study)
CANNOT_UNDERSTAND = 0xC000
# PS3.5 9.1: at most 64 characters, components of digits without leading zeros.
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$")  # RFC 2046
_MAX_HEADER_BYTES = 16 * KiB


class StowRefused(Exception):
    """The request as a whole is refused: `status` 400, 413 or 415, `reason` a code."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.status, self.reason, self.detail = status, reason, detail


@dataclass(frozen=True)
class StowLimits:
    max_bytes: int  # of the whole body
    max_parts: int
    spool_bytes: int = 1 * MiB  # a part larger than this is spooled to disk
    chunk_bytes: int = 64 * KiB  # read from the request at a time


def boundary_of(content_type: str) -> bytes:
    """The boundary of a `multipart/related; type="application/dicom"` body: 415 for another
    media type (or parts of another type), 400 for a multipart/related without boundary."""
    mimetype, options = parse_options_header(content_type or "")
    mimetype = mimetype.lower()
    if mimetype != MULTIPART_RELATED:
        if mimetype.startswith("multipart/"):
            raise StowRefused(400, "not_multipart_related", "send multipart/related")
        raise StowRefused(
            415, "unsupported_media_type", f'send {MULTIPART_RELATED}; type="{DICOM}"'
        )
    kind = options.get("type", DICOM).strip().lower()
    if kind != DICOM:
        # DICOM JSON or XML metadata with bulk data parts is not taken: instances only.
        raise StowRefused(415, "unsupported_media_type", f'only type="{DICOM}" parts')
    boundary = options.get("boundary", "")
    if not boundary or not _BOUNDARY.match(boundary):
        raise StowRefused(400, "missing_boundary", "multipart/related needs a valid boundary")
    return boundary.encode("ascii")


@dataclass
class Part:
    """One body part: its headers (names lower-cased) and its content, spooled, at 0."""

    headers: dict[str, str]
    content: BinaryIO
    size: int

    @property
    def media_type(self) -> str:
        declared = self.headers.get("content-type", "").strip()
        return parse_options_header(declared)[0].lower() if declared else DICOM


class _Body:
    """The request body, read in chunks through a rolling buffer (at most a chunk plus a
    delimiter long, or a part's headers), counted against the limit."""

    def __init__(self, read: Callable[[int], bytes], boundary: bytes, limits: StowLimits) -> None:
        self._read, self._limits = read, limits
        # The first delimiter may open the body, without the CRLF every later one has.
        self.buffer = b"\r\n"
        self.total = 0
        self.ended = False
        self.delimiter = b"\r\n--" + boundary
        self.keep = len(self.delimiter) - 1

    def fill(self) -> bool:
        """Read one more chunk into the buffer; False at the end of the body."""
        if self.ended:
            return False
        chunk = self._read(self._limits.chunk_bytes)
        if not chunk:
            self.ended = True
            return False
        self.total += len(chunk)
        if self.total > self._limits.max_bytes:
            raise StowRefused(
                413, "body_too_large", f"at most {self._limits.max_bytes} bytes per request"
            )
        self.buffer += chunk
        return True

    def at_least(self, n: int) -> bool:
        while len(self.buffer) < n:
            if not self.fill():
                return False
        return True

    def drain(self) -> None:
        """Read the rest of the body (still counted), keeping none of it: nothing is left
        for the server to read into memory after the answer."""
        self.buffer = b""
        while self.fill():
            self.buffer = b""

    def copy_to_delimiter(self, sink: Callable[[bytes], object]) -> int:
        """Pass everything up to the next delimiter to `sink` (None: the preamble, dropped)
        and consume the delimiter; the number of bytes passed."""
        size = 0
        while (found := self.buffer.find(self.delimiter)) < 0:
            ready = len(self.buffer) - self.keep
            if ready > 0:
                sink(self.buffer[:ready])
                size += ready
                self.buffer = self.buffer[ready:]
            if not self.fill():
                raise _malformed("the body ends before its close delimiter")
        sink(self.buffer[:found])
        self.buffer = self.buffer[found + len(self.delimiter) :]
        return size + found

    def part_headers(self) -> dict[str, str] | None:
        """After a delimiter: the next part's headers, or None for the close delimiter."""
        if not self.at_least(2):
            raise _malformed("the body ends after a delimiter")
        if self.buffer.startswith(b"--"):
            self.drain()  # the close delimiter; the epilogue is read and dropped
            return None
        # Transport padding (spaces, tabs) then CRLF end the delimiter line.
        while not (stripped := self.buffer.lstrip(b" \t")) and self.fill():
            pass
        self.buffer = stripped
        if not self.at_least(2) or not self.buffer.startswith(b"\r\n"):
            raise _malformed("a delimiter line does not end with CRLF")
        # The headers end at the first empty line (none: the part opens with CRLF).
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > _MAX_HEADER_BYTES or not self.fill():
                raise _malformed("a part's headers do not end")
        if end > _MAX_HEADER_BYTES:
            raise _malformed("a part's headers are too long")
        headers = _headers(self.buffer[2:end])
        self.buffer = self.buffer[end + 4 :]
        return headers


def _malformed(detail: str) -> StowRefused:
    return StowRefused(400, "malformed_multipart", detail)


def _headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.split(b"\r\n"):
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name.strip():
            raise _malformed("a part's header line is not `name: value`")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers


def _drop(_: bytes) -> None:
    return None


def parts(read: Callable[[int], bytes], boundary: bytes, limits: StowLimits) -> Iterator[Part]:
    """The body's parts, one at a time (each closed when the next one is asked for). The
    preamble before the first delimiter and the epilogue after the last are ignored; the
    CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1)."""
    body = _Body(read, boundary, limits)
    try:
        body.copy_to_delimiter(_drop)  # the preamble
    except StowRefused as error:
        if error.status != 400:
            raise
        raise _malformed("no delimiter: the boundary does not match the body") from None
    count = 0
    while (headers := body.part_headers()) is not None:
        count += 1
        if count > limits.max_parts:
            raise StowRefused(413, "too_many_parts", f"at most {limits.max_parts} instances")
        with tempfile.SpooledTemporaryFile(max_size=limits.spool_bytes) as content:
            size = body.copy_to_delimiter(content.write)
            content.seek(0)
            yield Part(headers, cast(BinaryIO, content), size)


@dataclass(frozen=True)
class Instance:
    """What a part was found to be: its UIDs when known, and its failure, if any."""

    sop_class: str | None = None
    sop_instance: str | None = None
    study: str | None = None
    failure: int | None = None
    why: str = ""  # for the log: the rule, never the data


def _uid(value: Any) -> str | None:
    text = str(value or "").strip().rstrip("\0").strip()
    return text if len(text) <= 64 and _UID.match(text) else None


def identify(part: Part, study: str | None = None) -> Instance:
    """Read just the part's header (no pixel data, large values deferred) for its UIDs;
    leaves the content at 0. A part of another type, or not a DICOM file, cannot be
    understood (0xC000); one without valid SOP UIDs, whose SOP class is not its file meta's,
    or of another study than `study`, does not match (0xA900)."""
    if part.media_type != DICOM:
        return Instance(failure=CANNOT_UNDERSTAND, why="not_application_dicom")
    import pydicom
    from pydicom.tag import Tag

    wanted = [Tag(0x0008, 0x0016), Tag(0x0008, 0x0018), Tag(0x0020, 0x000D)]
    try:
        ds = pydicom.dcmread(
            part.content, stop_before_pixels=True, defer_size=4 * KiB, specific_tags=wanted
        )
        meta_class = ds.file_meta.get("MediaStorageSOPClassUID")
        found = (ds.get("SOPClassUID"), ds.get("SOPInstanceUID"), ds.get("StudyInstanceUID"))
    except Exception:  # whatever the client sent: never a 500
        return Instance(failure=CANNOT_UNDERSTAND, why="not_dicom")
    finally:
        part.content.seek(0)
    sop_class, sop_instance, its_study = (_uid(value) for value in found)
    if sop_class is None or sop_instance is None:
        return Instance(sop_class, sop_instance, its_study, DOES_NOT_MATCH, "no_sop_uids")
    if meta_class is not None and _uid(meta_class) != sop_class:
        return Instance(sop_class, sop_instance, its_study, DOES_NOT_MATCH, "sop_class_mismatch")
    if study is not None and its_study != study:
        return Instance(sop_class, sop_instance, its_study, DOES_NOT_MATCH, "other_study")
    return Instance(sop_class, sop_instance, its_study)


def _ui(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]}


@dataclass
class StoreResponse:
    """The Store Instances Response (PS3.18 10.5.3) being built, one part at a time."""

    stored: list[Instance] = field(default_factory=list)
    failed: list[Instance] = field(default_factory=list)

    def add(self, instance: Instance) -> None:
        (self.stored if instance.failure is None else self.failed).append(instance)

    @property
    def status(self) -> int:
        """200 all stored; 202 some; 409 none (an empty body stored nothing either)."""
        if not self.stored:
            return 409
        return 202 if self.failed else 200

    def dicom_json(self) -> dict[str, Any]:
        """RetrieveURL (0008,1190) is left out: centers' originals are not served."""
        answer: dict[str, Any] = {}
        if self.failed:
            items = []
            for instance in self.failed:
                item: dict[str, Any] = {}
                if instance.sop_class:
                    item["00081150"] = _ui(instance.sop_class)
                if instance.sop_instance:
                    item["00081155"] = _ui(instance.sop_instance)
                item["00081197"] = {"vr": "US", "Value": [instance.failure]}
                items.append(item)
            answer["00081198"] = {"vr": "SQ", "Value": items}
        if self.stored:
            answer["00081199"] = {
                "vr": "SQ",
                "Value": [
                    {"00081150": _ui(str(i.sop_class)), "00081155": _ui(str(i.sop_instance))}
                    for i in self.stored
                ],
            }
        return answer
