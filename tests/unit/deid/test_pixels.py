"""Burned-in text: found in the pixels, masked, verified, written back; fail closed.

Cases come from the burned-in corpus generator (small frames: OCR is the slow part), each
de-identified once per engine path and shared by the tests of this module. Outputs are
judged without the engine's detector: by the generator's ground truth (every planted box
painted over) and by a second OCR engine (Tesseract) when it is installed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_fragmented_frames
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from functions.ingestion.deid import Deidentifier, DeidResult, Rejection, pixel_step
from functions.ingestion.deid import engine as engine_module
from functions.ingestion.deid.element_tree import NeedsFullParser
from functions.ingestion.deid.pixels import CleaningMethod
from functions.ingestion.deid.pixels.masks import Mask
from infra.samples.burned_in import BurnedInCase, make_case, make_tomo_case
from tests.support.leak_checker import check_output, collect_identity, read_full

from .helpers import CENTER, KEY
from .pixel_checks import (
    TESSERACT,
    frames_of,
    identity_read,
    tesseract_text,
    text_mask,
    uncovered_boxes,
)

CASES = {
    "us-native-yes": {"syntax": ExplicitVRLittleEndian, "flag": "YES"},
    "us-implicit-absent": {"syntax": ImplicitVRLittleEndian, "flag": None},
    "us-jpeg-no": {"syntax": JPEGBaseline8Bit, "flag": "NO"},
    "sc-rle-no": {"kind": "screenshot", "syntax": RLELossless, "flag": "NO"},
    "sc-jpeg-absent": {"kind": "screenshot", "syntax": JPEGBaseline8Bit, "flag": None},
    "sc-j2k-yes": {"kind": "screenshot", "syntax": JPEG2000Lossless, "flag": "YES"},
    "us-jpegls-cine": {"syntax": JPEGLSLossless, "flag": "NO", "frames": 3},
}
BLANK = {
    "us-native-blank": {"syntax": ExplicitVRLittleEndian, "flag": None},
    "sc-jpeg-blank": {"kind": "screenshot", "syntax": JPEGBaseline8Bit, "flag": "NO"},
    "us-rle-blank": {"syntax": RLELossless, "flag": "NO"},
}


@dataclass(frozen=True)
class Cleaned:
    case: BurnedInCase
    result: DeidResult
    output: bytes


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise NeedsFullParser("forced by the test")


def _deidentify(case: BurnedInCase, path: str) -> Cleaned:
    with pytest.MonkeyPatch.context() as patch:
        if path == "full":
            patch.setattr(engine_module, "run_fast", _refuse)
        out = io.BytesIO()
        result = Deidentifier(KEY).deidentify(case.data, CENTER, out)
    return Cleaned(case, result, out.getvalue())


@pytest.fixture(scope="module")
def cleaned() -> dict[tuple[str, str], Cleaned]:
    """Every case through both engine paths, once for the whole module."""
    done = {}
    for seed, (name, kwargs) in enumerate({**CASES, **BLANK}.items(), start=100):
        case = make_case(seed, with_text=name not in BLANK, **kwargs)  # type: ignore[arg-type]
        for path in ("fast", "full"):
            done[name, path] = _deidentify(case, path)
    return done


def _each(cleaned: dict[tuple[str, str], Cleaned], names: dict[str, object]) -> Iterator[Cleaned]:
    for (name, _path), item in cleaned.items():
        if name in names:
            yield item


def test_text_bearing_images_are_released_with_every_planted_box_painted_over(
    cleaned: dict[tuple[str, str], Cleaned],
) -> None:
    for item in _each(cleaned, CASES):
        assert item.result.ok, (item.case.label, item.result.reason, item.result.detail)
        summary = item.result.pixel_cleaning
        assert summary is not None and summary.method is CleaningMethod.OCR_MASKED
        assert summary.verified and summary.regions_masked >= len(item.case.texts) // 2
        assert uncovered_boxes(item.case, item.output) == [], item.case.label
        # The header side is still checked by the independent header checker.
        ident = collect_identity(read_full(item.case.data))
        assert not check_output(item.output, ident), item.case.label


@pytest.mark.skipif(
    TESSERACT is None, reason="tesseract not installed (apt-get install tesseract-ocr)"
)
def test_a_second_ocr_engine_reads_the_planted_identity_before_and_nothing_after(
    cleaned: dict[tuple[str, str], Cleaned],
) -> None:
    read_before = 0
    for name in ("us-native-yes", "sc-rle-no"):
        item = cleaned[name, "fast"]
        read_before += len(identity_read(item.case, tesseract_text(frames_of(item.case.data)[0])))
        for frame in frames_of(item.output):
            assert identity_read(item.case, tesseract_text(frame)) == [], name
    assert read_before >= 4  # the check can see the planted text at all


def test_pixels_outside_the_masks_are_unchanged_and_masks_stay_near_the_text(
    cleaned: dict[tuple[str, str], Cleaned],
) -> None:
    for item in _each(cleaned, CASES):
        before, after = frames_of(item.case.data), frames_of(item.output)
        assert len(before) == len(after) == item.case.frames
        near_text = text_mask(item.case, before[0].shape, margin=12)
        for a, b in zip(before, after, strict=True):
            changed = a != b
            changed = changed.any(axis=2) if changed.ndim == 3 else changed
            # Every changed pixel was painted with the fill (black): nothing else moved.
            painted = b[changed].reshape(-1, *b.shape[2:])
            assert (painted == 0).all(), item.case.label
            assert changed[~near_text].mean() <= 0.03, item.case.label


def test_transfer_syntax_photometric_and_lengths_are_consistent(
    cleaned: dict[tuple[str, str], Cleaned],
) -> None:
    for item in _each(cleaned, CASES):
        ds = pydicom.dcmread(io.BytesIO(item.output))
        syntax = ds.file_meta.TransferSyntaxUID
        assert syntax == item.result.transfer_syntax
        source = pydicom.dcmread(io.BytesIO(item.case.data))
        frames = int(ds.get("NumberOfFrames", 1))
        if source.file_meta.TransferSyntaxUID.is_compressed:
            assert syntax == RLELossless
            fragments = list(generate_fragmented_frames(ds.PixelData, number_of_frames=frames))
            assert len(fragments) == frames
        else:
            assert syntax == source.file_meta.TransferSyntaxUID
            expected = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8 * frames
            assert len(ds.PixelData) == expected + expected % 2
        if ds.SamplesPerPixel == 3:
            assert ds.PlanarConfiguration == 0
            if source.file_meta.TransferSyntaxUID.is_compressed:
                assert ds.PhotometricInterpretation == "RGB"
        assert ds.BurnedInAnnotation == "NO"
        codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
        assert "113101" in codes  # Clean Pixel Data Option
        if source.file_meta.TransferSyntaxUID == JPEGBaseline8Bit:
            assert ds.LossyImageCompression == "01"
        assert ds.pixel_array.shape[0] == (frames if frames > 1 else ds.Rows)


def test_images_without_text_keep_their_pixel_bytes(
    cleaned: dict[tuple[str, str], Cleaned],
) -> None:
    for item in _each(cleaned, BLANK):
        assert item.result.ok, (item.case.label, item.result.reason)
        summary = item.result.pixel_cleaning
        assert summary is not None and summary.method is CleaningMethod.OCR_NO_TEXT
        before = pydicom.dcmread(io.BytesIO(item.case.data))
        after = pydicom.dcmread(io.BytesIO(item.output))
        assert after.PixelData == before.PixelData
        assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
        assert after.BurnedInAnnotation == "NO"


def test_both_paths_give_the_same_pixels_and_summary(
    cleaned: dict[tuple[str, str], Cleaned],
) -> None:
    for name in {**CASES, **BLANK}:
        fast, full = cleaned[name, "fast"], cleaned[name, "full"]
        assert fast.result.pixel_cleaning == full.result.pixel_cleaning, name
        a = pydicom.dcmread(io.BytesIO(fast.output))
        b = pydicom.dcmread(io.BytesIO(full.output))
        assert a.PixelData == b.PixelData, name
        assert sorted(e.tag for e in a) == sorted(e.tag for e in b), name
        assert fast.result.transfer_syntax == full.result.transfer_syntax


def test_result_tells_the_catalogue_what_was_cleaned(
    cleaned: dict[tuple[str, str], Cleaned],
) -> None:
    record = cleaned["us-jpegls-cine", "fast"].result.as_dict()
    summary = record["pixel_cleaning"]
    assert isinstance(summary, dict)
    assert summary["method"] == "ocr_masked" and summary["verified"] is True
    assert summary["frames"] == 3 and summary["pixels_rewritten"] is True
    assert summary["source_transfer_syntax"] == str(JPEGLSLossless)
    assert "clean_pixel_data" in record["provenance"]["options"]  # type: ignore[index]
    assert cleaned["us-rle-blank", "fast"].result.as_dict()["pixel_cleaning"]["method"] == (  # type: ignore[index]
        "ocr_no_text"
    )


def test_a_still_cine_is_read_once_and_masked_in_every_frame() -> None:
    case = make_case(7, syntax=RLELossless, frames=4, still=True)
    item = _deidentify(case, "fast")
    assert item.result.ok
    summary = item.result.pixel_cleaning
    assert summary is not None and summary.frames == 4 and summary.frames_checked == 1
    assert uncovered_boxes(case, item.output) == []


def test_flag_yes_without_any_text_found_goes_to_review() -> None:
    item = _deidentify(make_case(8, flag="YES", with_text=False), "fast")
    assert item.result.reason is Rejection.BURNED_IN_ANNOTATION
    assert item.result.quarantined and item.output == b""


def test_text_left_after_masking_fails_closed_naming_the_attribute_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = make_case(9, flag="NO")

    def paint_nothing(self: Mask, frame: object, fill: object) -> None:
        return None

    monkeypatch.setattr(Mask, "apply", paint_nothing)
    item = _deidentify(case, "fast")
    assert item.result.reason is Rejection.PIXEL_TEXT_REMAINS
    assert item.result.quarantined and item.output == b""
    for value in case.identity.values():
        for word in value.replace("^", " ").split():
            assert word not in item.result.detail


def test_without_a_detector_risky_images_are_quarantined_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pixel_step, "available", lambda: False)
    item = _deidentify(make_case(10, flag=None), "fast")
    assert item.result.reason is Rejection.BURNED_IN_RISK
    item = _deidentify(make_case(11, flag="YES"), "full")
    assert item.result.reason is Rejection.BURNED_IN_ANNOTATION


def test_undecodable_pixels_go_to_review() -> None:
    case = make_case(12, syntax=ExplicitVRLittleEndian)
    ds = pydicom.dcmread(io.BytesIO(case.data))
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]  # fewer bytes than Rows x Columns
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    result = Deidentifier(KEY).deidentify(buffer.getvalue(), CENTER, io.BytesIO())
    assert result.reason is Rejection.PIXEL_UNDECODABLE and result.quarantined


def test_masks_cover_boxes_with_a_margin_and_count_new_ones_only() -> None:
    from functions.ingestion.deid.pixels.masks import Box

    mask = Mask(width=50, height=40)
    assert mask.add([Box(10, 10, 20, 15)]) == 1
    assert mask.add([Box(11, 11, 19, 14)]) == 0  # already covered
    frame = np.full((40, 50), 9, dtype=np.uint8)
    mask.apply(frame, np.array(0, dtype=np.uint8))
    assert (frame[6:19, 6:24] == 0).all() and frame[5, 5] == 9 and frame[19, 24] == 9


REAL_FILES = [
    "US1_UNCR.dcm",  # ultrasound with its device's text
    "gdcm-US-ALOKA-16.dcm",
    "SC_rgb_rle_2frame.dcm",
    "SC_ybr_full_422_uncompressed.dcm",  # sub-sampled native colour
    "SC_rgb_small_odd_big_endian.dcm",
    "SC_rgb_jpeg.dcm",  # implicit VR data under an explicit syntax: pydicom path
    "image_dfl.dcm",  # deflated: read whole, pydicom path
    "examples_palette.dcm",
]


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_files_are_cleaned_or_reviewed_the_same_way_on_both_paths(name: str) -> None:
    from .helpers import corpus_file

    data = corpus_file(name).read_bytes()
    case = BurnedInCase(name, data, "real", "", 1, None, ())
    fast, full = _deidentify(case, "fast"), _deidentify(case, "full")
    assert fast.result.reason == full.result.reason, name
    assert fast.result.ok or fast.result.quarantined, (name, fast.result.reason)
    assert fast.result.pixel_cleaning == full.result.pixel_cleaning, name
    if not fast.result.ok:
        return
    a = pydicom.dcmread(io.BytesIO(fast.output))
    b = pydicom.dcmread(io.BytesIO(full.output))
    assert a.PixelData == b.PixelData
    assert a.pixel_array.shape == pydicom.dcmread(io.BytesIO(data)).pixel_array.shape
    summary = fast.result.pixel_cleaning
    assert summary is not None
    if summary.method is CleaningMethod.OCR_NO_TEXT:
        assert a.PixelData == pydicom.dcmread(io.BytesIO(data)).PixelData


def _changed_outside_text(case: BurnedInCase, output: bytes) -> float:
    """Share of the pixels outside the planted boxes (+ the mask margin) that changed."""
    before, after = frames_of(case.data), frames_of(output)
    outside = ~text_mask(case, before[0].shape, margin=4)
    changed = 0
    for a, b in zip(before, after, strict=True):
        diff = a != b
        diff = diff.any(axis=2) if diff.ndim == 3 else diff
        changed += int(diff[outside].sum())
    return changed / (int(outside.sum()) * len(before))


# The benchmark's sizes (benchmarks/deid_pixels.py): 480x640 pictures, 512x512 CT and
# 256x256 MR slices with six lines of text each.
ONE_PERCENT = {
    "us-jpeg": {"syntax": JPEGBaseline8Bit, "rows": 480, "cols": 640},
    "us-native-cine": {"syntax": ExplicitVRLittleEndian, "frames": 3, "rows": 480, "cols": 640},
    "sc-rle": {"kind": "screenshot", "syntax": RLELossless, "rows": 480, "cols": 640},
    "sc-jpeg": {"kind": "screenshot", "syntax": JPEGBaseline8Bit, "rows": 480, "cols": 640},
    "sc-j2k": {"kind": "screenshot", "syntax": JPEG2000Lossless, "rows": 480, "cols": 640},
}
TOMO_ONE_PERCENT = {
    "ct-native": {"kind": "ct", "syntax": ExplicitVRLittleEndian, "rows": 512, "cols": 512},
    "mr-native": {"kind": "mr", "syntax": ExplicitVRLittleEndian, "rows": 256, "cols": 256},
    "mr-rle": {"kind": "mr", "syntax": RLELossless, "rows": 256, "cols": 256},
    "mr-jpegls": {"kind": "mr", "syntax": JPEGLSLossless, "rows": 256, "cols": 256},
}


@pytest.mark.parametrize("name", [*ONE_PERCENT, *TOMO_ONE_PERCENT])
def test_no_image_has_more_than_one_percent_of_its_pixels_changed_outside_its_text(
    name: str,
) -> None:
    # Masks hug the glyphs (pixels/ink.py), not the detector's padded boxes: on a 256x256
    # MR slice with six lines of scanner text those padded boxes painted 4-6% of the rest.
    seed = 400 + [*ONE_PERCENT, *TOMO_ONE_PERCENT].index(name)
    if name in ONE_PERCENT:
        case = make_case(seed, **ONE_PERCENT[name])  # type: ignore[arg-type]
    else:
        case = make_tomo_case(seed, **TOMO_ONE_PERCENT[name])  # type: ignore[arg-type]
    item = _deidentify(case, "fast")
    assert item.result.ok, (name, item.result.reason)
    assert uncovered_boxes(case, item.output) == [], name
    assert _changed_outside_text(case, item.output) <= 0.01, name


# Cines at the benchmark's size: the overlay is read in the first frame only, the moving
# picture frame by frame (pixels/multiframe.py); lossy frames match within coding noise.
CINE_ONE_PERCENT = {
    "us-jpeg-cine": {"syntax": JPEGBaseline8Bit, "frames": 4, "rows": 480, "cols": 640},
    "sc-rle-cine": {
        "kind": "screenshot",
        "syntax": RLELossless,
        "frames": 4,
        "rows": 480,
        "cols": 640,
    },
}


@pytest.mark.parametrize("name", [*CINE_ONE_PERCENT])
def test_cines_are_cleaned_in_every_frame_within_one_percent_outside_their_text(name: str) -> None:
    seed = 430 + [*CINE_ONE_PERCENT].index(name)
    case = make_case(seed, **CINE_ONE_PERCENT[name])  # type: ignore[arg-type]
    item = _deidentify(case, "fast")
    assert item.result.ok, (name, item.result.reason)
    summary = item.result.pixel_cleaning
    assert summary is not None and summary.verified and summary.frames == 4
    assert uncovered_boxes(case, item.output) == [], name
    assert _changed_outside_text(case, item.output) <= 0.01, name
