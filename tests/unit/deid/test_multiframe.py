"""Multi-frame images: the static overlay is read once, what changes is read frame by frame.

Cines come from the burned-in corpus generator (a static overlay of patient data over a
moving ultrasound sector); text is then drawn into the moving part of some frames only, or
at a new place in every frame. Outputs are judged by ground truth (every planted box painted
over in the frames it is drawn in), never by the engine's own detector. Cost is measured in
benchmarks/deid_pixels.py; here only which frames and regions get read.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGBaseline8Bit, RLELossless

from functions.ingestion.deid import Deidentifier
from functions.ingestion.deid.pixels import (
    PIXEL_SCREEN_ENV,
    CleaningMethod,
    PixelCleaning,
    cleaner,
    multiframe,
)
from functions.ingestion.deid.pixels.frames import Frame as AnyFrame
from functions.ingestion.deid.pixels.geometry import Geometry
from functions.ingestion.deid.pixels.masks import Box, Mask
from infra.samples.burned_in import make_case

from .helpers import CENTER, KEY
from .pixel_checks import frames_of

Frame = npt.NDArray[np.uint8]
Rect = tuple[int, int, int, int]


@dataclass(frozen=True)
class Cine:
    data: bytes
    identity: dict[str, str]
    static: tuple[Rect, ...]  # the generator's overlay, in every frame
    drawn: tuple[tuple[int, Rect], ...]  # (frame, box) of each text drawn into one frame


def _draw(frame: Frame, text: str, org: tuple[int, int]) -> Rect:
    """White text at ``org`` (top left); its box, as the generator gives it."""
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2
    (width, height), baseline = cv2.getTextSize(text, font, scale, thickness)
    x, y = org
    cv2.putText(frame, text, (x, y + height), font, scale, 255, thickness, cv2.LINE_AA)
    return (x - thickness, y - thickness, x + width + thickness, y + height + baseline + thickness)


def _cine(
    seed: int, syntax: UID, frames: int, texts: list[tuple[int, str, tuple[int, int]]]
) -> Cine:
    """A generated cine with ``texts`` (frame, string, top left) drawn into single frames."""
    case = make_case(seed, syntax=ExplicitVRLittleEndian, frames=frames, flag="NO")
    ds = pydicom.dcmread(io.BytesIO(case.data))
    pixels = np.array(ds.pixel_array, dtype=np.uint8)
    drawn = []
    for index, text, org in texts:
        drawn.append((index, _draw(pixels[index], text, org)))
    if syntax == JPEGBaseline8Bit:
        fragments = []
        for frame in pixels:
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, "JPEG", quality=92)
            fragments.append(buffer.getvalue())
        ds.PixelData = encapsulate(fragments)
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.LossyImageCompression = "01"
    else:
        ds.PixelData = pixels.tobytes()
        if syntax.is_compressed:
            ds.compress(syntax)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return Cine(
        buffer.getvalue(),
        case.identity,
        tuple(t.box for t in case.texts),
        tuple(drawn),
    )


@dataclass(frozen=True)
class Cleaned:
    summary: PixelCleaning
    frames: list[Frame]


def _clean(cine: Cine) -> Cleaned:
    out = io.BytesIO()
    result = Deidentifier(KEY).deidentify(cine.data, CENTER, out)
    assert result.ok and result.pixel_cleaning is not None, result.reason
    frames = [np.asarray(f, dtype=np.uint8) for f in frames_of(out.getvalue())]
    return Cleaned(result.pixel_cleaning, frames)


def _painted(frame: Frame, box: Rect) -> bool:
    left, top, right, bottom = box
    region = frame[max(0, top) : bottom, max(0, left) : right]
    return bool((region == region.flat[0]).all())


def _uncovered(cine: Cine, frames: list[Frame]) -> list[str]:
    """Planted boxes that still show more than one value in a frame they are drawn in."""
    left = [
        f"static {box} in frame {index}"
        for index, frame in enumerate(frames)
        for box in cine.static
        if not _painted(frame, box)
    ]
    return left + [
        f"drawn {box} in frame {i}" for i, box in cine.drawn if not _painted(frames[i], box)
    ]


# Text in the moving sector of one frame only (an id number: what must not leak), and a
# line that moves across the sector from frame to frame.
ONE_FRAME = [(3, "ID 48-215530", (110, 120))]
MOVING = [(i, "ACC7730155", (70 + 18 * i, 80 + 14 * i)) for i in range(1, 5)]


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, RLELossless, JPEGBaseline8Bit])
def test_static_overlay_and_a_text_in_one_frame_only_are_both_removed(syntax: UID) -> None:
    cine = _cine(600, syntax, 5, ONE_FRAME)
    cleaned = _clean(cine)
    assert cleaned.summary.method is CleaningMethod.OCR_MASKED and cleaned.summary.verified
    assert _uncovered(cine, cleaned.frames) == []


def test_a_text_that_moves_from_frame_to_frame_is_removed_wherever_it_is() -> None:
    cine = _cine(601, RLELossless, 5, MOVING)
    cleaned = _clean(cine)
    assert cleaned.summary.verified and cleaned.summary.frames_checked == 5
    assert _uncovered(cine, cleaned.frames) == []


@pytest.mark.parametrize(
    ("texts", "syntax"), [(ONE_FRAME, RLELossless), (MOVING, JPEGBaseline8Bit)]
)
def test_the_screen_on_or_off_gives_the_same_pixels_and_summary(
    texts: list[tuple[int, str, tuple[int, int]]], syntax: UID, monkeypatch: pytest.MonkeyPatch
) -> None:
    cine = _cine(602, syntax, 5, texts)
    monkeypatch.setenv(PIXEL_SCREEN_ENV, "on")
    on = _clean(cine)
    monkeypatch.setenv(PIXEL_SCREEN_ENV, "off")
    off = _clean(cine)
    assert on.summary == off.summary
    assert [f.tobytes() for f in on.frames] == [f.tobytes() for f in off.frames]
    assert _uncovered(cine, on.frames) == []


def test_later_frames_are_read_with_the_static_overlay_already_painted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The screen off: every later frame's changing part goes to the detector, and none of
    # it may show the overlay the first frame's read found (it would be read 5 times).
    monkeypatch.setenv(PIXEL_SCREEN_ENV, "off")
    cine = _cine(603, ExplicitVRLittleEndian, 5, [])
    reads: list[tuple[Frame, Box]] = []
    detect_in = cleaner._detect_in

    def spy(
        frame: Frame, region: Box, geometry: Geometry, *, screened: bool, verified_whole: bool
    ) -> list[Box]:
        reads.append((frame.copy(), region))
        return detect_in(frame, region, geometry, screened=screened, verified_whole=verified_whole)

    monkeypatch.setattr(cleaner, "_detect_in", spy)
    verified: list[int] = []
    frames_at = multiframe.frames_at

    def spy_frames(*args: object, **kwargs: object) -> Iterator[tuple[int, AnyFrame]]:
        for index, frame in frames_at(*args, **kwargs):  # type: ignore[arg-type]
            verified.append(index)
            yield index, frame

    monkeypatch.setattr(multiframe, "frames_at", spy_frames)
    cleaned = _clean(cine)
    assert cleaned.summary.verified and cleaned.summary.frames_checked == 5
    assert len(reads) == 5 and reads[0][1] == Box(0, 0, 320, 240)
    for frame, _region in reads[1:]:
        for box in cine.static:
            assert _painted(frame, box), box
    # The static part is verified once, on the first frame; the others masked nothing new.
    assert verified == [0]
    assert _uncovered(cine, cleaned.frames) == []


def test_a_paused_cine_is_read_once_and_a_resumed_one_again() -> None:
    case = make_case(604, syntax=ExplicitVRLittleEndian, frames=4, flag="NO")
    ds = pydicom.dcmread(io.BytesIO(case.data))
    pixels = np.array(ds.pixel_array)
    pixels[2] = pixels[1]  # frame 2 repeats frame 1: nothing new to read in it
    ds.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    cine = Cine(buffer.getvalue(), case.identity, tuple(t.box for t in case.texts), ())
    cleaned = _clean(cine)
    assert cleaned.summary.frames == 4 and cleaned.summary.frames_checked == 3
    assert _uncovered(cine, cleaned.frames) == []


def _geometry(lossy: bool) -> Geometry:
    syntax = UID(str(JPEGBaseline8Bit if lossy else ExplicitVRLittleEndian))
    return Geometry(8, 8, 1, 8, 8, False, "MONOCHROME2", 0, 3, syntax)


def test_coding_noise_is_not_change_in_lossy_frames_but_any_difference_is_in_lossless() -> None:
    assert multiframe.tolerance(_geometry(lossy=False)) == 0
    assert multiframe.tolerance(_geometry(lossy=True)) == multiframe.LOSSY_TOLERANCE
    reference = np.full((40, 40), 100, dtype=np.uint8)

    def _changed(frame: Frame, limit: int) -> Box | None:
        return multiframe._bounds(multiframe._moved(frame, reference, limit))

    noisy = reference.copy()
    noisy[5, 5] = 100 + multiframe.LOSSY_TOLERANCE
    assert _changed(noisy, multiframe.LOSSY_TOLERANCE) is None
    assert _changed(noisy, 0) is not None
    noisy[30, 30] = 100 + multiframe.LOSSY_TOLERANCE + 1
    # Only the pixel past the tolerance, with the margin for whole glyphs (clipped).
    assert _changed(noisy, multiframe.LOSSY_TOLERANCE) == Box(6, 6, 40, 40)
    # Darker as much as brighter (no unsigned wrap-around); signed 16-bit samples alike.
    darker = reference.copy()
    darker[30, 30] = 100 - multiframe.LOSSY_TOLERANCE - 1
    assert _changed(darker, multiframe.LOSSY_TOLERANCE) == Box(6, 6, 40, 40)
    darker[30, 30] = 100 - multiframe.LOSSY_TOLERANCE
    assert _changed(darker, multiframe.LOSSY_TOLERANCE) is None
    signed = np.full((40, 40), -1000, dtype=np.int16)
    moved = signed.copy()
    moved[30, 30] = 30000
    assert multiframe._bounds(multiframe._moved(moved, signed, 128)) == Box(6, 6, 40, 40)


def test_verification_reads_only_what_was_masked_since_a_frame_was_read() -> None:
    mask = Mask(200, 100)
    walk = multiframe.Walk(
        regions=[Box(0, 0, 200, 100), Box(100, 0, 200, 100), None, Box(0, 0, 60, 40)],
        seen=[0, 1, 1, 1],
    )
    assert [walk.due(i, mask) for i in range(4)] == [None] * 4  # nothing masked: nothing due
    mask.add([Box(10, 10, 30, 20)])  # found in the first frame, before the others were read
    assert walk.due(0, mask) == Box(0, 0, 200, 100)  # the static part: whole, once
    assert walk.due(1, mask) is None  # read with that mask already
    assert walk.due(2, mask) is None  # nothing new in it
    assert walk.due(3, mask) is None
    mask.add([Box(150, 60, 170, 70)])  # found later (grown by the mask margin: 146..174)
    assert walk.due(3, mask) is None  # outside frame 3's changing part
    # Frame 1: only around the new mask, with the crop margin.
    assert walk.due(1, mask) == Box(146 - 24, 56 - 24, 174 + 24, 74 + 24)
    assert walk.due(0, mask) == Box(0, 0, 200, 100)


def test_a_text_fading_in_under_the_lossy_tolerance_per_frame_is_still_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each frame is compared with the first, not with the one before: a text brightening by
    # less than the coding-noise tolerance from frame to frame is still read once it stands
    # out from the first frame by more.
    case = make_case(605, syntax=ExplicitVRLittleEndian, frames=6, flag="NO", still=True)
    ds = pydicom.dcmread(io.BytesIO(case.data))
    pixels = np.array(ds.pixel_array, dtype=np.int16)
    step = multiframe.LOSSY_TOLERANCE - 2
    for index in range(6):
        pixels[index, 100:120, 100:180] += step * index
    ds.PixelData = pixels.clip(0, 255).astype(np.uint8).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    monkeypatch.setattr(multiframe, "tolerance", lambda _geometry: multiframe.LOSSY_TOLERANCE)
    source = io.BytesIO(buffer.getvalue())
    geometry = cleaner.read_geometry(source)
    read: list[Box] = []

    def record(frame: AnyFrame, region: Box, verified_whole: bool) -> list[Box]:
        read.append(region)
        return []

    walk = multiframe.detect(source, geometry, Mask(geometry.columns, geometry.rows), record)
    assert walk.regions[1] is None  # within the tolerance of the first frame
    for region in walk.regions[2:]:
        assert region is not None and region.overlaps(Box(100, 100, 180, 120))
    assert walk.checked == len(read) == 5
