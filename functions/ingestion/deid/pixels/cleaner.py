"""Find burned-in text, mask it, prove it is gone, write the pixels back: fail closed.

1. **Detect** (``multiframe.detect``): the first frame whole; every later frame only where
   it differs from the first (its changing part), with the masks found so far painted
   where its pixels are still the first frame's. A series' static overlay is so found once,
   in the first frame, and its masks cover all frames; text that appears, changes or moves
   in some frames differs from the first frame there, so it lies in those frames' changing
   part, read frame by frame. A cheap screen (``screen``) looks first: a frame (or changing
   part) in which it finds nothing text-like skips the detector; otherwise the detector
   reads its candidate crops: in the first frame what it finds there is masked (the
   verification reads that frame whole), in later frames the whole changing part is read
   when they hold text (``_detect_in``).
2. **Mask** every detected line (with a margin) in every frame.
3. **Verify** (``multiframe.verify``): the detector reads the masked first frame whole, and
   in the other frames around what was masked since they were read (elsewhere their pixels
   are those read and cleared already). Anything readable is masked too and the frames it
   touches are read again, at most ``multiframe.MAX_ROUNDS`` rounds; text still found then
   fails the image (``pixel_text_remains``), and so does, at once, an identifying value
   read under a mask (naming the attribute it spells).
4. **Encode** the masked frames losslessly (``encode``). An image in which nothing was
   found keeps its pixel bytes untouched — unless its header says text is burned in
   (``burned_in_annotation``: the detector and the header disagree, a human decides).

Only a few frames are ever held in memory (``multiframe.detect``: three at most).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from pydicom import dcmread

from ..reasons import DeidFailure, Rejection
from . import detector, ink, multiframe, screen
from .encode import NativeWriter, Payload, RleWriter
from .frames import Frame, as_bgr, picture
from .geometry import IMAGE_PIXEL_TAGS, Geometry, Held, Window, geometry_of
from .identity import identity_terms
from .masks import Box, Mask
from .summary import CleaningMethod, PixelCleaning

_GEOMETRY_TAGS = [0x00020010, *IMAGE_PIXEL_TAGS]


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


def read_geometry(source: BinaryIO) -> Geometry:
    source.seek(0)
    try:
        header = dcmread(source, stop_before_pixels=True, specific_tags=_GEOMETRY_TAGS)
    except Exception as exc:
        raise DeidFailure(Rejection.PIXEL_UNDECODABLE, type(exc).__name__) from None
    return geometry_of(header)


def _detect_in(
    frame: Frame, region: Box, geometry: Geometry, *, screened: bool, verified_whole: bool
) -> list[Box]:
    """Text lines the detector finds in ``region`` of a frame (frame coordinates).

    With the screen on, only the candidate regions the screen finds in ``region`` are read
    (a frame it clears skips the detector), and what the detector finds in them is what is
    masked when the verification reads the whole region again once anything is masked
    (``verified_whole``: a cine's reference frame, every single frame). A text the
    candidates did not cover is then found by that read, masked and verified in the next
    round: the detector reads the text-bearing frame whole once instead of twice (about
    half of an image's OCR time). The whole region is read, as without the screen, when a
    line found in a crop touches the crop's side (it may go on past it: a mask of the part
    shown would leave glyphs of it that the verification cannot read, but a viewer can), and
    where the verification reads only around new masks (a cine's later frames).
    """
    view = picture(frame, geometry)[region.top : region.bottom, region.left : region.right]
    whole = Box(0, 0, region.width, region.height)
    if screened:
        reads = screen.candidates(view)
        if not reads:
            return []
        if reads != [whole]:
            found: list[Box] = []
            cut = False
            for candidate in reads:
                read = _aligned(candidate, whole)
                crop = view[read.top : read.bottom, read.left : read.right]
                boxes = detector.text_boxes(as_bgr(crop))
                cut = cut or any(_cut_by(box, read, whole) for box in boxes)
                found.extend(b.shifted(read.left, read.top) for b in ink.tighten(crop, boxes))
            if not found:
                return []
            if verified_whole and not cut:
                return [b.shifted(region.left, region.top) for b in found]
    # Masks hug the glyphs, not the detector's padded boxes (``ink``): the image around the
    # text stays as it was.
    boxes = ink.tighten(view, detector.text_boxes(as_bgr(view)))
    return [b.shifted(region.left, region.top) for b in boxes]


# A line the detector finds this close to a crop's side may go on past it: the screen gives
# every candidate ``screen.MARGIN`` pixels of room, and the detector may stop a few pixels
# short of a glyph the side cuts.
_CUT = screen.MARGIN // 2
# The detector resizes its input to multiples of this many pixels a side: a crop of other
# sizes comes back with boxes a pixel or two off, and masks leave glyph rims.
_DETECTOR_STEP = 32


def _aligned(crop: Box, region: Box) -> Box:
    """The crop grown to multiples of the detector's step (inside the region), so that the
    detector reads it at its own scale."""

    def span(start: int, end: int, limit: int) -> tuple[int, int]:
        size = min(limit, -(-(end - start) // _DETECTOR_STEP) * _DETECTOR_STEP)
        end = min(limit, start + size)
        return end - size, end

    left, right = span(crop.left, crop.right, region.width)
    top, bottom = span(crop.top, crop.bottom, region.height)
    return Box(left, top, right, bottom)


def _cut_by(box: Box, crop: Box, region: Box) -> bool:
    """True when a line found in a crop touches a side of the crop inside the region: its
    glyphs may go on past the crop, and a mask of what the crop showed would leave them."""
    return (
        (box.left < _CUT and crop.left > 0)
        or (box.top < _CUT and crop.top > 0)
        or (box.right > crop.width - _CUT and crop.right < region.right)
        or (box.bottom > crop.height - _CUT and crop.bottom < region.bottom)
    )


def clean_pixels(
    source: BinaryIO,
    *,
    geometry: Geometry | None = None,
    burned_in_flag: str,
    identity: dict[str, str],
    implicit: bool,
    little: bool,
) -> CleanedPixels:
    """Check one image for burned-in text and clean it; raises ``DeidFailure`` to quarantine.

    ``source`` is the object as a stream starting at its first byte (the pydicom fallback
    re-encodes what it reads, so every object arrives as one); ``identity`` maps attribute
    keywords to the header's identifying values, used only to name, in a failure, which
    attribute the text left behind spells. ``geometry``: what the caller's parser read of the
    header (``geometry.located``); None reads it from ``source`` with pydicom.
    """
    if geometry is None:
        geometry = read_geometry(source)
    mask = Mask(geometry.columns, geometry.rows)
    screened = screen.enabled()

    def read(frame: Frame, region: Box, verified_whole: bool) -> list[Box]:
        return _detect_in(frame, region, geometry, screened=screened, verified_whole=verified_whole)

    walk = multiframe.detect(source, geometry, mask, read)
    checked = walk.checked
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

    rounds = multiframe.verify(source, geometry, mask, walk, identity_terms(identity))
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


def _encode(
    source: BinaryIO, geometry: Geometry, mask: Mask, *, implicit: bool, little: bool
) -> Payload:
    writer: NativeWriter | RleWriter
    if geometry.encapsulated:
        writer = RleWriter(geometry)
    else:
        writer = NativeWriter(
            geometry, str(geometry.transfer_syntax), implicit=implicit, little=little
        )
    try:
        for frame in multiframe.masked_frames(source, geometry, mask):
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


def source_window(fp: BinaryIO, origin: int, data: bytes | None = None) -> BinaryIO:
    """The object's stream with its first byte at offset 0 (over ``data``, the object's
    bytes, when the reader holds them)."""
    if data is not None:
        return Held(data)  # type: ignore[return-value]
    return fp if origin == 0 else Window(fp, origin)  # type: ignore[return-value]
