"""The BlobStore contract, run against the in-memory store and fake-gcs-server."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pytest

from shared.ports.blobs import BlobExists, BlobNotFound, BlobStore


@pytest.fixture(params=["memory", pytest.param("gcs", marks=pytest.mark.emulators)])
def blobs(request: pytest.FixtureRequest) -> Iterator[tuple[BlobStore, str]]:
    bucket = f"contract-{uuid.uuid4().hex[:10]}"
    if request.param == "memory":
        from shared.adapters.memory_blob_store import InMemoryBlobStore

        yield InMemoryBlobStore(), bucket
        return
    stack = request.getfixturevalue("stack")
    from google.cloud import storage  # type: ignore[attr-defined]

    from shared.adapters.gcs_blob_store import GcsBlobStore

    client = storage.Client(project=stack.project_id)
    client.create_bucket(bucket)
    yield GcsBlobStore(client), bucket


def test_missing_object(blobs: tuple[BlobStore, str]) -> None:
    store, bucket = blobs
    assert store.stat(bucket, "nope") is None
    with pytest.raises(BlobNotFound):
        store.read_bytes(bucket, "nope")
    with pytest.raises(BlobNotFound):
        store.open_read(bucket, "nope")
    assert store.delete(bucket, "nope") is False


def test_create_only_write_refuses_a_second_write(blobs: tuple[BlobStore, str]) -> None:
    store, bucket = blobs
    info = store.write(
        bucket, "a/b.dcm", b"first", content_type="application/dicom", metadata={"k": "v"}
    )
    assert info.size == 5 and info.generation > 0
    with pytest.raises(BlobExists):
        store.write(bucket, "a/b.dcm", b"second")
    stat = store.stat(bucket, "a/b.dcm")
    assert stat is not None
    assert (stat.generation, stat.size, stat.metadata) == (info.generation, 5, {"k": "v"})
    assert stat.content_type == "application/dicom"
    assert store.read_bytes(bucket, "a/b.dcm") == b"first"
    store.write(bucket, "a/b.dcm", io.BytesIO(b"third"), create_only=False)
    assert store.read_bytes(bucket, "a/b.dcm") == b"third"


def test_stream_is_seekable_and_pinned_to_a_generation(blobs: tuple[BlobStore, str]) -> None:
    store, bucket = blobs
    data = bytes(range(256)) * 64
    info = store.write(bucket, "big", data)
    for size in (None, len(data)):
        stream = store.open_read(bucket, "big", generation=info.generation, size=size)
        assert stream.seekable()
        stream.seek(1000)
        assert stream.read(10) == data[1000:1010]
        assert stream.seek(0, io.SEEK_END) == len(data)
        stream.seek(0)
        assert stream.read() == data
        stream.close()
    assert store.read_bytes(bucket, "big", generation=info.generation) == data
    store.write(bucket, "big", b"newer", create_only=False)
    with pytest.raises(BlobNotFound):
        store.read_bytes(bucket, "big", generation=info.generation)


def test_delete_only_the_given_generation(blobs: tuple[BlobStore, str]) -> None:
    store, bucket = blobs
    old = store.write(bucket, "x", b"1")
    new = store.write(bucket, "x", b"2", create_only=False)
    assert store.delete(bucket, "x", generation=old.generation) is False
    assert store.read_bytes(bucket, "x") == b"2"
    assert store.delete(bucket, "x", generation=new.generation) is True
    assert store.stat(bucket, "x") is None
    assert store.delete(bucket, "x") is False


def test_copy_and_list(blobs: tuple[BlobStore, str]) -> None:
    store, bucket = blobs
    info = store.write(bucket, "in/one", b"payload", metadata={"pathology": "none"})
    copied = store.copy(bucket, "in/one", bucket, "out/one", src_generation=info.generation)
    assert copied.size == 7
    assert store.read_bytes(bucket, "out/one") == b"payload"
    store.write(bucket, "in/two", b"2")
    assert store.list_names(bucket, "in/") == ["in/one", "in/two"]
    assert store.list_names(bucket) == ["in/one", "in/two", "out/one"]
