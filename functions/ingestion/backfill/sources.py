"""What an archive holds, and how it is listed: a folder, or a `gs://bucket/prefix`.

Listing gives each object's place and size (and for Cloud Storage its generation and custom
metadata), never its content. Names may carry PHI (files are often called after the
patient): an ArchiveObject prints none of it, since Beam may print an element in an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

Scheme = Literal["gs", "file"]


@dataclass(frozen=True)
class ArchiveSource:
    """What a backfill reads: every object below `prefix` of a bucket, or every file of a
    folder (and its subfolders)."""

    scheme: Scheme
    location: str  # the bucket, or the folder's absolute path
    prefix: str = ""  # Cloud Storage only: the part of the names that is listed

    @classmethod
    def parse(cls, text: str) -> ArchiveSource:
        if text.startswith("gs://"):
            bucket, _, prefix = text.removeprefix("gs://").partition("/")
            if not bucket:
                raise ValueError("a gs:// source needs a bucket: gs://<bucket>/<prefix>")
            return cls("gs", bucket, prefix)
        folder = Path(text).expanduser().resolve()
        if not folder.is_dir():
            raise ValueError("the source is neither gs://<bucket>/<prefix> nor a folder")
        return cls("file", str(folder))


@dataclass(frozen=True, repr=False)
class ArchiveObject:
    """One object of an archive, as listed."""

    scheme: Scheme
    location: str  # the bucket, or the folder listed
    name: str  # the object's name in its bucket, or its path below the folder
    relative: str  # below the listed prefix: `<center_id>/...` when no center is given
    size: int
    generation: int = 0  # Cloud Storage's; 0 for a file
    content_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """A file's path on disk."""
        return Path(self.location) / self.name

    def __repr__(self) -> str:
        return f"ArchiveObject({self.scheme}, {self.size} bytes)"


class ArchiveLister(Protocol):
    def list(self, source: ArchiveSource) -> Iterator[ArchiveObject]:
        """Every object of the source, in a stable order."""


class FolderLister:
    """The files of a folder, recursively, by sorted path (links are not followed)."""

    def list(self, source: ArchiveSource) -> Iterator[ArchiveObject]:
        root = Path(source.location)
        for directory, folders, files in os.walk(root):
            folders.sort()
            for file in sorted(files):
                path = Path(directory) / file
                if not path.is_file() or path.is_symlink():
                    continue
                name = path.relative_to(root).as_posix()
                yield ArchiveObject("file", str(root), name, name, path.stat().st_size)


class GcsLister:
    """The objects below a prefix of a bucket, with the generation each was listed at: the
    backfill reads, and quarantines, exactly that generation."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def list(self, source: ArchiveSource) -> Iterator[ArchiveObject]:
        for blob in self._client.list_blobs(source.location, prefix=source.prefix or None):
            name = str(blob.name)
            if name.endswith("/"):  # a folder placeholder, not a file
                continue
            yield ArchiveObject(
                scheme="gs",
                location=source.location,
                name=name,
                relative=name.removeprefix(source.prefix).lstrip("/"),
                size=int(blob.size or 0),
                generation=int(blob.generation or 0),
                content_type=str(blob.content_type or ""),
                metadata={str(k): str(v) for k, v in (blob.metadata or {}).items()},
            )


def lister_for(source: ArchiveSource, project_id: str) -> ArchiveLister:
    if source.scheme == "file":
        return FolderLister()
    from google.cloud import storage  # type: ignore[attr-defined]

    return GcsLister(storage.Client(project=project_id))
