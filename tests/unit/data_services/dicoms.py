"""Small synthetic DICOM objects for the preview tests (no patient data: generated pixels)."""

from __future__ import annotations

import io

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid


def dicom_bytes(
    rows: int = 600,
    columns: int = 700,
    *,
    frames: int = 1,
    photometric: str = "MONOCHROME2",
    colour: bool = False,
    window: tuple[float, float] | None = (1000.0, 2000.0),
) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.7")
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else photometric
    bits = 8 if colour else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    shape: tuple[int, ...] = (rows, columns, 3) if colour else (rows, columns)
    if colour:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
        shape = (frames, *shape)
    gradient = np.arange(int(np.prod(shape))) % (256 if colour else 4096)
    ds.PixelData = gradient.astype(np.uint8 if colour else np.uint16).reshape(shape).tobytes()
    if window is not None and not colour:
        ds.WindowCenter, ds.WindowWidth = window
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
