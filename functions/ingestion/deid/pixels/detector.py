"""The text detector: RapidOCR's PP-OCRv4 ONNX models, shipped inside its PyPI wheel.

Built once per process, on first use (cold starts of functions that never see a risky image
pay nothing), and shared: ONNX Runtime sessions are safe to call from several threads.
Nothing is downloaded: the models are files of the installed package.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt

from .masks import Box

PACKAGE = "rapidocr-onnxruntime"
MODEL = "PP-OCRv4 det/rec (ONNX)"
# One thread per session by default: a function instance has one vCPU, and the CLI runs one
# worker process per core. SALUDTECH_OCR_THREADS overrides it (0 = ONNX Runtime's choice).
_THREADS_ENV = "SALUDTECH_OCR_THREADS"
_lock = threading.Lock()
_engine: Any = None
_missing = False

Image = npt.NDArray[np.uint8]


class DetectorUnavailable(RuntimeError):
    """The OCR package is not installed: risky images fall back to quarantine."""


def available() -> bool:
    """True when the detector can run here (builds it on first call, once per process).

    A missing package or a missing system library behind it (OpenCV needs libGL) both
    count as unavailable: risky images then go to quarantine instead of failing.
    """
    global _missing
    if _missing:
        return False
    try:
        engine()
    except DetectorUnavailable:
        _missing = True
        return False
    return True


@functools.cache
def detector_name() -> str:
    """Package, version and models, for the cleaning record (read once per process: the
    metadata lookup costs about a millisecond, more than screening a text-free slice)."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "absent"
    return f"{PACKAGE} {version} {MODEL}"


def _build() -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except (ImportError, OSError) as exc:
        raise DetectorUnavailable(PACKAGE) from exc
    threads = int(os.environ.get(_THREADS_ENV, "1") or "1")
    threads = threads if threads > 0 else -1
    # "max" limit: never upscale a small image (the wheel's default scales the short side up
    # to 736 px, several times the work for an ultrasound frame), downscale only past 960 px.
    return RapidOCR(
        det_limit_type="max",
        intra_op_num_threads=threads,
        inter_op_num_threads=threads,
    )


def engine() -> Any:
    """The process-wide OCR engine, built on first call."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = _build()
    return _engine


@dataclass(frozen=True, slots=True)
class Reading:
    """Recognized text of one region (kept in memory only: it may be PHI)."""

    box: Box
    text: str
    score: float


# Frames larger than this are read in overlapping tiles at native resolution: the detector's
# memory grows with its input (a 1955x1841 radiograph read whole peaked at 810 MB, in 640 px
# tiles at 400 MB; a function's default is 512 MiB), and downscaling would shrink small glyphs
# below what it reads.
TILE = 640
_OVERLAP = 64


def _tiles(length: int) -> list[int]:
    if length <= TILE:
        return [0]
    step = TILE - _OVERLAP
    starts = list(range(0, length - TILE, step))
    return [*starts, length - TILE]


def detect(image: Image) -> list[Box]:
    """Axis-aligned boxes around every text line the detector finds in an 8-bit BGR image.

    Large images are read in tiles of at most ``TILE`` pixels a side that overlap by
    ``_OVERLAP``: a glyph cut by one tile's edge is whole in its neighbour.
    """
    height, width = image.shape[:2]
    found: list[Box] = []
    for top in _tiles(height):
        for left in _tiles(width):
            tile = np.ascontiguousarray(image[top : top + TILE, left : left + TILE])
            for box in _detect_whole(tile):
                shifted = box.shifted(left, top)
                if shifted not in found:
                    found.append(shifted)
    return found


def _detect_whole(image: Image) -> list[Box]:
    boxes, _ = engine().text_det(image)
    if boxes is None or len(boxes) == 0:
        return []
    height, width = image.shape[:2]
    found = []
    for quad in boxes:
        xs = [float(p[0]) for p in quad]
        ys = [float(p[1]) for p in quad]
        box = Box.clipped(
            int(min(xs)),
            int(min(ys)),
            int(max(xs)) + 1,
            int(max(ys)) + 1,
            width=width,
            height=height,
        )
        if box is not None:
            found.append(box)
    return found


# A text line is wider than tall; blocky boxes (a bright disc, an organ's outline) count as
# text only when the recognizer reads characters in them: one in a glyph-sized box, two in
# a larger one (a disc reads as "O").
_LINE_ASPECT = 2.0
_READ_SCORE = 0.5
_GLYPH_HEIGHT = 48


def line_shaped(box: Box) -> bool:
    return box.width >= _LINE_ASPECT * box.height


def reads_as_text(reading: Reading) -> bool:
    """The recognizer is confident it read characters in the box."""
    letters = sum(c.isalnum() for c in reading.text)
    needed = 1 if reading.box.height <= _GLYPH_HEIGHT else 2
    return reading.score >= _READ_SCORE and letters >= needed


def text_boxes(image: Image) -> list[Box]:
    """Boxes to mask: every line-shaped detection, and blocky ones that read as text."""
    found = detect(image)
    blocky = [b for b in found if not line_shaped(b)]
    if not blocky:
        return found
    readable = {r.box for r in read(image, blocky) if reads_as_text(r)}
    return [b for b in found if line_shaped(b) or b in readable]


def read(image: Image, boxes: list[Box]) -> list[Reading]:
    """Recognize the text inside ``boxes`` (for the verification detail only)."""
    crops = [np.ascontiguousarray(image[b.top : b.bottom, b.left : b.right]) for b in boxes]
    if not crops:
        return []
    results, _ = engine().text_rec(crops)
    return [
        Reading(box, str(text), float(score))
        for box, (text, score) in zip(boxes, results, strict=True)
    ]
