"""STOW-RS: the streaming multipart/related parser (stow.py) and the route (routes_stow.py)
in process: who may send, where the instances land, and the Store Instances Response."""

from __future__ import annotations

import io
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pydicom
import pytest

from functions.api import stow
from functions.api.stow import StowLimits, StowRefused
from tests.unit.api.conftest import Api, make_api
from tests.unit.api.test_openapi import conforms
from tests.unit.ingestion.helpers import study

BOUNDARY = "stow-boundary-7c1e"
INGEST = "saludtech-local-ingest"


def multipart(
    parts: Sequence[bytes | tuple[dict[str, str], bytes]],
    boundary: str = BOUNDARY,
    preamble: bytes = b"",
    epilogue: bytes = b"",
) -> bytes:
    """A multipart/related body; a bare bytes part is sent as application/dicom."""
    out = [preamble]
    for part in parts:
        headers, content = part if isinstance(part, tuple) else ({"Content-Type": stow.DICOM}, part)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        out.append(f"\r\n--{boundary}\r\n{head}\r\n".encode() + content)
    out.append(f"\r\n--{boundary}--".encode() + epilogue)
    body = b"".join(out)
    return body if preamble else body.removeprefix(b"\r\n")


def content_type(boundary: str = BOUNDARY) -> str:
    return f'multipart/related; type="application/dicom"; boundary={boundary}'


def read_all(
    body: bytes, chunk: int = 64 * 1024, **limits: Any
) -> list[tuple[dict[str, str], bytes, bool]]:
    chosen = StowLimits(**{"max_bytes": 1 << 30, "max_parts": 100, "chunk_bytes": chunk, **limits})
    found = []
    for part in stow.parts(io.BytesIO(body).read, BOUNDARY.encode(), chosen):
        rolled = bool(getattr(part.content, "_rolled", False))
        found.append((part.headers, part.content.read(), rolled))
    return found


# -- the media type ------------------------------------------------------------------------
def test_the_boundary_of_a_multipart_related_body() -> None:
    assert stow.boundary_of(content_type()) == BOUNDARY.encode()
    assert stow.boundary_of('Multipart/Related; boundary="a b"') == b"a b"  # type defaults


@pytest.mark.parametrize(
    ("header", "status", "reason"),
    [
        ("application/json", 415, "unsupported_media_type"),
        ("application/dicom", 415, "unsupported_media_type"),
        ("", 415, "unsupported_media_type"),
        ('multipart/related; type="application/dicom+json"; boundary=x', 415,
         "unsupported_media_type"),
        ('multipart/related; type="application/dicom"', 400, "missing_boundary"),
        ("multipart/related; boundary=", 400, "missing_boundary"),
        ("multipart/related; boundary=" + "x" * 71, 400, "missing_boundary"),
        ("multipart/form-data; boundary=x", 400, "not_multipart_related"),
    ],
)  # fmt: skip
def test_another_media_type_or_no_boundary_is_refused(
    header: str, status: int, reason: str
) -> None:
    with pytest.raises(StowRefused) as refused:
        stow.boundary_of(header)
    assert (refused.value.status, refused.value.reason) == (status, reason)


# -- the parser ----------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 16, 31, 64 * 1024])
def test_parts_are_found_whatever_the_chunks_split(chunk: int) -> None:
    # Contents that look like a delimiter but are not one, and CRLFs of their own.
    first = b"\r\n--stow-boundary-7c1\r\n-- not it\r\n"
    second = b"--" + BOUNDARY.encode() + b"x is inside a line, not after a CRLF"
    body = multipart(
        [first, ({"content-type": "application/dicom", "X-Other": " v "}, second), b""],
        preamble=b"a preamble --stow-boundary-7c1e-- not at a line start\r\n--",
        epilogue=b"\r\nan epilogue, ignored\r\n--" + BOUNDARY.encode() + b"\r\n",
    )
    found = read_all(body, chunk)
    assert [content for _, content, _ in found] == [first, second, b""]
    # The epilogue is read too (and dropped): nothing is left for the server to read.
    source = io.BytesIO(body)
    limits = StowLimits(max_bytes=len(body), max_parts=10, chunk_bytes=chunk)
    assert len(list(stow.parts(source.read, BOUNDARY.encode(), limits))) == 3
    assert source.tell() == len(body)
    assert found[1][0] == {"content-type": "application/dicom", "x-other": "v"}


