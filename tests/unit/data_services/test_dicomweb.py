"""DICOMweb's pure part: the index of an instance, QIDO-RS matching and its DICOM JSON
answers, WADO-RS metadata without bulk data, frames (native and decoded), multipart."""

from __future__ import annotations

import io
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from functions.data_services import dicomweb
from functions.data_services.dicomweb import INSTANCE, SERIES, STUDY, Instance, Search

STUDY_A, STUDY_B = "1.2.826.0.1.3680043.10.1.1", "1.2.826.0.1.3680043.10.1.2"
SERIES_A1, SERIES_A2, SERIES_B1 = f"{STUDY_A}.1", f"{STUDY_A}.2", f"{STUDY_B}.1"


def dataset(
    study: str, series: str, number: int, *, modality: str = "CT", frames: int = 1,
    date: str = "20240102", rows: int = 2, columns: int = 3,
) -> Dataset:  # fmt: skip
    """A small anonymized-looking instance with 16-bit frames whose bytes say their number."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.2")
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = UID(f"{series}.{number}")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.StudyDate, ds.StudyTime, ds.Modality = date, "101500", modality
    ds.PatientID, ds.PatientName = "pseudo-7", "Anon^Patient"
    ds.SeriesNumber, ds.InstanceNumber = int(series.rsplit(".", 1)[1]), number
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = b"".join(bytes([f]) * (rows * columns * 2) for f in range(1, frames + 1))
    return ds


def encoded(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def sample_file(name: str) -> str:
    return str(get_testdata_file(name))


def indexed(ds: Dataset, name: str = "x.dcm") -> Instance:
    """As the door indexes it: the header read back from the stored bytes."""
    header = pydicom.dcmread(io.BytesIO(encoded(ds)), stop_before_pixels=True)
    return Instance.of(dicomweb.index_entry(header, f"gs://anonymized/{name}", 10))


@pytest.fixture
def instances() -> list[Instance]:
    return [
        indexed(dataset(STUDY_A, SERIES_A1, 2)),
        indexed(dataset(STUDY_A, SERIES_A1, 1)),
        indexed(dataset(STUDY_A, SERIES_A2, 1, modality="MR")),
        indexed(dataset(STUDY_B, SERIES_B1, 1, date="20250101")),
    ]


def search(level: str, instances: list[Instance], **params: str | list[str]) -> Any:
    given = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    return dicomweb.search(level, instances, Search.of(given))


def uids(found: Any, tag: str) -> list[str]:
    return [item[tag]["Value"][0] for item in found.items]


def test_the_index_keeps_what_a_search_needs_and_no_pixel_data() -> None:
    entry = dicomweb.index_entry(
        pydicom.dcmread(io.BytesIO(encoded(dataset(STUDY_A, SERIES_A1, 1))), stop_before_pixels=True),
        "gs://b/o.dcm", 123,
    )  # fmt: skip
    assert entry["uri"] == "gs://b/o.dcm" and entry["size"] == 123
    values = entry["values"]
    assert values["StudyInstanceUID"] == STUDY_A and values["SeriesInstanceUID"] == SERIES_A1
    assert values["TransferSyntaxUID"] == ExplicitVRLittleEndian
    assert values["PatientName"] == "Anon^Patient"
    assert "PixelData" not in values and all(isinstance(v, str) for v in values.values())


def test_studies_answer_the_study_attributes_and_the_counts(instances: list[Instance]) -> None:
    found = search(STUDY, instances)
    assert uids(found, "0020000D") == [STUDY_A, STUDY_B]  # by study date
    first = found.items[0]
    assert first["00080061"] == {"vr": "CS", "Value": ["CT", "MR"]}  # ModalitiesInStudy
    assert first["00201206"]["Value"] == [2] and first["00201208"]["Value"] == [3]
    assert first["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Anon^Patient"}]}
    assert "00080018" not in first and "0020000E" not in first  # no instance, no series
    assert list(first) == sorted(first)  # tags in order (PS3.18 F.2.1)


def test_matching_keys_of_each_level(instances: list[Instance]) -> None:
    assert uids(search(STUDY, instances, StudyInstanceUID=STUDY_B), "0020000D") == [STUDY_B]
    # A UID list, as one value or the key repeated.
    both = f"{STUDY_A},{STUDY_B}"
    assert len(search(STUDY, instances, StudyInstanceUID=both).items) == 2
    assert len(search(STUDY, instances, StudyInstanceUID=[STUDY_A, STUDY_B]).items) == 2
    # Modality of a study is any of its series'.
    assert uids(search(STUDY, instances, Modality="MR"), "0020000D") == [STUDY_A]
    assert uids(search(SERIES, instances, Modality="MR"), "0020000E") == [SERIES_A2]
    # Ranges, wildcards (names case-insensitive), tags instead of keywords.
    assert uids(search(STUDY, instances, StudyDate="20250101-"), "0020000D") == [STUDY_B]
    assert len(search(STUDY, instances, PatientName="anon*").items) == 2
    assert uids(search(STUDY, instances, **{"0020000D": STUDY_A}), "0020000D") == [STUDY_A]
    # An attribute no instance holds: a value matches nothing, an empty one everything.
    assert search(STUDY, instances, AccessionNumber="A1").items == []
    assert len(search(STUDY, instances, AccessionNumber="").items) == 2
    # A key of a lower level is not a study's to match.
    assert len(search(STUDY, instances, SOPInstanceUID="nothing").items) == 2


def test_series_and_instances_within_the_path(instances: list[Instance]) -> None:
    found = dicomweb.search(SERIES, instances, Search.of({}), study=STUDY_A)
    assert uids(found, "0020000E") == [SERIES_A1, SERIES_A2]
    assert found.items[0]["00201209"]["Value"] == [2]  # NumberOfSeriesRelatedInstances
    found = dicomweb.search(INSTANCE, instances, Search.of({}), study=STUDY_A, series=SERIES_A1)
    assert uids(found, "00080018") == [f"{SERIES_A1}.1", f"{SERIES_A1}.2"]  # InstanceNumber
    assert found.items[0]["00200013"] == {"vr": "IS", "Value": [1]}
    assert found.items[0]["00280010"] == {"vr": "US", "Value": [2]}


def test_limit_offset_and_includefield(instances: list[Instance]) -> None:
    page = search(INSTANCE, instances, limit="2", offset="1")
    assert len(page.items) == 2 and page.more
    assert not search(INSTANCE, instances, limit="2", offset="2").more
    plain = search(SERIES, instances).items[0]
    assert "0020000D" in plain and "00280004" not in plain
    included = search(SERIES, instances, includefield="PhotometricInterpretation").items[0]
    assert included["00280004"]["Value"] == ["MONOCHROME2"]
    everything = search(INSTANCE, instances, includefield="all").items[0]
    assert "00100020" in everything and "00020010" not in everything


def test_unsupported_keys_are_ignored_and_named_bad_windows_refused() -> None:
    query = Search.of({"PatientWeight": ["70"], "fuzzymatching": ["true"]})
    assert query.ignored == ("PatientWeight",) and query.matching == {}
    for key, value in (("limit", "0"), ("limit", "x"), ("offset", "-1")):
        with pytest.raises(dicomweb.DicomwebError) as refused:
            Search.of({key: [value]})
        assert refused.value.status == 400 and refused.value.field == key
    assert Search.of({"limit": ["5000"]}).limit == dicomweb.MAX_RESULTS


def test_metadata_leaves_bulk_data_out() -> None:
    ds = dataset(STUDY_A, SERIES_A1, 1)
    ds.add_new(0x00291010, "OB", b"\0" * 5000)  # a private blob: bulk data too
    ds.add_new(0x00291011, "OB", b"\1\2")  # small: inline
    answer = dicomweb.metadata_json(ds)
    assert "7FE00010" not in answer and "00291010" not in answer
    assert answer["00291011"]["InlineBinary"] == "AQI="
    assert answer["00080018"]["Value"] == [f"{SERIES_A1}.1"]
    assert answer["00020010"]["Value"] == [ExplicitVRLittleEndian]
    assert pydicom.dataset.Dataset.from_json(answer).SOPInstanceUID == f"{SERIES_A1}.1"


def test_native_frames_are_cut_from_the_pixel_data() -> None:
    ds = dataset(STUDY_A, SERIES_A1, 1, frames=3)
    parts = dicomweb.frames(ds, dicomweb.frame_numbers("3,1"))
    assert parts == [b"\3" * 12, b"\1" * 12]
    with pytest.raises(dicomweb.DicomwebError) as missing:
        dicomweb.frames(ds, [4])
    assert missing.value.status == 404
    for bad in ("0", "a", "1,,2", "-1"):
        with pytest.raises(dicomweb.DicomwebError):
            dicomweb.frame_numbers(bad)


def test_compressed_frames_are_decoded() -> None:
    compressed = pydicom.dcmread(sample_file("SC_rgb_rle_2frame.dcm"))
    native = pydicom.dcmread(sample_file("SC_rgb_2frame.dcm"))
    assert compressed.file_meta.TransferSyntaxUID.is_encapsulated
    (second,) = dicomweb.frames(compressed, [2])
    # The same pixels as the uncompressed file's second frame.
    assert second == native.pixel_array[1].tobytes()
    assert len(second) == native.Rows * native.Columns * 3


def test_multipart_frames_each_part() -> None:
    body = b"".join(dicomweb.multipart("b0", "application/dicom", [[b"ab", b"c"], [b"d"]]))
    assert body == (
        b"--b0\r\nContent-Type: application/dicom\r\n\r\nabc"
        b"\r\n--b0\r\nContent-Type: application/dicom\r\n\r\nd\r\n--b0--\r\n"
    )
    assert dicomweb.multipart_type("application/dicom", "b0") == (
        'multipart/related; type="application/dicom"; boundary=b0'
    )
    assert b"".join(dicomweb.multipart("b0", "x/y", [])) == b"--b0--\r\n"


def test_a_real_file_indexes_and_answers() -> None:
    ds = pydicom.dcmread(sample_file("CT_small.dcm"), stop_before_pixels=True)
    instance = Instance.of(dicomweb.index_entry(ds, "gs://b/ct.dcm", 1))
    found = dicomweb.search(
        INSTANCE, [instance], Search.of({"SOPInstanceUID": [ds.SOPInstanceUID]})
    )
    assert uids(found, "00080018") == [ds.SOPInstanceUID]
    assert uids(found, "0020000D") == [ds.StudyInstanceUID]
