"""Which pixels of which frames the detector must read: a series' static overlay once.

A cine's overlay (patient banner, device text, logos, scale bars) sits at the same place in
every frame with the same pixels; only the picture under it moves. Reading every frame with
the OCR pays for that overlay once per frame (an ultrasound cine of 120 frames: 27 s of CPU).
Here each frame is split against the first one, the **reference**:

* the **static part**, pixels equal to the reference's (exactly for lossless frames; within
  coding noise for lossy ones, ``tolerance``), is the reference's own picture: whatever the
  detector finds there in the reference is masked in every frame, and nothing there needs
  reading again;
* the **changing part**, the bounding box (with a margin for whole glyphs) of the pixels
  that differ from the reference, is read frame by frame, through the screen as a single
  frame is. The masks found so far are painted where the frame still holds the reference's
  pixels (the static text: not found again at the changing part's edge, frame after
  frame), not where it moved (a new text reaching under an old mask is read whole).

Why nothing is missed: a text at the same place in every frame is in the reference and is
read there; a text that appears, changes or moves in some frames differs from the reference
there, so it is in those frames' changing part and read in each of them. Every frame is
compared with the same reference, never with its predecessor only, so coding noise under the
tolerance cannot add up, frame after frame, to a text faded in unnoticed. (A frame equal to
the one before it, a paused cine, is that frame's picture again: not read twice.)

**Verification** reads the masked frames again, but only where a frame can differ from what
was read already: the reference whole (the static part, once), and in any other frame around
the masks added since it was read (its own text, or masks other frames added over its
changing part). Elsewhere its masked pixels are those the detector (through the screen) read
and cleared: the detector is deterministic, and painting pixels can only take text away, so
reading them again would give the same answer at the cost of an OCR call per frame. As for a
single frame, a changing part the screen clears is not read by the detector at all: the
screen's contract (``screen``: never clears what the OCR finds) stands for each frame;
``SALUDTECH_PIXEL_SCREEN=off`` sends every changing part whole to the detector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from ..reasons import DeidFailure, Rejection
from . import detector, ink
from .frames import Frame, as_bgr, fill_value, iter_frames, picture
from .geometry import Geometry
from .identity import matching_keyword
from .masks import Box, Mask, changed_region

MAX_ROUNDS = 3
# Context around a changing part or a new mask: the detector needs whole glyphs and some
# background (wider than the screen's stroke kernel and its candidate margin).
CROP_MARGIN = 24
# JPEG baseline codes every frame on its own: an unchanged overlay comes back with
# quantisation noise of a few levels around sharp glyph edges (ultrasound cine
# color3d_jpeg_baseline: 62% of the pixels identical in all 120 frames, 70% within 8 levels;
# its overlay text in both). 8 of 255 (3%) is far below any text a reader or the OCR reads
# (the screen's weakest stroke is 28 of 255), so a text whose pixels stay that close to the
# reference's is the reference's text. Lossless frames: exact equality.
LOSSY_TOLERANCE = 8

# Reads one region of a frame: the text boxes found there (frame coordinates). The flag says
# whether verification reads that region whole again once anything is masked in it (the
# reference frame), or only around new masks (later frames: ``Walk.due``).
Read = Callable[[Frame, Box, bool], list[Box]]


def tolerance(geometry: Geometry) -> int:
    """Largest per-sample difference from the reference still counted as the same pixel."""
    if not geometry.lossy_source:
        return 0
    return LOSSY_TOLERANCE << max(0, geometry.bits_stored - 8)


@dataclass(slots=True)
class Walk:
    """What the detection walk read of each frame, for the verification to start from."""

    # The changing part read in each frame (the whole frame for the reference); None when
    # the frame held nothing new (identical to the reference, or to the frame before it).
    regions: list[Box | None] = field(default_factory=list)
    # How many mask boxes there were when the frame was last read: later ones are new to it
    # (its own finds included: they are added after it was read).
    seen: list[int] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return sum(region is not None for region in self.regions)

    def due(self, index: int, mask: Mask) -> Box | None:
        """What verification must read of this frame now (None: nothing it has not read)."""
        region = self.regions[index]
        if region is None:
            return None
        # What the frame showed the detector differs from its masked pixels only by paint:
        # by the masks added since, where they cover it (what it found there itself, or
        # what other frames found over its changing part). Paint takes text away, it does
        # not draw any; a text found and masked is checked for what the mask left of it.
        # Text the detector finds under paint is covered (``Mask.add`` adds nothing for it).
        new = [b for b in mask.boxes[self.seen[index] :] if b.overlaps(region)]
        if not new:
            return None
        if index == 0:
            return region
        # Only around what was masked since: elsewhere in the changing part the pixels are
        # the ones read and cleared already (outside it they are the reference's).
        left = min(b.left for b in new)
        top = min(b.top for b in new)
        right = max(b.right for b in new)
        bottom = max(b.bottom for b in new)
        return Box(left, top, right, bottom).grown(CROP_MARGIN, mask.width, mask.height)


def detect(source: BinaryIO, geometry: Geometry, mask: Mask, read: Read) -> Walk:
    """Read the reference whole and each later frame's changing part; masks go to ``mask``.

    Three frames at most are held: the reference, the frame before and the current one.
    """
    walk = Walk()
    limit = tolerance(geometry)
    whole = Box(0, 0, geometry.columns, geometry.rows)
    reference: Frame | None = None
    previous: Frame | None = None
    fill: Frame | None = None
    for frame in iter_frames(source, geometry):
        region: Box | None = None
        shown = frame
        if reference is None:
            reference, region = frame, whole
        elif previous is None or not np.array_equal(frame, previous):
            # (Equal to the frame before: a paused cine, read or skipped already.)
            moved = _moved(frame, reference, limit)
            region = _bounds(moved)
            if region is not None and mask.boxes:
                if fill is None:
                    fill = fill_value(geometry, frame.dtype)
                shown = _static_painted(frame, mask, moved, fill)
        previous = frame
        first = not walk.regions
        walk.regions.append(region)
        walk.seen.append(len(mask.boxes))
        if region is not None:
            mask.add(read(shown, region, first))
    return walk


def _moved(frame: Frame, reference: Frame, limit: int) -> npt.NDArray[np.bool_]:
    """Pixels (rows, columns) where the frame differs from the reference past ``limit``."""
    if not limit:
        moved = np.not_equal(frame, reference)
    elif frame.dtype.kind == "u":
        # |a - b| without a wider copy of both frames (unsigned: no wrap-around this way).
        moved = np.maximum(frame, reference) - np.minimum(frame, reference) > limit
    else:
        moved = np.abs(frame.astype(np.int64) - reference.astype(np.int64)) > limit
    return np.asarray(moved.any(axis=2) if moved.ndim == 3 else moved, dtype=np.bool_)


def _bounds(moved: npt.NDArray[np.bool_]) -> Box | None:
    """The changing part: bounding box of the moved pixels, with the crop margin."""
    return changed_region(moved, np.zeros_like(moved), CROP_MARGIN)


def _static_painted(frame: Frame, mask: Mask, moved: npt.NDArray[np.bool_], fill: Frame) -> Frame:
    """The frame with its masked pixels painted where they are still the reference's.

    Those show the static overlay the reference's read found (the same pixels): painted, a
    glyph of it cut by the changing part's edge is not found again in every frame. Masked
    pixels that moved stay as they are: a new text reaching under an old mask (a text
    moving a little from frame to frame) is read whole, not as the strip left beside the
    mask, which the detector may not find and the output would still show.
    """
    shown = frame.copy()
    shown[mask.pixels & ~moved] = fill
    return shown


def _masked(frame: Frame, mask: Mask, fill: Frame) -> Frame:
    masked = frame.copy()
    mask.apply(masked, fill)
    return masked


def verify(
    source: BinaryIO,
    geometry: Geometry,
    mask: Mask,
    walk: Walk,
    terms: dict[str, list[str]],
) -> int:
    """Read the masked frames until nothing readable is left; returns the rounds used.

    What the detector finds now is read: text spelling an identifying value (``terms``)
    where something is masked fails the image at once (the mask did not take it away);
    other readable text (a line the first frame's candidate crops did not cover, identifying
    or not) is masked and the frames it touches are read again in the next round;
    detections that do not read as characters (speckle, edges of the masks) are not text.
    Each round reads only what ``Walk.due`` says, decoding only those frames.
    """
    fill: Frame | None = None
    for round_number in range(1, MAX_ROUNDS + 1):
        due = {i: box for i in range(len(walk.regions)) if (box := walk.due(i, mask)) is not None}
        boxes_now = len(mask.boxes)
        left: list[Box] = []
        tight: list[Box] = []
        for index, frame in frames_at(source, geometry, due):
            if fill is None:
                fill = fill_value(geometry, frame.dtype)
            masked = _masked(frame, mask, fill)
            found, hugging = _leftovers(masked, due[index], geometry, terms, mask)
            left.extend(found)
            tight.extend(hugging)
            tight.extend(_missed_lines(frame, found, geometry, mask))
            walk.seen[index] = boxes_now
        if not left:
            return round_number
        # What is left is masked hugging its glyphs first (the image around stays as it
        # was); if that covers nothing new, the detector's whole boxes.
        if round_number == MAX_ROUNDS or not (mask.add(tight) or mask.add(left)):
            raise DeidFailure(
                Rejection.PIXEL_TEXT_REMAINS, f"{len(left)} text regions left after masking"
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _leftovers(
    frame: Frame, region: Box, geometry: Geometry, terms: dict[str, list[str]], mask: Mask
) -> tuple[list[Box], list[Box]]:
    """Readable text in ``region`` of a masked frame: its boxes, and those of the boxes that
    touch a mask hugging the ink (what the mask left of a text: ``_missed_lines`` masks the
    others)."""
    view = picture(frame, geometry)[region.top : region.bottom, region.left : region.right]
    crop = as_bgr(view)
    readable: list[Box] = []
    for reading in detector.read(crop, detector.detect(crop)):
        keyword = matching_keyword(reading.text, terms)
        if keyword is not None:
            box = reading.box.shifted(region.left, region.top)
            if _under_mask(box, mask):
                raise DeidFailure(
                    Rejection.PIXEL_TEXT_REMAINS, f"text spelling {keyword} left after masking"
                )
            readable.append(reading.box)
        elif detector.reads_as_text(reading):
            readable.append(reading.box)
    found = [b.shifted(region.left, region.top) for b in readable]
    touching = [b for b, f in zip(readable, found, strict=True) if _under_mask(f, mask)]
    return found, [b.shifted(region.left, region.top) for b in ink.tighten(view, touching)]


def _under_mask(box: Box, mask: Mask) -> bool:
    return bool(mask.pixels[box.top : box.bottom, box.left : box.right].any())


def _missed_lines(frame: Frame, found: list[Box], geometry: Geometry, mask: Mask) -> list[Box]:
    """Lines the first read did not mask (a line the candidate crops did not cover), read
    again on the frame's own pixels around them: on the masked frame the paint of a
    neighbouring line can hide a line's ends from the detector, and its mask would leave
    them. The detector's box stands when it finds nothing there now."""
    lines: list[Box] = []
    for box in found:
        if _under_mask(box, mask):
            continue
        around = box.grown(box.height + CROP_MARGIN, mask.width, mask.height)
        view = picture(frame, geometry)[around.top : around.bottom, around.left : around.right]
        again = ink.tighten(view, detector.text_boxes(as_bgr(view)))
        lines.extend([b.shifted(around.left, around.top) for b in again] or [box])
    return lines


def frames_at(
    source: BinaryIO, geometry: Geometry, indices: Iterable[int]
) -> Iterator[tuple[int, Frame]]:
    """The frames at ``indices`` (ascending), decoded as ``iter_frames`` does; others skipped."""
    wanted = sorted(set(indices))
    if not wanted:
        return
    frames = iter_frames(source, geometry, wanted)
    for index in wanted:
        frame = next(frames, None)
        if frame is None:
            raise DeidFailure(Rejection.PIXEL_UNDECODABLE, "fewer frames than the header says")
        yield index, frame


def masked_frames(source: BinaryIO, geometry: Geometry, mask: Mask) -> Iterator[Frame]:
    """Every frame with the mask painted (as decoded when the mask is empty)."""
    fill: Frame | None = None
    for frame in iter_frames(source, geometry):
        if not mask.boxes:
            yield frame
            continue
        if fill is None:
            fill = fill_value(geometry, frame.dtype)
        yield _masked(frame, mask, fill)
