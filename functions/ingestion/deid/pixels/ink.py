"""Shrink a detected text box to the glyphs' ink, so masks do not paint the image around it.

The detector's boxes are padded on purpose (PP-OCR "unclips" each line by about 0.8 of its
height on every side), so a mask of the box itself paints a band of anatomy or picture
around every line: on a 256x256 MR slice with six lines of scanner text, 5-6% of the pixels
outside the text. Inside each box, the glyphs are the thin strokes that stand out from
their ground (top-hat for bright text, black-hat for dark text, the stronger of the two);
their bounding box is what must be painted, and the mask adds its margin around it.

Fail-safe: when the box holds no clear strokes (faint text, text on texture) the detector's
box is kept whole; a side its strokes touch is kept where it is (glyphs, or another line,
may continue past it).
Only the first detection pass tightens; what the verification finds is masked whole.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from .masks import Box

Image = npt.NDArray[np.uint8]

# Wider than any glyph stroke (as the screen's kernel).
_KERNEL = 9
# Strokes are pixels with at least this share of the box's strongest contrast: glyph cores
# and most of their anti-aliased edge, not the noise or speckle around them ...
_SHARE = 0.5
# ... and at least this much contrast (of 255) at all, else the box is kept whole.
_MIN_PEAK = 48
# Anti-aliased rims beyond the threshold, and the descender zone below a line (percent of
# its height).
_EDGE = 3
_DESCENDER = 25
# Speckle: past this share of the box's pixels being "strokes", it is texture, not glyphs.
_MAX_INK = 0.6


def tighten(picture: Image, boxes: list[Box]) -> list[Box]:
    """Each box shrunk to the bounding box of the glyph strokes inside it (or kept)."""
    return [_tight(picture, box) for box in boxes]


def _tight(picture: Image, box: Box) -> Box:
    height, width = picture.shape[:2]
    # Context around the box so the morphology sees the ground beside edge glyphs.
    outer = box.grown(_KERNEL, width, height)
    crop = picture[outer.top : outer.bottom, outer.left : outer.right]
    if crop.ndim == 3:
        channels = cv2.split(crop)
        bright = cv2.max(cv2.max(channels[0], channels[1]), channels[2])
        dark = cv2.min(cv2.min(channels[0], channels[1]), channels[2])
    else:
        bright = dark = np.ascontiguousarray(crop)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_KERNEL, _KERNEL))
    inner = (
        slice(box.top - outer.top, box.bottom - outer.top),
        slice(box.left - outer.left, box.right - outer.left),
    )
    # Bright and dark strokes each against their own strongest pixel. A colour glyph can be
    # strong in one and its neighbour in the other (a yellow glyph's blue channel is dark):
    # both count. A grey line is bright or dark text: only the stronger counts (the gaps
    # between bright glyphs and nearby anatomy are thin dark structures too).
    maps = []
    for source, operation in ((bright, cv2.MORPH_TOPHAT), (dark, cv2.MORPH_BLACKHAT)):
        contrast = np.asarray(cv2.morphologyEx(source, operation, kernel), dtype=np.uint8)[inner]
        maps.append((int(contrast.max(initial=0)), contrast))
    if crop.ndim == 2:
        maps = [max(maps, key=lambda item: item[0])]
    ink = np.zeros((box.height, box.width), dtype=bool)
    for peak, contrast in maps:
        if peak >= _MIN_PEAK:
            ink |= contrast >= int(_SHARE * peak)
    if not ink.any():
        return box
    if ink.mean() > _MAX_INK:
        return box
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    # A side the strokes touch stays where the detector put it: glyphs (or another line)
    # may go on past it. Below the strokes, room for descenders the threshold may have
    # thinned out (the line's descender zone is part of the line, as a font lays it out).
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    left, right = int(cols[0]), int(cols[-1]) + 1
    bottom = min(box.height, bottom + (bottom - top) * _DESCENDER // 100)
    return Box(
        box.left + max(0, left - _EDGE),
        box.top + max(0, top - _EDGE),
        min(box.right, box.left + right + _EDGE),
        box.top + bottom,
    )
