"""A corpus of images with text burned into their pixels, and where that text is.

Ultrasound-like frames (a speckled sector on black, banners of patient data around it) and
screenshot-like ones (a coloured window with title bar, panels and a picture), single and
multi-frame, in every transfer syntax the cleaner reads, with Burned In Annotation YES, NO
or absent, plus images with no text at all. Every rendered string is returned with its
bounding box (the ground truth the tests and the benchmark check outputs against), and the
identifying ones with the header attribute they copy.

The names are synthetic; fonts, sizes, colours and positions vary with the seed.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
SYNTAXES: tuple[UID, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEG2000Lossless,
)
_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
)
_SURNAMES = ("PEREZ", "GARCIA", "MORALES", "QUISPE", "HUAMAN", "SALAZAR", "ROJAS", "VARGAS")
_GIVEN = ("LUCIA", "MATEO", "VALENTINA", "SANTIAGO", "CAMILA", "JOAQUIN", "ISABEL", "DIEGO")
_COLOURS = ((255, 255, 255), (255, 255, 0), (0, 255, 0), (0, 255, 255), (255, 200, 120))
Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class PlantedText:
    """One rendered string: its text, box (left, top, right, bottom) and source attribute."""

    text: str
    box: tuple[int, int, int, int]
    keyword: str | None  # the header attribute it copies; None for device text

    @property
    def identifying(self) -> bool:
        return self.keyword is not None


@dataclass(frozen=True, slots=True)
class BurnedInCase:
    """One object of the corpus and its ground truth."""

    label: str  # kind, frames, syntax, flag: never identifying
    data: bytes
    kind: str  # "ultrasound" or "screenshot"
    transfer_syntax: str
    frames: int
    flag: str | None
    texts: tuple[PlantedText, ...]
    identity: dict[str, str] = field(default_factory=dict)

    @property
    def has_text(self) -> bool:
        return bool(self.texts)


def _identity(rng: random.Random) -> dict[str, str]:
    birth = f"{rng.randint(1940, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return {
        "PatientName": f"{rng.choice(_SURNAMES)}^{rng.choice(_GIVEN)}",
        "PatientID": f"{rng.randint(10, 99)}-{rng.randint(100000, 999999)}",
        "PatientBirthDate": birth,
        "AccessionNumber": f"ACC{rng.randint(1000000, 9999999)}",
        "InstitutionName": rng.choice(("CLINICA SAN JUAN", "HOSPITAL DEL VALLE", "CENTRO ANDINO")),
    }


def _shown(keyword: str, value: str, rng: random.Random) -> str:
    """How a device prints a header value: names and dates in several styles."""
    if keyword == "PatientName":
        family, given = value.split("^")
        return rng.choice((f"{family}, {given}", f"{given} {family}", f"{family}^{given}"))
    if keyword == "PatientBirthDate":
        y, m, d = value[:4], value[4:6], value[6:]
        return rng.choice((f"{y}-{m}-{d}", f"{d}/{m}/{y}", value))
    if keyword == "PatientID":
        return rng.choice((value, f"ID: {value}"))
    return value


def _ultrasound(rows: int, cols: int, rng: np.random.Generator, shift: int) -> Frame:
    frame = np.zeros((rows, cols), dtype=np.uint8)
    sector = np.zeros((rows, cols), dtype=np.uint8)
    centre = (cols // 2 + shift, rows // 8)
    cv2.ellipse(sector, centre, (rows * 3 // 4, rows * 3 // 4), 90, -35, 35, 255, -1)
    speckle = rng.rayleigh(38.0, (rows, cols)).clip(0, 255).astype(np.uint8)
    depth = np.linspace(1.0, 0.5, rows, dtype=np.float32)[:, None]
    frame[sector > 0] = (speckle * depth).astype(np.uint8)[sector > 0]
    return frame


def _screenshot(rows: int, cols: int, rng: np.random.Generator, shift: int) -> Frame:
    frame = np.full((rows, cols, 3), (48, 44, 40), dtype=np.uint8)
    frame[: rows // 10] = (140, 70, 20)
    cv2.rectangle(frame, (cols // 8, rows // 5), (cols * 7 // 8, rows * 9 // 10), (20, 20, 20), -1)
    centre = (cols // 2 + shift, rows * 11 // 20)
    cv2.circle(frame, centre, rows // 4, (120, 110, 100), -1)
    noise = rng.normal(0, 6, (rows, cols, 1)).astype(np.int16)
    return (frame.astype(np.int16) + noise).clip(0, 255).astype(np.uint8)


def _put(
    frame: Frame, text: str, org: tuple[int, int], rng: random.Random
) -> tuple[int, int, int, int]:
    font = rng.choice(_FONTS)
    scale = rng.uniform(0.42, 0.7) if font != cv2.FONT_HERSHEY_PLAIN else rng.uniform(0.9, 1.3)
    thickness = rng.choice((1, 1, 2))
    colour = rng.choice(_COLOURS) if frame.ndim == 3 else (rng.choice((200, 230, 255)),)
    (width, height), baseline = cv2.getTextSize(text, font, scale, thickness)
    x, y = org
    x = min(max(2, x), frame.shape[1] - width - 2)
    cv2.putText(frame, text, (x, y + height), font, scale, colour, thickness, cv2.LINE_AA)
    return (x - thickness, y - thickness, x + width + thickness, y + height + baseline + thickness)


def _layout(frame: Frame, identity: dict[str, str], rng: random.Random) -> list[PlantedText]:
    rows, cols = frame.shape[:2]
    lines: list[tuple[str, str | None]] = [
        (_shown(k, identity[k], rng), k)
        for k in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber")
    ]
    lines.append((identity["InstitutionName"], "InstitutionName"))
    lines.append((rng.choice(("C5-1 5.0MHz", "L12-5 Gain 54", "Depth 16cm")), None))
    rng.shuffle(lines)
    corners = [(4, 4), (cols * 3 // 5, 4), (4, rows - 44), (cols * 3 // 5, rows - 44)]
    placed = []
    for index, (text, keyword) in enumerate(lines):
        x, y = corners[index % 4]
        y += (index // 4) * 22 * (1 if y < rows // 2 else -1)
        placed.append(
            PlantedText(text, _put(frame, text, (x + rng.randint(0, 8), y), rng), keyword)
        )
    return placed


def _encode(ds: Dataset, frames: list[Frame], syntax: UID) -> None:
    colour = frames[0].ndim == 3
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = frames[0].shape[:2]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
        ds.FrameIncrementPointer = 0x00181063
        ds.FrameTime = 33.3
    ds.file_meta.TransferSyntaxUID = syntax
    if syntax == JPEGBaseline8Bit:
        fragments = []
        for frame in frames:
            buffer = io.BytesIO()
            # 4:2:2 sub-sampling, as YBR_FULL_422 says.
            Image.fromarray(frame).save(buffer, "JPEG", quality=92, subsampling=1)
            fragments.append(buffer.getvalue())
        ds.PixelData = encapsulate(fragments)
        ds["PixelData"].VR = "OB"
        if colour:
            ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        return
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = np.stack(frames).tobytes()
    ds["PixelData"].VR = "OB"
    if syntax.is_compressed:
        ds.compress(syntax)
    else:
        ds.file_meta.TransferSyntaxUID = syntax


def make_case(
    seed: int,
    *,
    kind: str = "ultrasound",
    syntax: UID = ExplicitVRLittleEndian,
    frames: int = 1,
    flag: str | None = "NO",
    with_text: bool = True,
    rows: int = 240,
    cols: int = 320,
    still: bool = False,
) -> BurnedInCase:
    """One object; the same arguments give the same bytes.

    ``still``: every frame of a multi-frame object is the same picture (a paused cine).
    """
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    identity = _identity(rng)
    draw = _ultrasound if kind == "ultrasound" else _screenshot
    first = draw(rows, cols, noise, 0)
    texts = _layout(first, identity, rng) if with_text else []
    images = [first]
    for index in range(1, frames):
        if still:
            images.append(first.copy())
            continue
        frame = draw(rows, cols, noise, index % 5)
        overlay = first.copy()
        for planted in texts:
            left, top, right, bottom = planted.box
            frame[top:bottom, left:right] = overlay[top:bottom, left:right]
        images.append(frame)

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    if kind == "ultrasound":
        ds.SOPClassUID = US_MULTIFRAME if frames > 1 else US_IMAGE
        ds.Modality = "US"
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
    else:
        ds.SOPClassUID = SECONDARY_CAPTURE
        ds.Modality = "OT"
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ConversionType = "WSD"
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[f"sop-{seed}"])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"study-{seed}"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[f"series-{seed}"])
    for keyword, value in identity.items():
        setattr(ds, keyword, value)
    ds.StudyDate = "20240611"
    ds.StudyTime = "101500"
    ds.PatientSex = rng.choice(("F", "M"))
    ds.StudyID = str(rng.randint(1000, 9999))
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = "SYNTHETIC"
    ds.PatientOrientation = ""
    if flag is not None:
        ds.BurnedInAnnotation = flag
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    _encode(ds, images, UID(syntax))
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    content = "text" if with_text else "blank"
    label = f"{kind}-{frames}f-{UID(syntax).keyword}-{flag or 'absent'}-{content}"
    return BurnedInCase(
        label,
        buffer.getvalue(),
        kind,
        str(syntax),
        frames,
        flag,
        tuple(texts),
        identity if with_text else {},
    )


def make_corpus(
    seed: int = 0, *, rows: int = 240, cols: int = 320, multiframe: int = 6
) -> list[BurnedInCase]:
    """Every kind x syntax x flag with text, multi-frame variants, and images without text."""
    cases = []
    number = seed * 1000
    for kind in ("ultrasound", "screenshot"):
        for syntax in SYNTAXES:
            for flag in ("YES", "NO", None):
                number += 1
                cases.append(
                    make_case(number, kind=kind, syntax=syntax, flag=flag, rows=rows, cols=cols)
                )
            number += 1
            cases.append(
                make_case(
                    number,
                    kind=kind,
                    syntax=syntax,
                    flag="NO",
                    frames=multiframe,
                    rows=rows,
                    cols=cols,
                )
            )
            number += 1
            cases.append(
                make_case(
                    number,
                    kind=kind,
                    syntax=syntax,
                    flag=None,
                    with_text=False,
                    rows=rows,
                    cols=cols,
                )
            )
    return cases


__all__ = ["BurnedInCase", "PlantedText", "make_case", "make_corpus"]
