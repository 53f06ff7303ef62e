"""Helpers shared by the de-identification tests (corpus, purpose-built datasets)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

KEY = b"unit-test-key-0123456789abcdef!!"
CENTER = "center-7"


def pydicom_corpus() -> list[Path]:
    """pydicom's own test files plus pydicom-data's, read from disk (never downloaded)."""
    base = Path(pydicom.__file__).parent / "data" / "test_files"
    files = [p for p in base.rglob("*") if p.is_file()]
    try:
        import data_store  # pydicom-data

        files += [p for p in (Path(data_store.__file__).parent / "data").glob("*") if p.is_file()]
    except ImportError:  # pragma: no cover - pydicom-data is a dev requirement
        pass
    return sorted(files)


def corpus_file(name: str) -> Path:
    matches = [p for p in pydicom_corpus() if p.name == name]
    assert matches, name
    return matches[0]


def minimal(**attrs: object) -> Dataset:
    """A small CT object with file meta; keyword attributes are added on top."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.1347.1.1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.1347.1.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.1347.1.3"
    ds.Modality = "CT"
    ds.PatientName = "PEREZ^LUCIA"
    ds.PatientID = "ID-778812"
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def to_bytes(ds: Dataset) -> bytes:
    fp = io.BytesIO()
    ds.save_as(fp, enforce_file_format=True)
    return fp.getvalue()


DCIODVFY = shutil.which("dciodvfy")
_VALUE = re.compile(r"<[^<>]*>")
_UID = re.compile(r"\b(?:\d+\.)+\d+\b|(?<=UID )\d+\b")


def dciodvfy_errors(path: Path) -> set[str]:
    """The errors dciodvfy (dicom3tools) reports, without the values they quote.

    Element and module names (<Name>) stay; quoted values (<1.2.3>, <20240101>) and UIDs
    go: a remapped UID or a shifted date is the same finding under another value.
    """
    assert DCIODVFY is not None
    done = subprocess.run(
        [DCIODVFY, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    lines = (done.stdout + done.stderr).splitlines()
    return {
        _UID.sub(
            "<uid>", _VALUE.sub(lambda m: m.group(0) if m.group(0)[1:2].isalpha() else "<>", line)
        )
        for line in lines
        if line.startswith("Error")
    }
