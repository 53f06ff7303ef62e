"""Frames one at a time: decode, render for the detector, and the value that masks them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import convert_color_space
from pydicom.pixels.utils import iter_pixels

from ..reasons import DeidFailure, Rejection
from .detector import Image
from .geometry import Geometry, Held

Frame = npt.NDArray[np.generic]


def iter_frames(
    source: BinaryIO, geometry: Geometry, indices: Sequence[int] | None = None
) -> Iterator[Frame]:
    """Decoded frames of the object, one at a time (memory: one frame, not the image): all
    of them, or those at ``indices`` (ascending). Frames may be read-only: copy to paint.

    Native frames are decoded raw, so values are the stored ones; compressed colour frames
    are converted to RGB by the decoder, as a viewer shows them. When the parser located the
    pixel value (``Geometry.pixel_value_at``), pydicom's decoder starts there with the
    options its ``iter_pixels`` would read from the same elements: the same frames, without
    parsing the header again (about 0.3 ms of a 0.5 ms decode of a CT slice).
    """
    raw = not geometry.encapsulated
    # Native frames whose bits need no correction come as read-only views of the bytes
    # read (of the object itself when it is ``Held`` in memory), not as copies: a copy, or
    # a read into fresh memory, was most of a CT slice's decode. Nothing here paints a
    # decoded frame in place (``_masked`` and ``_static_painted`` copy first).
    view = raw and geometry.bits_stored == geometry.bits_allocated
    try:
        start, end = geometry.pixel_value_at, geometry.pixel_value_end
        if start is None or end is None:
            decoded = iter_pixels(source, raw=raw, indices=indices, view_only=view)
        else:
            held = source.view if isinstance(source, Held) and raw else None
            source.seek(start)
            arrays = get_decoder(geometry.transfer_syntax).iter_array(
                source if held is None else held[start:end],
                indices=indices,
                validate=True,
                raw=raw,
                view_only=view,
                **geometry.decode_options,
            )
            decoded = (array for array, _ in arrays)
        for frame in decoded:
            if frame.shape[:2] != (geometry.rows, geometry.columns):
                raise DeidFailure(Rejection.PIXEL_UNDECODABLE, "frame shape differs")
            yield frame
    except DeidFailure:
        raise
    except Exception as exc:
        # The decoder's message may echo header values: the exception type only.
        raise DeidFailure(Rejection.PIXEL_UNDECODABLE, type(exc).__name__) from None


def render(frame: Frame, geometry: Geometry) -> Image:
    """An 8-bit BGR picture of the frame, as the detector expects it."""
    return as_bgr(picture(frame, geometry))


def picture(frame: Frame, geometry: Geometry) -> Image:
    """The 8-bit picture of the frame as a viewer shows it: grey (2-D) or BGR.

    Grey stays one channel: the screen reads it as is, and only the crops that go to the
    detector are made three-channel (``as_bgr``).
    """
    photometric = geometry.decoded_photometric
    if frame.ndim == 3:
        rgb = frame
        if photometric.startswith("YBR"):
            rgb = convert_color_space(frame, photometric, "RGB")
        if rgb.dtype != np.uint8:
            rgb = _stretch(rgb)
        return np.ascontiguousarray(rgb[:, :, ::-1], dtype=np.uint8)
    grey = frame if frame.dtype == np.uint8 else _stretch(frame)
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return np.ascontiguousarray(grey, dtype=np.uint8)


def as_bgr(image: Image) -> Image:
    """A three-channel copy of a grey picture (a BGR one is returned as is)."""
    if image.ndim == 3:
        return np.ascontiguousarray(image)
    return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))


def _stretch(values: Frame) -> Image:
    low = float(values.min())
    high = float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float32) - low) * (255.0 / (high - low))
    return scaled.astype(np.uint8)


def fill_value(geometry: Geometry, dtype: np.dtype[np.generic]) -> Frame:
    """The "black" of the decoded frames: what masked pixels become."""
    bits = geometry.bits_stored
    low = -(1 << (bits - 1)) if geometry.signed else 0
    high = (1 << (bits - 1)) - 1 if geometry.signed else (1 << bits) - 1
    photometric = geometry.decoded_photometric
    if photometric == "MONOCHROME1":
        return np.array(high, dtype=dtype)
    if photometric.startswith("YBR") and geometry.samples == 3:
        return np.array([0, 1 << (bits - 1), 1 << (bits - 1)], dtype=dtype)
    if geometry.samples == 3:
        return np.zeros(3, dtype=dtype)
    return np.array(low, dtype=dtype)
