"""DICOMweb over a delivered dataset, the pure part (docs/dicomweb.md): no store, no bucket.

- The index: per anonymized instance, the few attributes QIDO-RS searches and answers,
  taken once from its header (`index_entry`) and kept as plain strings, so a search never
  opens an object.
- QIDO-RS (PS3.18 10.6): matching on those attributes (single value, UID list, `*`/`?`
  wildcards, date and time ranges; PS3.4 C.2.2.2), then the answer of each level in the
  DICOM JSON model (PS3.18 F.2), with `includefield`, `limit` and `offset`.
- WADO-RS (PS3.18 10.4): the metadata of an instance in the DICOM JSON model without its
  bulk data, the frames of an instance as uncompressed bytes, and the multipart/related
  framing of the answers (RFC 2387).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID

STUDY, SERIES, INSTANCE = "study", "series", "instance"
MAX_RESULTS = 1_000  # matches answered at most per search (PS3.18 8.3.4.4: a Warning says so)
MAX_FRAMES = 1_000  # frame numbers one request may name
BULK_THRESHOLD = 1_024  # binary values longer than this are bulk data, left out of metadata

# What each level answers (PS3.18 Table 10.6.3-3/-4/-5, without what a de-identified,
# URL-less answer cannot hold: RetrieveURL, the timezone offset); a study also answers the
# counts and modalities computed from its instances.
STUDY_FIELDS = (
    "StudyDate", "StudyTime", "AccessionNumber", "ReferringPhysicianName", "PatientName",
    "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID",
    "StudyDescription",
)  # fmt: skip
SERIES_FIELDS = ("Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber")
INSTANCE_FIELDS = (
    "SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns", "NumberOfFrames",
    "BitsAllocated",
)  # fmt: skip
# Kept in the index though no level answers them by default: `includefield` and the frames.
EXTRA_FIELDS = (
    "BodyPartExamined", "SeriesDate", "SeriesTime", "SamplesPerPixel", "PhotometricInterpretation",
)  # fmt: skip
INDEXED = (*STUDY_FIELDS, *SERIES_FIELDS, *INSTANCE_FIELDS, *EXTRA_FIELDS)
TRANSFER_SYNTAX = "TransferSyntaxUID"  # of the file meta, also in the index
# The keys a search may match on, besides limit, offset, includefield and fuzzymatching.
MATCHING_KEYS = (
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "Modality",
    "ModalitiesInStudy", "StudyDate", "StudyTime", "AccessionNumber", "PatientID",
    "PatientName", "StudyID", "StudyDescription", "SeriesDescription", "SeriesNumber",
    "InstanceNumber",
)  # fmt: skip
_LEVEL_FIELDS = {
    STUDY: STUDY_FIELDS,
    SERIES: (*SERIES_FIELDS, "StudyInstanceUID"),
    INSTANCE: (*INSTANCE_FIELDS, "StudyInstanceUID", "SeriesInstanceUID"),
}
_COMPUTED = ("ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
             "NumberOfSeriesRelatedInstances")  # fmt: skip
_NUMBERS = {"IS": int, "US": int, "UL": int, "SS": int, "SL": int, "DS": float}
# Uncompressed transfer syntaxes whose Pixel Data is the frames, little endian, back to back
# (deflate is undone when the object is read).
NATIVE = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"})


class DicomwebError(Exception):
    """A request the DICOMweb answer refuses: `status` and `reason` as the door answers."""

    def __init__(self, status: int, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.detail, self.field = status, reason, detail, field


# -- the index -------------------------------------------------------------------------------
def _text(element: DataElement) -> str:
    value = element.value
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def index_entry(dataset: Dataset, uri: str, size: int) -> dict[str, Any]:
    """The searchable attributes of one instance (its header is enough) and where it is."""
    values: dict[str, str] = {}
    for keyword in INDEXED:
        element = dataset.data_element(keyword) if keyword in dataset else None
        if element is not None and element.VR != "SQ":
            text = _text(element)
            if text:
                values[keyword] = text
    meta = getattr(dataset, "file_meta", None)
    syntax = str(getattr(meta, TRANSFER_SYNTAX, "") or "")
    if syntax:
        values[TRANSFER_SYNTAX] = syntax
    return {"uri": uri, "size": size, "values": values}


@dataclass(frozen=True)
class Instance:
    """One indexed instance: its attributes (keyword -> DICOM string) and its object."""

    values: Mapping[str, str]
    uri: str
    size: int

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> Instance:
        return cls(dict(entry["values"]), str(entry["uri"]), int(entry["size"]))

    @property
    def study(self) -> str:
        return self.values.get("StudyInstanceUID", "")

    @property
    def series(self) -> str:
        return self.values.get("SeriesInstanceUID", "")

    @property
    def sop(self) -> str:
        return self.values.get("SOPInstanceUID", "")

    @property
    def transfer_syntax(self) -> str:
        return self.values.get(TRANSFER_SYNTAX, "")


# -- QIDO-RS ---------------------------------------------------------------------------------
def _keyword(key: str) -> str | None:
    """A search key by keyword or by tag (`0020000D`, `(0020,000D)`), as its keyword."""
    if key in MATCHING_KEYS:
        return key
    digits = re.sub(r"[^0-9A-Fa-f]", "", key)
    if len(digits) == 8:
        keyword = keyword_for_tag(int(digits, 16))
        return keyword if keyword in MATCHING_KEYS else None
    return None


@dataclass(frozen=True)
class Search:
    """A QIDO-RS query: the matching keys given, what to add to the answer, the window."""

    matching: Mapping[str, str]
    include: frozenset[str]  # keywords; "all" for everything the index holds
    limit: int
    offset: int
    ignored: tuple[str, ...] = ()  # keys this search does not match on (a Warning names them)

    @classmethod
    def of(cls, params: Mapping[str, Sequence[str]]) -> Search:
        """From the query parameters (each possibly repeated). A key this index cannot
        match on is ignored and named in `ignored`, as PS3.18 8.3.4.1 allows."""
        matching: dict[str, str] = {}
        include: set[str] = set()
        ignored: list[str] = []
        limit, offset = MAX_RESULTS, 0
        for key, values in params.items():
            if key == "limit":
                limit = _whole(values[-1], "limit", 1, MAX_RESULTS)
            elif key == "offset":
                offset = _whole(values[-1], "offset", 0, 10**9)
            elif key == "includefield":
                for value in values:
                    for name in value.split(","):
                        found = "all" if name.strip() == "all" else _included(name.strip())
                        if found:
                            include.add(found)
            elif key == "fuzzymatching":
                continue  # PS3.18 8.3.4.5: not supported, so every match is exact
            elif (keyword := _keyword(key)) is not None:
                # Repeated keys are one list of values (a UID list for UIDs).
                matching[keyword] = ",".join(v for v in values)
            else:
                ignored.append(key)
        return cls(matching, frozenset(include), limit, offset, tuple(ignored))


def _whole(raw: str, name: str, low: int, high: int) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not low <= int(raw):
        raise DicomwebError(400, f"invalid_{name}", f"{name} is a whole number from {low}", name)
    return min(int(raw), high)


def _included(name: str) -> str | None:
    if tag_for_keyword(name) is not None:
        return name
    digits = re.sub(r"[^0-9A-Fa-f]", "", name)
    if len(digits) != 8:
        return None
    return keyword_for_tag(int(digits, 16)) or None


def _vr(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    return str(dictionary_VR(tag)) if tag is not None else "UN"


def _matches_one(wanted: str, value: str, vr: str) -> bool:  # noqa: PLR0911 (one per rule)
    """PS3.4 C.2.2.2: one key against one stored value (an empty key matches anything)."""
    if wanted == "":
        return True
    if vr == "UI":
        return value in {u.strip() for u in re.split(r"[,\\]", wanted) if u.strip()}
    if vr in ("DA", "TM", "DT") and "-" in wanted:
        low, _, high = wanted.partition("-")
        return bool(value) and (not low or value >= low) and (not high or value <= high)
    if "*" in wanted or "?" in wanted:
        pattern = fnmatch.translate(wanted.replace("[", "[[]"))
        flags = re.IGNORECASE if vr == "PN" else 0
        return re.match(pattern, value, flags) is not None
    if vr in _NUMBERS:
        try:
            return float(value) == float(wanted)
        except ValueError:
            return False
    if vr == "PN":
        return value.casefold() == wanted.casefold()
    return value == wanted


# The keys each level matches on (PS3.18 10.6.1.2.1: a search of series or instances may
# also match on the attributes of their study); a key of a lower level is ignored.
STUDY_KEYS = frozenset({
    "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "PatientID",
    "PatientName", "StudyID", "StudyDescription",
})  # fmt: skip
SERIES_KEYS = frozenset({"SeriesInstanceUID", "Modality", "SeriesDescription", "SeriesNumber"})
INSTANCE_KEYS = frozenset({"SOPInstanceUID", "SOPClassUID", "InstanceNumber"})
_KEYS_OF_LEVEL = {
    STUDY: STUDY_KEYS | {"ModalitiesInStudy"},
    SERIES: STUDY_KEYS | SERIES_KEYS,
    INSTANCE: STUDY_KEYS | SERIES_KEYS | INSTANCE_KEYS,
}


def matches(search: Search, level: str, values: Mapping[str, str]) -> bool:
    """Whether the attributes of one study, series or instance match every key its level
    takes. An attribute the instance does not hold (de-identification removed it) is empty:
    a key with a value matches nothing there, an empty key matches it (universal match)."""
    for keyword, wanted in search.matching.items():
        if level == STUDY and keyword == "Modality":
            keyword = "ModalitiesInStudy"  # noqa: PLW2901 (a study's modalities are its series')
        if keyword not in _KEYS_OF_LEVEL[level]:
            continue
        value = values.get(keyword, "")
        vr = _vr(keyword)
        if not any(_matches_one(wanted, v, vr) for v in value.split("\\")):
            return False
    return True


@dataclass(frozen=True)
class Found:
    """The answer of a search: its page of DICOM JSON objects and whether more matched."""

    items: list[dict[str, Any]]
    more: bool


def _level_values(level: str, members: Sequence[Instance]) -> dict[str, str]:
    """The attributes of a study or a series from its instances (the first instance's, in
    index order, for the study's or series' own; the counts computed)."""
    first = dict(members[0].values)
    if level == STUDY:
        first["ModalitiesInStudy"] = "\\".join(
            sorted({m.values["Modality"] for m in members if m.values.get("Modality")})
        )
        first["NumberOfStudyRelatedSeries"] = str(len({m.series for m in members}))
        first["NumberOfStudyRelatedInstances"] = str(len(members))
        for keyword in (*SERIES_FIELDS, *INSTANCE_FIELDS):
            first.pop(keyword, None)  # a study's match is on its own attributes
    elif level == SERIES:
        first["NumberOfSeriesRelatedInstances"] = str(len(members))
        for keyword in INSTANCE_FIELDS:
            first.pop(keyword, None)
    return first


def _order(instance: Instance) -> tuple[int, str]:
    number = instance.values.get("InstanceNumber", "")
    return (int(number) if number.lstrip("-").isdigit() else 0, instance.sop)


def _series_order(values: Mapping[str, str]) -> tuple[int, str]:
    number = values.get("SeriesNumber", "")
    return (int(number) if number.lstrip("-").isdigit() else 0, values["SeriesInstanceUID"])


def search(
    level: str,
    instances: Iterable[Instance],
    query: Search,
    *,
    study: str | None = None,
    series: str | None = None,
) -> Found:
    """QIDO-RS at `level` over the index, within a study (and series) when the path names
    them: the matching entities in a stable order, `offset` skipped, `limit` at most."""
    within = [
        i for i in instances
        if (study is None or i.study == study) and (series is None or i.series == series)
    ]  # fmt: skip
    entities: list[dict[str, str]]
    if level == INSTANCE:
        entities = [dict(i.values) for i in sorted(within, key=_order)]
    else:
        key = (lambda i: i.study) if level == STUDY else (lambda i: (i.study, i.series))
        groups: dict[Any, list[Instance]] = {}
        for instance in within:
            groups.setdefault(key(instance), []).append(instance)
        entities = [_level_values(level, members) for members in groups.values()]
        if level == STUDY:
            entities.sort(key=lambda v: (v.get("StudyDate", ""), v["StudyInstanceUID"]))
        else:
            entities.sort(key=lambda v: (v["StudyInstanceUID"], *_series_order(v)))
    matched = [e for e in entities if matches(query, level, e)]
    window = matched[query.offset : query.offset + query.limit]
    items = [answer_of(level, values, query.include) for values in window]
    return Found(items, more=query.offset + len(window) < len(matched))


def answer_of(level: str, values: Mapping[str, str], include: Iterable[str]) -> dict[str, Any]:
    """One study, series or instance in the DICOM JSON model: its level's attributes, the
    ones `includefield` names, and the computed ones of its level."""
    chosen = set(_LEVEL_FIELDS[level])
    chosen |= {name for name in _COMPUTED if name in values}
    wanted = set(include)
    chosen |= set(values) - {TRANSFER_SYNTAX} if "all" in wanted else wanted & set(values)
    return attributes_json({k: values.get(k, "") for k in chosen})


def attributes_json(values: Mapping[str, str]) -> dict[str, Any]:
    """Keyword -> DICOM string, as DICOM JSON (PS3.18 F.2.2): tags in order, numbers as
    numbers, names as {"Alphabetic"}, an empty attribute with its VR and no Value."""
    answer: dict[str, Any] = {}
    for keyword in sorted(values, key=lambda k: tag_for_keyword(k) or 0):
        tag = tag_for_keyword(keyword)
        if tag is None:
            continue
        vr = _vr(keyword)
        text = values[keyword]
        element: dict[str, Any] = {"vr": vr}
        if text:
            parts = text.split("\\")
            if vr in _NUMBERS:
                element["Value"] = [_number(vr, p) for p in parts]
            elif vr == "PN":
                element["Value"] = [{"Alphabetic": p} for p in parts]
            else:
                element["Value"] = parts
        answer[f"{tag:08X}"] = element
    return answer


def _number(vr: str, text: str) -> int | float | str:
    try:
        number: int | float = _NUMBERS[vr](text)
    except ValueError:
        return text  # a malformed value is answered as it is stored, not dropped
    return number


# -- WADO-RS ---------------------------------------------------------------------------------
def _without_bulk(dataset: Dataset) -> Dataset:
    """A copy of the header without any binary value over BULK_THRESHOLD (pixel data,
    overlays, icons' pixels), sequences included."""
    kept = Dataset()
    for element in dataset:
        if element.VR == "SQ":
            items = [_without_bulk(item) for item in element.value]
            kept.add_new(element.tag, "SQ", items)
            continue
        if element.tag == 0x7FE00010:
            continue
        value = element.value
        if isinstance(value, bytes | bytearray) and len(value) > BULK_THRESHOLD:
            continue
        kept.add(element)
    return kept


def metadata_json(dataset: Dataset) -> dict[str, Any]:
    """WADO-RS metadata of one instance (PS3.18 10.4.1.1.2): its attributes in the DICOM
    JSON model with bulk data left out (read with stop_before_pixels, it has no pixels)."""
    answer: dict[str, Any] = _without_bulk(dataset).to_json_dict(bulk_data_threshold=BULK_THRESHOLD)
    syntax = str(getattr(getattr(dataset, "file_meta", None), TRANSFER_SYNTAX, "") or "")
    if syntax:  # the file meta is no part of the dataset; viewers read it from here
        answer["00020010"] = {"vr": "UI", "Value": [syntax]}
    return answer


def frame_numbers(text: str) -> list[int]:
    """`1,3,5`: frame numbers from 1, as PS3.18 10.4.1.1.4 names them."""
    numbers: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        if not (part.isascii() and part.isdigit() and len(part) <= 6) or int(part) < 1:
            raise DicomwebError(400, "invalid_frames", "frames are numbers from 1, comma-separated")
        numbers.append(int(part))
    if len(numbers) > MAX_FRAMES:
        raise DicomwebError(400, "invalid_frames", f"at most {MAX_FRAMES} frames a request")
    return numbers


def frames(dataset: Dataset, numbers: Sequence[int]) -> list[bytes]:
    """The frames named, uncompressed (PS3.18 8.7.3.5.2: application/octet-stream, little
    endian, as the attributes describe them). Native Pixel Data is cut into frames; an
    encapsulated one (JPEG, JPEG 2000, RLE, ...) is decoded first, its colour kept as the
    stored Photometric Interpretation says (no YBR to RGB conversion)."""
    if "PixelData" not in dataset:
        raise DicomwebError(404, "frames_not_found", "the instance has no pixel data")
    count = int(dataset.get("NumberOfFrames") or 1)
    if any(n > count for n in numbers):
        raise DicomwebError(404, "frames_not_found", f"the instance has {count} frames")
    bits = int(dataset.BitsAllocated)
    if bits % 8:
        raise DicomwebError(
            406, "frames_not_available", "frames of 1 bit are not served as octet streams"
        )
    syntax = UID(str(dataset.file_meta.TransferSyntaxUID))
    if syntax in NATIVE:
        length = int(dataset.Rows) * int(dataset.Columns) * int(dataset.SamplesPerPixel or 1)
        length *= bits // 8
        data: bytes = dataset.PixelData
        return [data[(n - 1) * length : n * length] for n in numbers]
    if not syntax.is_encapsulated:
        raise DicomwebError(
            406, "frames_not_available", f"frames of transfer syntax {syntax} are not served"
        )
    from pydicom.pixels.utils import pixel_array  # numpy and the decoders: only here

    try:
        return [pixel_array(dataset, index=n - 1, raw=True).tobytes() for n in numbers]
    except (NotImplementedError, RuntimeError, ValueError) as error:
        raise DicomwebError(
            406, "frames_not_decodable", f"frames of transfer syntax {syntax} cannot be decoded"
        ) from error


def multipart(boundary: str, media_type: str, parts: Iterable[Iterable[bytes]]) -> Iterator[bytes]:
    """multipart/related (RFC 2387) of `parts`, each a stream of bytes typed `media_type`,
    yielded piece by piece: the answer is never whole in memory."""
    opened = False
    for part in parts:
        lead = b"\r\n" if opened else b""
        opened = True
        yield lead + f"--{boundary}\r\nContent-Type: {media_type}\r\n\r\n".encode()
        yield from part
    yield (b"\r\n" if opened else b"") + f"--{boundary}--\r\n".encode()


def multipart_type(media_type: str, boundary: str) -> str:
    """The Content-Type of a multipart/related answer of `media_type` parts."""
    return f'multipart/related; type="{media_type}"; boundary={boundary}'
