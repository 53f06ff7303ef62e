"""The pixel screen: never clears a frame in which the OCR finds text; clears text-free ones.

Recall is judged against the OCR detector itself, frame by frame, on the generated
burned-in corpus (small frames: the OCR is the slow part). The cost of the screen is measured
in benchmarks/deid_screen.py, never here.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEGLSLossless, RLELossless

from functions.ingestion.deid import Deidentifier
from functions.ingestion.deid.pixels import CleaningMethod, clean_pixels, detector, screen
from functions.ingestion.deid.pixels.cleaner import _detect_in, read_geometry
from functions.ingestion.deid.pixels.frames import iter_frames, picture
from functions.ingestion.deid.pixels.masks import Box
from infra.samples.burned_in import BurnedInCase, make_case, make_tomo_case

from .helpers import CENTER, KEY, corpus_file
from .pixel_checks import uncovered_boxes

# Every kind and colour model, single and multi-frame, lossless and lossy.
SCREENED = [
    make_case(300, syntax=ExplicitVRLittleEndian, flag=None),
    make_case(301, syntax=JPEGBaseline8Bit, flag="NO"),
    make_case(302, kind="screenshot", syntax=RLELossless, flag="YES"),
    make_case(303, kind="screenshot", syntax=JPEGBaseline8Bit, flag=None),
    make_case(304, syntax=JPEGLSLossless, frames=3),
    make_case(305, kind="screenshot", syntax=ExplicitVRLittleEndian, frames=2),
    make_case(306, with_text=False),
    make_case(307, kind="screenshot", with_text=False),
    make_tomo_case(308, kind="ct", rows=320, cols=320),
    make_tomo_case(309, kind="mr", rows=256, cols=256),
    make_tomo_case(310, kind="ct", syntax=RLELossless, rows=320, cols=320),
]


def _clean(case: BurnedInCase) -> object:
    return clean_pixels(
        io.BytesIO(case.data),
        burned_in_flag=case.flag or "",
        identity=case.identity,
        implicit=False,
        little=True,
    )


def test_every_frame_in_which_the_ocr_finds_text_is_kept_and_read_by_the_screened_step() -> None:
    text_frames = 0
    for case in SCREENED:
        geometry = read_geometry(io.BytesIO(case.data))
        whole = Box(0, 0, geometry.columns, geometry.rows)
        for index, frame in enumerate(iter_frames(io.BytesIO(case.data), geometry)):
            if not _detect_in(frame, whole, geometry, screened=False, verified_whole=True):
                continue
            text_frames += 1
            assert screen.candidates(picture(frame, geometry)), (case.label, index)
            assert _detect_in(frame, whole, geometry, screened=True, verified_whole=True), (
                case.label,
                index,
            )
    assert text_frames >= 12  # the OCR does see the planted text: the check is not empty


@pytest.mark.parametrize("seed", [320, 321, 322])
@pytest.mark.parametrize("kind", ["ct", "mr"])
def test_text_free_ct_and_mr_slices_keep_their_pixel_bytes(kind: str, seed: int) -> None:
    size = 512 if kind == "ct" else 256
    case = make_tomo_case(seed, kind=kind, with_text=False, rows=size, cols=size)
    cleaned = _clean(case)
    assert cleaned.summary.method is CleaningMethod.OCR_NO_TEXT  # type: ignore[attr-defined]
    assert cleaned.payload is None  # type: ignore[attr-defined]
    # What the screen keeps of such a slice is small crops, not the frame.
    geometry = read_geometry(io.BytesIO(case.data))
    frame = next(iter_frames(io.BytesIO(case.data), geometry))
    kept = sum(b.width * b.height for b in screen.candidates(picture(frame, geometry)))
    assert kept <= 0.5 * size * size


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_RLE.dcm", "693_UNCI.dcm"])
def test_real_ct_and_mr_files_without_text_keep_their_pixel_bytes(name: str) -> None:
    data = corpus_file(name).read_bytes()
    cleaned = clean_pixels(
        io.BytesIO(data), burned_in_flag="", identity={}, implicit=False, little=True
    )
    assert cleaned.summary.method is CleaningMethod.OCR_NO_TEXT
    assert cleaned.payload is None


def test_flat_and_noise_frames_are_cleared() -> None:
    rng = np.random.default_rng(0)
    assert screen.candidates(np.zeros((256, 256), dtype=np.uint8)) == []
    noise = rng.normal(90, 4, (256, 256)).clip(0, 255).astype(np.uint8)
    assert screen.candidates(noise) == []
    disc = np.zeros((256, 256, 3), dtype=np.uint8)
    disc[64:192, 64:192] = (120, 110, 100)
    assert screen.candidates(disc) == []


def test_thin_faint_text_on_a_large_frame_is_kept() -> None:
    # From 512 px up the contrast map loses half its rows (the stronger of each pair): a
    # 1 px stroke of small, faint text must still pass the stroke threshold there.
    frame = np.full((512, 512), 40, dtype=np.uint8)
    cv2.putText(frame, "ID 4471", (300, 480), cv2.FONT_HERSHEY_PLAIN, 0.8, 80, 1, cv2.LINE_AA)
    (box,) = screen.candidates(frame)
    assert box.left <= 300 and box.top <= 470 and box.right >= 350 and box.bottom >= 482


@pytest.mark.parametrize("size", [1024, 2048])
def test_text_on_very_large_frames_is_kept(size: int) -> None:
    # 1024: too many possible pieces for 16-bit labels; 2048: downsampled before the top-hat.
    frame = np.full((size, size), 30, dtype=np.uint8)
    org = (size // 8, size - size // 16)
    cv2.putText(frame, "DOE^JANE 19580411", org, cv2.FONT_HERSHEY_SIMPLEX, size / 700, 220, 2)
    found = screen.candidates(frame)
    assert any(b.top <= org[1] - 10 and b.bottom >= org[1] and b.left <= org[0] for b in found)


def test_a_short_row_of_blobs_is_cleared_and_a_line_of_text_is_kept() -> None:
    # Three lung vessels in a row line up like letters; filled dots are not glyphs.
    frame = np.full((256, 256), 60, dtype=np.uint8)
    for x in (100, 116, 132):
        cv2.ellipse(frame, (x, 128), (4, 3), 0, 0, 360, 110, -1)
    assert screen.candidates(frame) == []
    cv2.putText(frame, "ABC 123", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 230, 1, cv2.LINE_AA)
    (box,) = screen.candidates(frame)
    assert box.top < 40 < box.bottom and box.right < 128


def test_a_faint_ring_is_cleared() -> None:
    # The spine's cortical ring: two arcs side by side, like a pair of glyphs, but faint.
    frame = np.full((512, 512), 100, dtype=np.uint8)
    cv2.ellipse(frame, (256, 300), (20, 24), 0, 0, 360, 140, 8)
    assert screen.candidates(frame) == []


def test_most_text_free_ct_slices_send_no_crop() -> None:
    kept = 0
    for seed in range(320, 336):
        case = make_tomo_case(seed, kind="ct", with_text=False, rows=512, cols=512)
        geometry = read_geometry(io.BytesIO(case.data))
        frame = next(iter_frames(io.BytesIO(case.data), geometry))
        kept += bool(screen.candidates(picture(frame, geometry)))
    assert kept <= 8  # 6 of 16 when written; every one of them before the blob/pair rules


def test_a_cleared_frame_never_reaches_the_ocr_and_candidates_go_as_crops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, ...]] = []
    verified: list[tuple[int, ...]] = []
    real, real_detect = detector.text_boxes, detector.detect

    def spy(image: detector.Image) -> list[Box]:
        seen.append(image.shape[:2])
        return real(image)

    def spy_detect(image: detector.Image) -> list[Box]:
        verified.append(image.shape[:2])
        return real_detect(image)

    monkeypatch.setattr(detector, "text_boxes", spy)
    blank = make_tomo_case(330, kind="mr", with_text=False, rows=256, cols=256)
    ds = pydicom.dcmread(io.BytesIO(blank.data))
    ds.PixelData = np.full((256, 256), 700, dtype=np.uint16).tobytes()
    flat = io.BytesIO()
    ds.save_as(flat, enforce_file_format=True)
    cleaned = clean_pixels(
        io.BytesIO(flat.getvalue()), burned_in_flag="", identity={}, implicit=False, little=True
    )
    assert cleaned.summary.method is CleaningMethod.OCR_NO_TEXT
    assert seen == []
    monkeypatch.setattr(detector, "detect", spy_detect)
    text = make_tomo_case(331, kind="ct", rows=320, cols=320)
    assert uncovered_boxes(text, _write(text)) == []
    # The text is found in crops the detector reads at its own scale (sides in multiples of
    # 32), never in the whole frame; the verification then reads the masked frame whole.
    assert seen and (320, 320) not in seen
    assert all(side % 32 == 0 for shape in seen for side in shape)
    assert (320, 320) in verified


def _write(case: BurnedInCase) -> bytes:
    out = io.BytesIO()
    result = Deidentifier(KEY).deidentify(case.data, CENTER, out)
    assert result.ok, (result.reason, result.detail)
    return out.getvalue()


def test_the_switch_sends_every_checked_frame_whole_to_the_ocr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, ...]] = []

    def spy(image: detector.Image) -> list[Box]:
        seen.append(image.shape[:2])
        return []

    monkeypatch.setattr(detector, "text_boxes", spy)
    monkeypatch.setenv(screen.PIXEL_SCREEN_ENV, "off")
    assert not screen.enabled()
    case = make_case(340, with_text=False)
    _clean(case)
    assert seen == [(240, 320)]
    monkeypatch.setenv(screen.PIXEL_SCREEN_ENV, "on")
    assert screen.enabled()
    monkeypatch.delenv(screen.PIXEL_SCREEN_ENV)
    assert screen.enabled()


def _around(planted: tuple[int, int, int, int], width: int, height: int) -> Box:
    left, top, right, bottom = planted
    return Box(left, top, right, bottom).grown(screen.MARGIN, width, height)


def test_a_line_the_crops_miss_is_masked_by_the_verification_not_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The screen's candidates cover one planted line only: what the crops find is masked,
    # the verification reads the frame whole, finds the other lines (identifying ones too),
    # reads each again on the frame's own pixels and masks it; nothing is refused or left.
    case = make_tomo_case(350, kind="ct", rows=320, cols=320)
    assert len(case.texts) > 1 and any(t.identifying for t in case.texts[1:])
    only = [_around(case.texts[0].box, 320, 320)]
    monkeypatch.setattr(screen, "candidates", lambda _picture: only)
    out = io.BytesIO()
    result = Deidentifier(KEY).deidentify(case.data, CENTER, out)
    assert result.ok, (result.reason, result.detail)
    assert result.pixel_cleaning is not None and result.pixel_cleaning.verification_rounds >= 2
    assert uncovered_boxes(case, out.getvalue()) == []


def test_a_line_cut_by_its_crop_has_the_whole_frame_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # A crop ending inside a line: the detector's box touches the crop's side, the line may go
    # on past it, so the frame is read whole as without the screen.
    case = make_tomo_case(351, kind="ct", rows=320, cols=320)
    left, top, right, bottom = max(case.texts, key=lambda t: t.box[2] - t.box[0]).box
    half = Box(max(0, left - 8), max(0, top - 8), (left + right) // 2, min(320, bottom + 8))
    monkeypatch.setattr(screen, "candidates", lambda _picture: [half])
    seen: list[tuple[int, ...]] = []
    real = detector.text_boxes

    def spy(image: detector.Image) -> list[Box]:
        seen.append(image.shape[:2])
        return real(image)

    monkeypatch.setattr(detector, "text_boxes", spy)
    assert uncovered_boxes(case, _write(case)) == []
    assert seen[0] != (320, 320) and (320, 320) in seen
