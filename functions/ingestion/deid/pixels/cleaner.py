"""Find burned-in text, mask it, prove it is gone, write the pixels back: fail closed.

1. **Detect**, frame by frame: the first frame whole; every later frame only where it
   differs from the frame before (a static overlay is found once and its rectangle masks
   all frames; text that appears or changes lies in the changed region by construction).
   A cheap screen (``screen``) looks first: a frame (or changed region) in which it finds
   nothing text-like skips the detector; otherwise the detector reads its candidate crops,
   and the whole region when they hold text. Safe for the static overlay too: an unchanged
   area is the same pixels the screen (or the detector) already judged in an earlier
   frame, and the changed region's margin is wider than anything the screen looks across.
2. **Mask** every detected line (with a margin) in every frame.
3. **Verify**: the same walk over the masked frames. Anything the detector still finds is
   masked too and the walk runs again, at most ``MAX_ROUNDS`` times; text still found then
   fails the image (``pixel_text_remains``), naming any identifying attribute it spells.
4. **Encode** the masked frames losslessly (``encode``). An image in which nothing was
   found keeps its pixel bytes untouched — unless its header says text is burned in
   (``burned_in_annotation``: the detector and the header disagree, a human decides).

Only one or two frames are ever held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset

from ..reasons import DeidFailure, Rejection
from . import detector, ink, screen
from .encode import NativeWriter, Payload, RleWriter
from .frames import Frame, as_bgr, fill_value, iter_frames, picture
from .geometry import Geometry, Window, geometry_of
from .identity import identity_terms, matching_keyword
from .masks import Box, Mask, changed_region
from .summary import CleaningMethod, PixelCleaning

MAX_ROUNDS = 3
# Context around a changed region: the detector needs whole glyphs and some background.
_CROP_MARGIN = 24
# Lossy frames differ by coding noise even where nothing moved.
_LOSSY_TOLERANCE = 8
_GEOMETRY_TAGS = [
    0x00020010,
    0x00280002,
    0x00280004,
    0x00280006,
    0x00280008,
    0x00280010,
    0x00280011,
    0x00280100,
    0x00280101,
    0x00280103,
]


@dataclass(frozen=True, slots=True)
class HeaderEdit:
    """An attribute the header must carry once the pixels are cleaned."""

    tag: int
    keyword: str
    vr: str
    value: str | int
    only_if_absent: bool = False


@dataclass(slots=True)
class CleanedPixels:
    """The outcome for a clean image: summary, new pixels (None: copy the source's)."""

    summary: PixelCleaning
    payload: Payload | None
    transfer_syntax: str
    edits: tuple[HeaderEdit, ...]

    def close(self) -> None:
        if self.payload is not None:
            self.payload.close()


def read_geometry(source: BinaryIO | Dataset) -> Geometry:
    if isinstance(source, Dataset):
        return geometry_of(source)
    source.seek(0)
    try:
        header = dcmread(source, stop_before_pixels=True, specific_tags=_GEOMETRY_TAGS)
    except Exception as exc:
        raise DeidFailure(Rejection.PIXEL_UNDECODABLE, type(exc).__name__) from None
    return geometry_of(header)


def _tolerance(geometry: Geometry) -> int:
    if not geometry.lossy_source:
        return 0
    return _LOSSY_TOLERANCE << max(0, geometry.bits_stored - 8)


def _regions(
    frames: Iterator[Frame], geometry: Geometry, mask: Mask | None
) -> Iterator[tuple[Frame, Box | None]]:
    """Each frame (masked when ``mask`` is given) and the region the detector must read.

    The region is the whole frame for the first one, the part that changed since the
    previous frame for the others (None: identical, nothing new to read).
    """
    fill = None
    previous: Frame | None = None
    tolerance = _tolerance(geometry)
    whole = Box(0, 0, geometry.columns, geometry.rows)
    for frame in frames:
        if previous is None:
            region: Box | None = whole
        elif tolerance:
            moved = np.abs(frame.astype(np.int32) - previous.astype(np.int32)) > tolerance
            region = changed_region(moved, np.zeros_like(moved), _CROP_MARGIN)
        else:
            region = changed_region(frame, previous, _CROP_MARGIN)
        previous = frame
        if mask is not None and mask.boxes:
            if fill is None:
                fill = fill_value(geometry, frame.dtype)
            masked = frame.copy()
            mask.apply(masked, fill)
            yield masked, region
        else:
            yield frame, region


def _detect_in(frame: Frame, region: Box, geometry: Geometry, *, screened: bool) -> list[Box]:
    """Text lines the detector finds in ``region`` of a frame (frame coordinates).

    With the screen on, only the candidate regions the screen finds in ``region`` are read
    (a frame it clears skips the detector). When a candidate holds text, the whole region
    is read again, as without the screen: the masks of a text-bearing frame are then
    exactly those of an unscreened run, and the crops only decide whether to look.
    """
    view = picture(frame, geometry)[region.top : region.bottom, region.left : region.right]
    if screened:
        reads = screen.candidates(view)
        whole = Box(0, 0, region.width, region.height)
        if reads and reads != [whole]:
            found = [
                box
                for read in reads
                for box in detector.text_boxes(
                    as_bgr(view[read.top : read.bottom, read.left : read.right])
                )
            ]
            reads = [whole] if found else []
        if not reads:
            return []
    # Masks hug the glyphs, not the detector's padded boxes (``ink``): the image around
    # the text stays as it was.
    boxes = ink.tighten(view, detector.text_boxes(as_bgr(view)))
    return [b.shifted(region.left, region.top) for b in boxes]


def clean_pixels(
    source: BinaryIO | Dataset,
    *,
    burned_in_flag: str,
    identity: dict[str, str],
    implicit: bool,
    little: bool,
) -> CleanedPixels:
    """Check one image for burned-in text and clean it; raises ``DeidFailure`` to quarantine.

    ``source`` is the object as a stream starting at its first byte (or a dataset holding
    its pixels); ``identity`` maps attribute keywords to the header's identifying values,
    used only to name, in a failure, which attribute the text left behind spells.
    """
    geometry = read_geometry(source)
    mask = Mask(geometry.columns, geometry.rows)
    screened = screen.enabled()
    checked = 0
    for frame, region in _regions(iter_frames(source, geometry), geometry, None):
        if region is not None:
            mask.add(_detect_in(frame, region, geometry, screened=screened))
            checked += 1
    name = detector.detector_name()
    if not mask.boxes:
        if burned_in_flag == "YES":
            raise DeidFailure(
                Rejection.BURNED_IN_ANNOTATION,
                "header says burned-in text; the detector found none",
            )
        summary = PixelCleaning(
            CleaningMethod.OCR_NO_TEXT,
            name,
            geometry.frames,
            checked,
            0,
            0.0,
            0,
            True,
            str(geometry.transfer_syntax),
            geometry.lossy_source,
        )
        return CleanedPixels(summary, None, str(geometry.transfer_syntax), (_NO_TEXT_LEFT,))

    rounds = _verify(source, geometry, mask, identity)
    payload = _encode(source, geometry, mask, implicit=implicit, little=little)
    summary = PixelCleaning(
        CleaningMethod.OCR_MASKED,
        name,
        geometry.frames,
        checked,
        len(mask.boxes),
        mask.masked_pixels / (geometry.rows * geometry.columns),
        rounds,
        True,
        str(geometry.transfer_syntax),
        geometry.lossy_source,
    )
    return CleanedPixels(summary, payload, payload.transfer_syntax, _edits(geometry))


def _verify(
    source: BinaryIO | Dataset, geometry: Geometry, mask: Mask, identity: dict[str, str]
) -> int:
    """Walk the masked frames until nothing readable is left; returns the rounds used.

    What the detector finds now is read: text spelling an identifying value fails the image
    at once; other readable text is masked and the walk repeats; detections that do not
    read as characters (speckle, edges of the masks) are not text.
    """
    terms = identity_terms(identity)
    for round_number in range(1, MAX_ROUNDS + 1):
        left: list[Box] = []
        tight: list[Box] = []
        for frame, region in _regions(iter_frames(source, geometry), geometry, mask):
            if region is None:
                continue
            view = picture(frame, geometry)[region.top : region.bottom, region.left : region.right]
            crop = as_bgr(view)
            found = detector.detect(crop)
            readable: list[Box] = []
            for reading in detector.read(crop, found):
                keyword = matching_keyword(reading.text, terms)
                if keyword is not None:
                    raise DeidFailure(
                        Rejection.PIXEL_TEXT_REMAINS, f"text spelling {keyword} left after masking"
                    )
                if detector.reads_as_text(reading):
                    readable.append(reading.box)
            left.extend(b.shifted(region.left, region.top) for b in readable)
            tight.extend(b.shifted(region.left, region.top) for b in ink.tighten(view, readable))
        if not left:
            return round_number
        # What is left is masked hugging its glyphs first (the image around stays as it
        # was); if that covers nothing new, the detector's whole boxes.
        if round_number == MAX_ROUNDS or not (mask.add(tight) or mask.add(left)):
            raise DeidFailure(
                Rejection.PIXEL_TEXT_REMAINS, f"{len(left)} text regions left after masking"
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _encode(
    source: BinaryIO | Dataset, geometry: Geometry, mask: Mask, *, implicit: bool, little: bool
) -> Payload:
    writer: NativeWriter | RleWriter
    if geometry.encapsulated:
        writer = RleWriter(geometry)
    else:
        writer = NativeWriter(
            geometry, str(geometry.transfer_syntax), implicit=implicit, little=little
        )
    try:
        for frame, _ in _regions(iter_frames(source, geometry), geometry, mask):
            writer.add(frame)
        return writer.finish()
    except BaseException:
        writer.payload.close()
        raise


_NO_TEXT_LEFT = HeaderEdit(0x00280301, "BurnedInAnnotation", "CS", "NO")


def _edits(geometry: Geometry) -> tuple[HeaderEdit, ...]:
    edits = [_NO_TEXT_LEFT]
    if geometry.decoded_photometric != geometry.photometric:
        edits.append(
            HeaderEdit(0x00280004, "PhotometricInterpretation", "CS", geometry.decoded_photometric)
        )
    if geometry.encapsulated and geometry.samples == 3:
        edits.append(HeaderEdit(0x00280006, "PlanarConfiguration", "US", 0))
    if geometry.lossy_source:
        # The values were lossy-compressed once: that stays true of the lossless output.
        edits.append(
            HeaderEdit(0x00282110, "LossyImageCompression", "CS", "01", only_if_absent=True)
        )
    return tuple(edits)


def source_window(fp: BinaryIO, origin: int) -> BinaryIO:
    """The object's stream with its first byte at offset 0."""
    return fp if origin == 0 else Window(fp, origin)  # type: ignore[return-value]
