"""Checks of cleaned pixels that do not rely on the engine's own detector.

* Ground truth: the corpus generator says where each string was drawn; after cleaning, every
  pixel of that box must carry one value in every frame (nothing of the glyphs is left).
* A second OCR engine (Tesseract, a system binary: Debian's tesseract-ocr) reads the output;
  no identifying value may come back. Tests using it skip when the binary is absent.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess

import cv2
import numpy as np
import numpy.typing as npt
from pydicom.pixels import iter_pixels  # type: ignore[attr-defined]

from infra.samples.burned_in import BurnedInCase

Frame = npt.NDArray[np.generic]
TESSERACT = shutil.which("tesseract")
_FOLD = str.maketrans({"0": "O", "1": "I", "L": "I", "5": "S", "8": "B"})


def frames_of(data: bytes) -> list[Frame]:
    return list(iter_pixels(io.BytesIO(data)))


def text_mask(case: BurnedInCase, shape: tuple[int, ...], margin: int = 0) -> npt.NDArray[np.bool_]:
    """True inside the planted strings' boxes (grown by ``margin``)."""
    inside = np.zeros(shape[:2], dtype=bool)
    for planted in case.texts:
        left, top, right, bottom = planted.box
        inside[max(0, top - margin) : bottom + margin, max(0, left - margin) : right + margin] = (
            True
        )
    return inside


def uncovered_boxes(case: BurnedInCase, output: bytes) -> list[str]:
    """Keywords of planted strings whose box still shows more than one value in some frame."""
    left_over = []
    for frame in frames_of(output):
        for planted in case.texts:
            left, top, right, bottom = planted.box
            region = frame[max(0, top) : bottom, max(0, left) : right].reshape(-1, *frame.shape[2:])
            if not (region == region[0]).all():
                left_over.append(planted.keyword or "device text")
    return left_over


def _fold(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper()).translate(_FOLD)


def tesseract_text(frame: Frame) -> str:
    """What Tesseract reads in a frame (upscaled twice: small glyphs read better)."""
    assert TESSERACT is not None
    picture = (
        frame if frame.dtype == np.uint8 else cv2.normalize(frame, None, 0, 255, cv2.NORM_MINMAX)  # type: ignore[arg-type]
    )
    if picture.ndim == 3:
        picture = cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2GRAY)
    big = cv2.resize(
        np.asarray(picture, dtype=np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC
    )
    ok, png = cv2.imencode(".png", big)
    assert ok
    # One thread: Tesseract's OpenMP threads only fight each other on a shared machine.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    done = subprocess.run(
        [TESSERACT, "stdin", "stdout", "--psm", "11"],
        input=png.tobytes(),
        capture_output=True,
        check=True,
        timeout=120,
        env=env,
    )
    return done.stdout.decode("utf-8", "replace")


def identity_read(case: BurnedInCase, text: str) -> list[str]:
    """Keywords of the planted identifying strings whose words appear in ``text``."""
    folded = _fold(text)
    found = []
    for planted in case.texts:
        if planted.keyword is None:
            continue
        words = [_fold(w) for w in re.split(r"[\^\s,/:-]+", planted.text)]
        if any(len(w) >= 4 and w in folded for w in words):
            found.append(planted.keyword)
    return found