def test_a_body_may_open_with_its_first_delimiter_and_parts_may_have_no_headers() -> None:
    body = f"--{BOUNDARY}\r\n\r\nabc\r\n--{BOUNDARY}  \t\r\n\r\n\r\n--{BOUNDARY}--".encode()
    assert [(h, c) for h, c, _ in read_all(body, 4)] == [({}, b"abc"), ({}, b"")]


def test_a_part_larger_than_the_memory_bound_goes_to_disk() -> None:
    small, large = b"s" * 1000, bytes(range(256)) * 1000
    found = read_all(multipart([small, large]), 4096, spool_bytes=64 * 1024)
    assert [(c, rolled) for _, c, rolled in found] == [(small, False), (large, True)]


def test_memory_stays_bounded_whatever_the_body_size() -> None:
    """A 24 MiB part, produced as it is read, parsed with well under 1 MiB of memory."""
    size = 24 * 1024 * 1024
    block = b"\x00\x01\r\n-" * 6553 + b"\r\n"  # CRLFs and dashes, never a delimiter
    head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def source() -> Iterator[bytes]:
        yield head
        for _ in range(size // len(block)):
            yield block
        yield tail

    chunks = source()
    pending = [b""]

    def read(n: int) -> bytes:
        while len(pending[0]) < n:
            more = next(chunks, b"")
            if not more:
                break
            pending[0] += more
        out, pending[0] = pending[0][:n], pending[0][n:]
        return out

    limits = StowLimits(max_bytes=1 << 30, max_parts=10, spool_bytes=256 * 1024)
    tracemalloc.start()
    try:
        sizes = [part.size for part in stow.parts(read, BOUNDARY.encode(), limits)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sizes == [size // len(block) * len(block)]
    assert peak < 1024 * 1024, peak


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_a_body_over_the_limit_is_refused_while_it_is_read(chunk: int) -> None:
    body = multipart([b"x" * 5000])
    with pytest.raises(StowRefused) as refused:
        read_all(body, chunk, max_bytes=4096)
    assert (refused.value.status, refused.value.reason) == (413, "body_too_large")
    assert len(read_all(body, chunk, max_bytes=len(body))) == 1


def test_more_parts_than_allowed_are_refused() -> None:
    body = multipart([b"a", b"b", b"c"])
    assert len(read_all(body, max_parts=3)) == 3
    with pytest.raises(StowRefused) as refused:
        read_all(body, max_parts=2)
    assert (refused.value.status, refused.value.reason) == (413, "too_many_parts")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"no delimiter at all",
        f"--{BOUNDARY}\r\n\r\ncut short".encode(),  # no close delimiter
        f"--{BOUNDARY}\r\nno end of the headers".encode(),
        f"--{BOUNDARY}\nContent-Type: application/dicom\n\nLF only\n--{BOUNDARY}--".encode(),
        f"--{BOUNDARY}\r\nnot a header\r\n\r\nx\r\n--{BOUNDARY}--".encode(),
        f"--{BOUNDARY}".encode(),
        f"--{BOUNDARY}\r\n{'X-Long: ' + 'v' * 20000}\r\n\r\nx\r\n--{BOUNDARY}--".encode(),
    ],
)
def test_a_malformed_body_is_refused(body: bytes) -> None:
    with pytest.raises(StowRefused) as refused:
        read_all(body, 5)
    assert (refused.value.status, refused.value.reason) == (400, "malformed_multipart")


# -- what a part is --------------------------------------------------------------------------
def _part(content: bytes, media: str = stow.DICOM) -> stow.Part:
    return stow.Part({"content-type": media}, io.BytesIO(content), len(content))


def test_an_instance_is_identified_by_its_header_only() -> None:
    data = study(1, seed=1)[0]
    ds = pydicom.dcmread(io.BytesIO(data))
    part = _part(data)
    found = stow.identify(part)
    assert (found.sop_class, found.sop_instance, found.failure) == (
        ds.SOPClassUID, ds.SOPInstanceUID, None,
    )  # fmt: skip
    assert part.content.tell() == 0
    assert stow.identify(_part(data), str(ds.StudyInstanceUID)).failure is None
    other = stow.identify(_part(data), "1.2.3")
    assert (other.failure, other.sop_instance, other.why) == (
        stow.DOES_NOT_MATCH, ds.SOPInstanceUID, "other_study",
    )  # fmt: skip


def test_a_part_that_is_no_dicom_instance_fails() -> None:
    data = study(1, seed=1)[0]
    assert stow.identify(_part(b"not dicom")).failure == stow.CANNOT_UNDERSTAND
    assert stow.identify(_part(data[:130])).failure == stow.CANNOT_UNDERSTAND  # no DICM
    # A file meta without a data set (cut short): no SOP UIDs to match its class.
    assert stow.identify(_part(data[:200])).failure == stow.DOES_NOT_MATCH
    as_json = stow.identify(_part(data, "application/dicom+json"))
    assert (as_json.failure, as_json.sop_instance) == (stow.CANNOT_UNDERSTAND, None)
    ds = pydicom.dcmread(io.BytesIO(data))
    del ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert stow.identify(_part(buffer.getvalue())).failure == stow.DOES_NOT_MATCH


# -- the route -------------------------------------------------------------------------------
def _stow(
    api: Api, body: bytes, token: str | None, path: str = "/v1/dicomweb/studies", **extra: str
) -> Any:
    headers = {"Content-Type": extra.pop("content_type", content_type()), **extra}
    return api.call("POST", path, raw=body, token=token, headers=headers)


def _ingest_names(api: Api) -> list[str]:
    return api.platform.blobs.list_names(INGEST)


def _uids(answer: Any, tag: str) -> list[str]:
    return [item["00081155"]["Value"][0] for item in answer.body.get(tag, {}).get("Value", [])]


def test_only_a_center_may_store(api: Api) -> None:
    body = multipart(study(1, seed=1))
    anonymous = _stow(api, body, None)
    assert anonymous.status == 401
    assert _stow(api, body, api.login("client-a")).status == 403
    assert _stow(api, body, api.login("operator")).status == 403
    assert _ingest_names(api) == []
    conforms("/v1/dicomweb/studies", "POST", anonymous)


def test_a_center_stores_a_study_under_its_own_prefix(api: Api) -> None:
    instances = study(8, seed=1)  # over the app's 64 KiB limit of JSON bodies
    assert sum(map(len, instances)) > 64 * 1024
    answer = _stow(api, multipart(instances), api.login("center-a"))
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"] == "application/dicom+json"
    conforms("/v1/dicomweb/studies", "POST", answer)
    expected = [pydicom.dcmread(io.BytesIO(data)) for data in instances]
    assert _uids(answer, "00081199") == [ds.SOPInstanceUID for ds in expected]
    item = answer.body["00081199"]["Value"][0]
    assert item["00081150"] == {"vr": "UI", "Value": [expected[0].SOPClassUID]}
    assert "00081198" not in answer.body and "00081190" not in answer.body
    names = _ingest_names(api)
    assert len(names) == 8 and all(n.startswith("hospital-1/stow/") for n in names), names
    assert all(n.endswith(".dcm") for n in names)
    stored = sorted(api.platform.blobs.read_bytes(INGEST, name) for name in names)
    assert stored == sorted(instances)
    info = api.platform.blobs.stat(INGEST, names[0])
    assert info is not None and info.content_type == "application/dicom"


def test_some_failed_is_202_and_none_stored_is_409(api: Api) -> None:
    token = api.login("center-b")
    good = study(1, seed=2)[0]
    junk = ({"Content-Type": "application/octet-stream"}, b"junk")
    some = _stow(api, multipart([good, b"not dicom", junk]), token)
    assert some.status == 202, some.body
    conforms("/v1/dicomweb/studies", "POST", some)
    failed = some.body["00081198"]["Value"]
    assert [f["00081197"] for f in failed] == [{"vr": "US", "Value": [0xC000]}] * 2
    assert all("00081155" not in f for f in failed)
    assert len(_uids(some, "00081199")) == 1
    none = _stow(api, multipart([b"not dicom"]), token)
    assert none.status == 409
    conforms("/v1/dicomweb/studies", "POST", none)
    assert "00081199" not in none.body
    assert _stow(api, multipart([]), token).status == 409  # an empty study stored nothing
    assert [n.split("/")[:2] for n in _ingest_names(api)] == [["hospital-2", "stow"]]


def test_the_study_route_takes_instances_of_that_study_only(api: Api) -> None:
    token = api.login("center-a")
    mine, other = study(2, seed=3), study(1, seed=4)
    uid = str(pydicom.dcmread(io.BytesIO(mine[0])).StudyInstanceUID)
    path = f"/v1/dicomweb/studies/{uid}"
    answer = _stow(api, multipart([*mine, *other]), token, path)
    assert answer.status == 202, answer.body
    conforms("/v1/dicomweb/studies/{study_id}", "POST", answer)
    (failed,) = answer.body["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xA900]
    assert failed["00081155"]["Value"] == [pydicom.dcmread(io.BytesIO(other[0])).SOPInstanceUID]
    assert len(_ingest_names(api)) == 2


@pytest.mark.parametrize(
    ("header", "status", "reason"),
    [
        ("application/json", 415, "unsupported_media_type"),
        ('multipart/related; type="application/dicom"', 400, "missing_boundary"),
        ("multipart/mixed; boundary=x", 400, "not_multipart_related"),
    ],
)
def test_a_body_of_another_type_is_refused(api: Api, header: str, status: int, reason: str) -> None:
    answer = _stow(api, b'{"a": 1}', api.login("center-a"), content_type=header)
    assert (answer.status, answer.body["error"]["reason"]) == (status, reason)
    conforms("/v1/dicomweb/studies", "POST", answer)


def test_a_malformed_body_is_400(api: Api) -> None:
    answer = _stow(api, b"--other\r\n\r\nx\r\n--other--", api.login("center-a"))
    assert (answer.status, answer.body["error"]["reason"]) == (400, "malformed_multipart")
    # What is left of the body is not read after the answer: the connection is closed.
    assert answer.headers["Connection"] == "close"


@pytest.fixture
def small_api() -> Iterator[Api]:
    yield from make_api(api_stow_max_bytes=40_000, api_stow_max_parts=2)


def test_the_limits_are_413(small_api: Api) -> None:
    token = small_api.login("center-a")
    instances = study(3, seed=5)
    too_large = _stow(small_api, multipart([b"x" * 50_000]), token)
    assert (too_large.status, too_large.body["error"]["reason"]) == (413, "body_too_large")
    conforms("/v1/dicomweb/studies", "POST", too_large)
    too_many = _stow(small_api, multipart(instances), token)
    assert (too_many.status, too_many.body["error"]["reason"]) == (413, "too_many_parts")
    # Those read before the limit was met were received (sending them again is harmless).
    assert len(_ingest_names(small_api)) == 2
    assert _stow(small_api, multipart(instances[:2]), token).status == 200


def test_a_store_that_fails_is_out_of_resources_never_a_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.ports.blobs import BlobUnavailable

    def unavailable(*_: Any, **__: Any) -> Any:
        raise BlobUnavailable("down")

    monkeypatch.setattr(api.platform.blobs, "write", unavailable)
    answer = _stow(api, multipart(study(1, seed=6)), api.login("center-a"))
    assert answer.status == 409
    assert answer.body["00081198"]["Value"][0]["00081197"]["Value"] == [0xA700]


def test_no_uid_is_logged(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    data = study(1, seed=7)[0]
    ds = pydicom.dcmread(io.BytesIO(data))
    token = api.login("center-a")
    capsys.readouterr()
    _stow(api, multipart([data, b"junk"]), token, f"/v1/dicomweb/studies/{uuid.uuid4().int}")
    logged = capsys.readouterr()
    for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SOPClassUID):
        assert str(uid) not in logged.out + logged.err
