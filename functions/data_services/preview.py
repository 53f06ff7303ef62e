"""A PNG preview of an anonymized DICOM object, for the expert's review: bytes in, bytes
out (no I/O). Windowing from the object's VOI LUT or window center/width when present,
else its min-max; MONOCHROME1 inverted; the first frame of a multi-frame; colour kept;
downscaled to at most MAX_SIDE pixels on its longer side.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

from shared.domain.errors import PermanentError

MAX_SIDE = 512
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class NotRenderable(PermanentError):
    """The object holds no pixel data this renderer reads."""


def _scaled_to_bytes(pixels: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    values = pixels.astype(np.float64)
    low, high = float(np.min(values)), float(np.max(values))
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.clip((values - low) / (high - low) * 255.0, 0, 255).astype(np.uint8)


def _grey(dataset: pydicom.Dataset, frame: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    values = apply_modality_lut(frame, dataset)
    has_voi = "VOILUTSequence" in dataset or (
        "WindowCenter" in dataset and "WindowWidth" in dataset
    )
    if has_voi:
        values = apply_voi_lut(values, dataset, index=0)
    shown = _scaled_to_bytes(values)
    if str(dataset.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        shown = 255 - shown
    return shown


def render_png(data: bytes, max_side: int = MAX_SIDE) -> bytes:
    """The preview of a DICOM object (NotRenderable when it has no readable pixels)."""
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
        pixels = dataset.pixel_array
    except Exception as error:
        raise NotRenderable("not_renderable", "the object has no readable pixel data") from error
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    frame = pixels[0] if frames > 1 else pixels
    if samples >= 3:
        photometric = str(dataset.get("PhotometricInterpretation", "RGB")).upper()
        if photometric.startswith("YBR"):
            from pydicom.pixels.processing import convert_color_space

            frame = convert_color_space(frame, photometric, "RGB")
        rgb = frame[..., :3]
        rgb = rgb if rgb.dtype == np.uint8 else _scaled_to_bytes(rgb)
        image = Image.fromarray(np.ascontiguousarray(rgb))
    else:
        image = Image.fromarray(_grey(dataset, frame))
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
