"""A cheap first look at a frame: where could text be? Only those regions go to the OCR.

The OCR detector costs about 0.1 s per 512x512 frame; most CT/MR slices carry no text at
all. This screen is classical image processing with OpenCV (about 1-2 ms a frame, measured
in ``benchmarks/deid_screen.py``):

1. **Thin strokes**: a morphological top-hat (bright strokes on darker ground) and
   black-hat (dark strokes on brighter ground), kept apart, with a kernel wider than any
   glyph stroke, on the brightest and darkest channel (coloured text on a coloured banner),
   on a frame downsampled only when it is large (text on large radiographs is large too).
2. **Strong enough to read**: stroke pixels are those whose contrast passes a low
   threshold; tuned to be *sensitive* (a false candidate costs one OCR call on a small
   crop, a missed one leaks a name). From 512 px up the contrast map is analysed with
   half the rows, keeping the stronger pixel of each pair of rows: a 1 px stroke keeps its
   full contrast (averaging would halve it), glyphs of 8 px and up (the smallest scanner
   text) stay 4 rows and up, and the letters of a word stay apart (halving the columns
   too joins letters a pixel or two apart into one piece), while the connected-component
   pass, the costly step, sees half the pixels.
3. **Glyph-sized, in a line**: connected pieces of strokes of glyph height are grouped
   with the pieces beside them (similar height, same rows, a gap narrower than a glyph),
   as letters of a line are. A group of three or more counts, unless all its pieces are
   filled blobs and it is shorter than a word (three lung vessels in a row); a pair counts
   when one piece has the shape of a glyph rather than a dot and the strokes are clearly
   drawn (twice the stroke threshold: the spine's cortical ring, split in two arcs, and
   vessel pairs fail it). Taller pieces (text touching anatomy or speckle) count when one
   row crosses many strokes close together; too many pieces (speckle) make the whole
   frame a candidate.
4. **Regions**: candidate boxes grown by a margin (the detector needs whole glyphs and some
   background), merged while they overlap; when they cover most of the frame, the frame
   is read whole (one call is cheaper than many crops of the same pixels).

Short strings are a known gap: a lone glyph (an orientation "L" or "R") is never a
candidate, a two-letter one only as a clearly drawn pair. The OCR reads a lone glyph only
from about 16 px tall, and then not reliably from a crop around it (it may read it in the
whole frame and in no crop), so catching every one would mean reading whole each frame with
a glyph-sized piece of anatomy: measured, every text-free CT and MR slice, the cost of no
screen. They do not identify anyone; ``benchmarks/deid_screen.py`` measures them (corpus d)
and lists the frames missed.

The contract is recall against the OCR: a frame in which the OCR finds text is never
cleared. It is measured on generated and real files (``benchmarks/deid_screen.py``) and
tested (``tests/unit/deid/test_screen.py``). ``SALUDTECH_PIXEL_SCREEN=off`` turns the screen
off: every checked frame goes whole to the OCR, as before it existed.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import numpy.typing as npt

from .masks import Box

PIXEL_SCREEN_ENV = "SALUDTECH_PIXEL_SCREEN"
_OFF = frozenset({"off", "0", "false", "no"})

Image = npt.NDArray[np.uint8]

# Frames whose longer side exceeds this are screened at half resolution.
_DOWNSAMPLE_ABOVE = 1024
# Contrast maps whose longer side reaches this are analysed with half the rows (max).
_POOL_FROM = 512
# Kernel of the top-hat: wider than any glyph stroke (bold 20 px text has ~4 px strokes).
_STROKE_KERNEL = 9
# Contrast (of 255) a stroke needs; the OCR reads low-contrast text, so this stays low.
_STROKE_CONTRAST = 28
# Glyph-sized: a glyph the detector can find is at least this tall (at full scale) ...
_MIN_HEIGHT = 5
_MIN_STROKE_PIXELS = 10
# ... and a line of text at most this tall; a taller piece needs a row crossing this many
# strokes (three glyphs) within a short span to count.
_LINE_HEIGHT = 96
_TEXT_ROW_RUNS = 6
_RUN_SPAN = 64
# Letters of a line: heights within this ratio, gap at most this share of their height.
_HEIGHT_RATIO = 1.7
_GAP_RATIO = 1.2
# Share of the smaller piece's rows the two share (a line is straight; a curve drifts).
_SHARED = 0.5
# A piece filling this share of its box is a blob (a vessel, a dot), not a drawn glyph.
_BLOB_FILL = 0.75
# Blobs alone make a line only from this many in a row (three vessels line up by chance).
_BLOB_LINE = 4
# A pair of pieces needs strokes this strong (twice the stroke threshold; anatomy pairs
# such as the spine's ring sit just above the threshold, drawn text well above it).
_PAIR_CONTRAST = 56
# More glyph-sized pieces than this: texture (speckle), not a few lines of text.
_MAX_PIECES = 400
# Context around a candidate so the detector sees whole glyphs and their background.
MARGIN = 16
# Past this share of the frame, read the frame whole.
_WHOLE_SHARE = 0.6


def enabled() -> bool:
    """True unless ``SALUDTECH_PIXEL_SCREEN`` says off (read at each image: tests flip it)."""
    return os.environ.get(PIXEL_SCREEN_ENV, "on").strip().lower() not in _OFF


def _contrast_maps(picture: Image) -> list[Image]:
    """Contrast of thin bright strokes (top-hat) and of thin dark strokes (black-hat).

    Kept apart: their union would fill the counters of bright letters (the dark hole of an
    "o" is a thin dark structure too) and turn glyphs into blobs.
    """
    if picture.ndim == 3:
        channels = cv2.split(picture)
        bright = cv2.max(cv2.max(channels[0], channels[1]), channels[2])
        dark = cv2.min(cv2.min(channels[0], channels[1]), channels[2])
    else:
        bright = dark = picture
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_STROKE_KERNEL, _STROKE_KERNEL))
    return [
        np.asarray(cv2.morphologyEx(bright, cv2.MORPH_TOPHAT, kernel), dtype=np.uint8),
        np.asarray(cv2.morphologyEx(dark, cv2.MORPH_BLACKHAT, kernel), dtype=np.uint8),
    ]


def _runs(strokes: npt.NDArray[np.uint8]) -> int:
    """Most separate strokes one row of a piece crosses within ``_RUN_SPAN`` pixels.

    Within a span, as glyphs of a line are close together: ribs along a chest wall, or
    vessels across a lung, are crossed as often by a long row but far apart.
    """
    starts = (np.diff(strokes, axis=1, prepend=0) == 1).astype(np.int32)
    if starts.shape[1] <= _RUN_SPAN:
        return int(starts.sum(axis=1).max(initial=0))
    total = np.cumsum(starts, axis=1)
    window = total[:, _RUN_SPAN:] - total[:, :-_RUN_SPAN]
    return int(max(window.max(initial=0), total[:, _RUN_SPAN - 1].max(initial=0)))


def _pooled(contrast: Image) -> Image:
    """The contrast map with half the rows: the stronger pixel of each pair of rows.

    The maximum, not the mean: a 1 px stroke keeps its contrast. Rows only: the letters of
    a word, a pixel or two apart side by side, stay separate pieces (pooling columns too
    joins them into one).
    """
    rows = contrast.shape[0] // 2 * 2
    return np.asarray(cv2.max(contrast[:rows:2], contrast[1:rows:2]), dtype=np.uint8)


def candidates(picture: Image) -> list[Box]:
    """Regions of an 8-bit picture (BGR or grey) where text may be; [] clears the picture."""
    height, width = picture.shape[:2]
    scale = 2 if max(height, width) > _DOWNSAMPLE_ABOVE else 1
    small = picture
    if scale > 1:
        size = (width // scale, height // scale)
        small = np.asarray(cv2.resize(picture, size, interpolation=cv2.INTER_AREA), np.uint8)
    pool = 2 if max(small.shape[:2]) >= _POOL_FROM else 1
    boxes: list[Box] = []
    for full in _contrast_maps(small):
        contrast = _pooled(full) if pool > 1 else full
        strokes = (contrast >= _STROKE_CONTRAST).view(np.uint8)
        if not cv2.countNonZero(strokes):
            continue
        found = _line_pieces(strokes, contrast, scale, pool)
        if found is None:
            return [Box(0, 0, width, height)]
        boxes.extend(
            Box(left * scale, top * scale, right * scale, bottom * scale).grown(
                MARGIN, width, height
            )
            for left, top, right, bottom in found
        )
    return _merged(boxes, width, height)


def _line_pieces(
    strokes: Image, contrast: Image, scale: int, pool: int
) -> list[tuple[int, int, int, int]] | None:
    """Boxes (left, top, right, bottom) of the stroke pieces that may belong to text.

    A piece is a connected group of stroke pixels. Glyph-sized pieces are grouped with the
    pieces beside them as letters of a line are: similar heights, the same rows, a gap
    narrower than a glyph. A group of three or more counts unless it is a short row of
    blobs (vessels); a pair counts when one of them is shaped like a glyph, not a dot, and
    its strokes are clearly drawn (an anatomy pair, the two arcs of the spine's ring or two
    vessels, is faint or blobby). A piece taller than a line of text (text touching speckle
    or anatomy) counts when one of its rows crosses many strokes, as a line of text does.
    None: too many pieces to tell (speckle, texture); the whole frame is then a candidate.

    ``strokes`` and ``contrast`` have one row for every ``pool`` rows of the frame as
    screened; boxes and sizes are in the frame's rows (one screened pixel is ``scale``
    pixels of the frame).
    """
    # 16-bit labels when they cannot overflow (8-connected pieces need a 2x2 cell each):
    # OpenCV then computes the statistics about three times faster (measured, 512x256 map).
    rows, cols = strokes.shape
    small = ((rows + 1) // 2) * ((cols + 1) // 2) < np.iinfo(np.uint16).max
    ltype = cv2.CV_16U if small else cv2.CV_32S
    _, labels, pooled, _ = cv2.connectedComponentsWithStats(strokes, connectivity=8, ltype=ltype)
    pooled = pooled[1:].astype(np.int64)
    stats = pooled * np.array([1, pool, 1, pool, pool], dtype=np.int64)
    heights = stats[:, cv2.CC_STAT_HEIGHT]
    min_area = max(3, _MIN_STROKE_PIXELS // (scale * scale))
    sized = (heights >= max(2, _MIN_HEIGHT // scale)) & (stats[:, cv2.CC_STAT_AREA] >= min_area)
    tall = sized & (heights * scale > _LINE_HEIGHT)
    glyphs = stats[sized & ~tall]
    if len(glyphs) > _MAX_PIECES:
        return None
    left, top = glyphs[:, cv2.CC_STAT_LEFT], glyphs[:, cv2.CC_STAT_TOP]
    right = left + glyphs[:, cv2.CC_STAT_WIDTH]
    h = glyphs[:, cv2.CC_STAT_HEIGHT]
    bottom = top + h
    # Every pair at once (a few hundred pieces at most): similar height, shared rows, and a
    # gap between them no wider than a glyph.
    low = np.minimum(h[:, None], h[None, :])
    high = np.maximum(h[:, None], h[None, :])
    shared = np.minimum(bottom[:, None], bottom[None, :]) - np.maximum(top[:, None], top[None, :])
    gap = np.maximum(left[:, None], left[None, :]) - np.minimum(right[:, None], right[None, :])
    beside = (high <= _HEIGHT_RATIO * low) & (shared >= _SHARED * low) & (gap <= _GAP_RATIO * high)
    np.fill_diagonal(beside, False)
    group = _groups(beside)
    count = len(glyphs)
    size = np.bincount(group, minlength=count)[group]
    blob = glyphs[:, cv2.CC_STAT_AREA] >= _BLOB_FILL * (right - left) * h
    shaped = np.bincount(group, weights=(~blob).astype(np.float64), minlength=count)[group] > 0
    keep = (size >= 3) & (shaped | (size >= _BLOB_LINE))
    labels_of = np.flatnonzero(sized & ~tall) + 1
    for first in np.flatnonzero((size == 2) & shaped):
        if keep[first]:
            continue
        second = int(np.flatnonzero(beside[first])[0])
        peak = 0
        for k in (first, second):
            band = slice(int(top[k]) // pool, int(bottom[k]) // pool)
            window = (band, slice(int(left[k]), int(right[k])))
            peak = max(peak, int(contrast[window][labels[window] == labels_of[k]].max()))
        keep[first] = keep[second] = peak >= _PAIR_CONTRAST
    found = [
        (int(left[i]), int(top[i]), int(right[i]), int(bottom[i])) for i in np.flatnonzero(keep)
    ]
    for row in pooled[tall, :4]:
        x, y, w, hh = (int(v) for v in row)
        if _runs(strokes[y : y + hh, x : x + w]) >= _TEXT_ROW_RUNS:
            found.append((x, y * pool, x + w, (y + hh) * pool))
    return found


def _groups(beside: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """Group number of each piece: pieces linked by ``beside``, directly or through others.

    Smallest index of the group, spread along the links until stable: a few rounds, as
    many as the longest line has pieces.
    """
    count = len(beside)
    group = np.arange(count)
    while True:
        linked = np.where(beside, group[None, :], count).min(axis=1, initial=count)
        joined = np.minimum(group, linked)
        if np.array_equal(joined, group):
            return group
        group = joined


def _merged(boxes: list[Box], width: int, height: int) -> list[Box]:
    """Overlapping boxes joined until none overlap; the whole frame if they cover most."""
    merged = sorted(boxes, key=lambda b: (b.top, b.left))
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for box in merged:
            for index, other in enumerate(out):
                if box.overlaps(other):
                    out[index] = Box(
                        min(box.left, other.left),
                        min(box.top, other.top),
                        max(box.right, other.right),
                        max(box.bottom, other.bottom),
                    )
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    area = sum(b.width * b.height for b in merged)
    if merged and area >= _WHOLE_SHARE * width * height:
        return [Box(0, 0, width, height)]
    return merged
