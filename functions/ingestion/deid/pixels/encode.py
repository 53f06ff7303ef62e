"""Writing cleaned frames back as one Pixel Data element, lossless, into a spooled file.

Native sources stay native in their own transfer syntax (the header's encoding does not
change; values outside the masks are the stored ones). Compressed sources become RLE
Lossless, one fragment per frame: lossless, fast, and decoded by every toolkit.
"""

from __future__ import annotations

import struct
import tempfile
from typing import BinaryIO, Protocol

import numpy as np
from pydicom.pixels.encoders.base import get_encoder
from pydicom.uid import RLELossless

from ..reasons import DeidFailure, Rejection
from .frames import Frame
from .geometry import Geometry

_PIXEL_DATA = (0x7FE0, 0x0010)
_UNDEFINED = 0xFFFFFFFF
_SPOOL = 32 * 1024 * 1024
_CHUNK = 1024 * 1024


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


class Payload:
    """The encoded Pixel Data element (header and value), held in a spooled temporary file."""

    def __init__(self, transfer_syntax: str) -> None:
        self.transfer_syntax = transfer_syntax
        self._file: BinaryIO = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # type: ignore[assignment]  # noqa: SIM115
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def write_to(self, sink: BinaryIO, digest: Digest) -> int:
        self._file.seek(0)
        while chunk := self._file.read(_CHUNK):
            sink.write(chunk)
            digest.update(chunk)
        return self.size

    def close(self) -> None:
        self._file.close()


class NativeWriter:
    """Frames as stored values, in the source's byte order and explicit/implicit encoding."""

    def __init__(
        self, geometry: Geometry, transfer_syntax: str, *, implicit: bool, little: bool
    ) -> None:
        self._geometry = geometry
        self._little = little
        self.payload = Payload(transfer_syntax)
        nbytes = geometry.bits_allocated // 8
        # Sub-sampled YBR_FULL_422 is written back full (YBR_FULL): three samples a pixel.
        length = geometry.rows * geometry.columns * geometry.samples * nbytes * geometry.frames
        self._pad = length % 2
        endian = "<" if little else ">"
        vr = b"OB" if nbytes == 1 else b"OW"
        header = (
            struct.pack(endian + "HHL", *_PIXEL_DATA, length + self._pad)
            if implicit
            else struct.pack(endian + "HH2sHL", *_PIXEL_DATA, vr, 0, length + self._pad)
        )
        self.payload.write(header)
        kind = "i" if geometry.signed else "u"
        self._dtype = np.dtype(f"{endian}{kind}{nbytes}")

    def add(self, frame: Frame) -> None:
        values = frame.astype(self._dtype, copy=False)
        if values.ndim == 3 and self._geometry.planar == 1:
            values = values.transpose(2, 0, 1)
        self.payload.write(np.ascontiguousarray(values).tobytes())

    def finish(self) -> Payload:
        if self._pad:
            self.payload.write(b"\x00")
        return self.payload


class RleWriter:
    """Frames as RLE Lossless fragments in encapsulated Pixel Data (little endian)."""

    def __init__(self, geometry: Geometry) -> None:
        self._geometry = geometry
        self._encoder = get_encoder(RLELossless)
        self.payload = Payload(str(RLELossless))
        # Undefined length, an empty Basic Offset Table item, then one item per frame.
        self.payload.write(struct.pack("<HH2sHL", *_PIXEL_DATA, b"OB", 0, _UNDEFINED))
        self.payload.write(struct.pack("<HHL", 0xFFFE, 0xE000, 0))

    def add(self, frame: Frame) -> None:
        geometry = self._geometry
        try:
            fragment = self._encoder.encode(
                np.ascontiguousarray(frame),
                rows=geometry.rows,
                columns=geometry.columns,
                samples_per_pixel=geometry.samples,
                bits_allocated=geometry.bits_allocated,
                bits_stored=geometry.bits_stored,
                pixel_representation=int(geometry.signed),
                photometric_interpretation=geometry.decoded_photometric,
                planar_configuration=0,
                number_of_frames=1,
            )
        except Exception as exc:
            raise DeidFailure(
                Rejection.PIXEL_UNDECODABLE, f"RLE encoding failed: {type(exc).__name__}"
            ) from None
        if len(fragment) % 2:
            fragment += b"\x00"
        self.payload.write(struct.pack("<HHL", 0xFFFE, 0xE000, len(fragment)))
        self.payload.write(fragment)

    def finish(self) -> Payload:
        self.payload.write(struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))
        return self.payload
