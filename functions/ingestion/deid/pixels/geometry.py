"""What the pixel cleaner needs to know about an image, read from its header only."""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from pydicom.dataset import Dataset
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import UID

from ..reasons import DeidFailure, Rejection

_NATIVE_BITS = frozenset({8, 16, 32})
# The Image Pixel module's elements a geometry is made of (pydicom's iter_pixels reads the
# same ones, and the extended offset table).
IMAGE_PIXEL_TAGS = (
    0x00280002,
    0x00280004,
    0x00280006,
    0x00280008,
    0x00280010,
    0x00280011,
    0x00280100,
    0x00280101,
    0x00280103,
)
_LOSSLESS_ENCAPSULATED = frozenset(
    {
        "1.2.840.10008.1.2.5",  # RLE Lossless
        "1.2.840.10008.1.2.4.57",  # JPEG Lossless
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
        "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless Only
        "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
        "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    }
)


@dataclass(frozen=True, slots=True)
class Geometry:
    """Image Pixel module facts of one object and how its frames are encoded."""

    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    planar: int
    frames: int
    transfer_syntax: UID
    # Where the pixel value starts in the object, and the decoder's options, when the
    # caller's parser has found them (``located``): frames are then decoded without pydicom
    # parsing the header a second time. None: pydicom finds the pixel data itself.
    pixel_value_at: int | None = None
    pixel_value_end: int | None = None
    decode_options: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def encapsulated(self) -> bool:
        return bool(self.transfer_syntax.is_encapsulated)

    @property
    def lossy_source(self) -> bool:
        """True when decoding cannot give back the acquired values (lossy transfer syntax)."""
        return self.encapsulated and str(self.transfer_syntax) not in _LOSSLESS_ENCAPSULATED

    @property
    def decoded_photometric(self) -> str:
        """Photometric interpretation of the decoded frames we clean and write back.

        Native frames are decoded raw (no colour conversion: values outside the masks stay
        bit-identical); sub-sampled YBR_FULL_422 comes back full. Compressed colour frames
        come back as RGB, as every viewer decodes them.
        """
        if self.samples == 3 and self.encapsulated:
            return "RGB"
        if self.photometric == "YBR_FULL_422":
            return "YBR_FULL"
        return self.photometric


@dataclass(frozen=True, slots=True)
class PixelValue:
    """Where a parser found the first pixel data element: what ``iter_pixels`` looks up."""

    value_at: int  # offset of the element's value from the object's first byte
    value_end: int  # and of its end
    keyword: str  # PixelData, FloatPixelData or DoubleFloatPixelData
    vr: str | None  # the element's explicit VR (None: implicit VR)


def located(ds: Dataset, value: PixelValue) -> Geometry:
    """Geometry of a header whose pixel value a parser located (``ds``: its Image Pixel
    elements and file meta), carrying the options ``iter_pixels`` would derive from the
    same elements, so that frames are decoded exactly as it decodes them."""
    geometry = geometry_of(ds)
    try:
        options = as_pixel_options(ds, transfer_syntax_uid=geometry.transfer_syntax)
    except Exception:  # pydicom's own path fails the same header with its reason
        return geometry
    options["pixel_keyword"] = value.keyword
    if value.vr is not None:
        options["pixel_vr"] = value.vr
    return replace(
        geometry,
        pixel_value_at=value.value_at,
        pixel_value_end=value.value_end,
        decode_options=options,
    )


def geometry_of(ds: Dataset) -> Geometry:
    """Geometry from a header; fails with ``pixel_undecodable`` when it cannot be cleaned."""

    def number(keyword: str, default: int | None = None) -> int:
        value = ds.get(keyword)
        if value is None or value == "":
            if default is None:
                raise DeidFailure(Rejection.PIXEL_UNDECODABLE, f"{keyword} missing")
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise DeidFailure(Rejection.PIXEL_UNDECODABLE, f"{keyword} not a number") from None

    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    geometry = Geometry(
        rows=number("Rows"),
        columns=number("Columns"),
        samples=number("SamplesPerPixel", 1),
        bits_allocated=number("BitsAllocated"),
        bits_stored=number("BitsStored", number("BitsAllocated")),
        signed=number("PixelRepresentation", 0) == 1,
        photometric=str(ds.get("PhotometricInterpretation", "") or "").strip().upper(),
        planar=number("PlanarConfiguration", 0),
        frames=max(1, number("NumberOfFrames", 1)),
        transfer_syntax=syntax,
    )
    if geometry.bits_allocated not in _NATIVE_BITS:
        raise DeidFailure(Rejection.PIXEL_UNDECODABLE, "bits allocated not 8, 16 or 32")
    if geometry.samples not in (1, 3) or geometry.rows < 1 or geometry.columns < 1:
        raise DeidFailure(Rejection.PIXEL_UNDECODABLE, "unsupported image shape")
    return geometry


class Window(io.RawIOBase):
    """A read-only view of a stream from ``origin`` on, so that offset 0 is the object's start.

    pydicom's frame iterator rewinds its source to 0; a caller's stream may hold the object
    further in.
    """

    def __init__(self, fp: BinaryIO, origin: int) -> None:
        super().__init__()
        self._fp = fp
        self._origin = origin

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            return self._fp.seek(self._origin + offset) - self._origin
        return self._fp.seek(offset, whence) - self._origin

    def tell(self) -> int:
        return self._fp.tell() - self._origin

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._fp.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Held(io.RawIOBase):
    """A read-only stream over an object held in memory, which also lends its bytes
    (``view``): native frames are then decoded as views of them, not read into copies."""

    def __init__(self, data: bytes | memoryview) -> None:
        super().__init__()
        self.view = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self.view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self.view[self._pos : self._pos + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)
