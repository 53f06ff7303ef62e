"""A corpus of images with text burned into their pixels, and where that text is.

Ultrasound-like frames (a speckled sector on black, banners of patient data around it) and
screenshot-like ones (a coloured window with title bar, panels and a picture), single and
multi-frame, in every transfer syntax the cleaner reads, with Burned In Annotation YES, NO
or absent, plus images with no text at all. Also CT-like slices (signed 16-bit: a body with
fat, lungs and their vessels, heart, spine, ribs and the table) and MR-like head slices
(unsigned 12-bit), with no flag, with and without scanner text in the corners
(``make_tomo_corpus``): the detector must find the text there and paint nothing else.
Every rendered string is returned with its bounding box (the ground truth the tests and the
benchmark check outputs against), and the identifying ones with the header attribute they
copy.

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
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
# Lossless syntaxes for 16-bit slices (JPEG baseline is 8-bit only).
TOMO_SYNTAXES: tuple[UID, ...] = (
    ExplicitVRLittleEndian,
    RLELossless,
    JPEGLSLossless,
    JPEG2000Lossless,
)
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
    kind: str  # "ultrasound", "screenshot", "ct" or "mr"
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


def _ellipse(
    canvas: npt.NDArray[np.float32],
    centre: tuple[int, int],
    axes: tuple[int, int],
    value: float,
    angle: float = 0.0,
) -> None:
    mask = np.zeros(canvas.shape, dtype=np.uint8)
    cv2.ellipse(mask, centre, axes, angle, 0, 360, 1, -1)
    canvas[mask > 0] = value


def _ct(rows: int, cols: int, rng: np.random.Generator, slice_index: int) -> npt.NDArray[np.int16]:
    """A chest slice in Hounsfield units: air, fat, muscle, lungs, vessels, bone, table."""
    hu = np.full((rows, cols), -1000.0, dtype=np.float32)
    cx, cy = cols // 2, rows // 2 - rows // 20
    jitter = int(rng.integers(-6, 7))
    w, h = cols * 2 // 5 + jitter, rows * 3 // 10 + jitter // 2
    _ellipse(hu, (cx, cy), (w, h), -100.0)  # subcutaneous fat
    _ellipse(hu, (cx, cy), (w - 12, h - 12), 45.0)  # muscle and mediastinum
    for side in (-1, 1):
        lung = (cx + side * w // 2, cy - h // 10)
        _ellipse(hu, lung, (w * 2 // 5, h * 7 // 10), -850.0, angle=side * 8.0)
        for _ in range(14):  # vessels: small bright dots and short branches
            x = lung[0] + int(rng.integers(-w // 3, w // 3))
            y = lung[1] + int(rng.integers(-h // 2, h // 2))
            _ellipse(hu, (x, y), (int(rng.integers(2, 6)), int(rng.integers(2, 4))), 40.0)
    _ellipse(hu, (cx + w // 10, cy + h // 6), (w // 4, h // 3), 55.0, angle=20.0)  # heart
    spine = (cx, cy + h * 2 // 3)
    _ellipse(hu, spine, (w // 9, h // 6), 700.0)
    _ellipse(hu, spine, (w // 16, h // 10), 250.0)
    for k in range(-5, 6):  # ribs around the chest wall
        angle = np.pi / 2 + k * 0.27
        x = int(cx + (w - 8) * np.cos(angle + np.pi))
        y = int(cy - (h - 8) * np.sin(angle + np.pi))
        _ellipse(hu, (x, y), (7, 4), 650.0, angle=float(np.degrees(angle)))
    table = np.zeros((rows, cols), dtype=np.uint8)
    top = cy + h + 18 + slice_index % 3
    cv2.ellipse(table, (cx, top - 300), (cols // 2 - 20, 300), 0, 40, 140, 1, 5)
    hu[table > 0] = 200.0
    hu += rng.normal(0.0, 12.0, hu.shape).astype(np.float32)
    # Outside the reconstruction circle: padding, as scanners store it.
    outside = np.ones((rows, cols), dtype=np.uint8)
    cv2.circle(outside, (cols // 2, rows // 2), min(rows, cols) // 2 - 1, 0, -1)
    hu[outside > 0] = -2000.0
    return np.asarray(hu.clip(-2000, 3071).round(), dtype=np.int16)


def _mr(rows: int, cols: int, rng: np.random.Generator, slice_index: int) -> npt.NDArray[np.uint16]:
    """An axial head slice, 12-bit magnitude: skull, grey and white matter, ventricles."""
    signal = np.zeros((rows, cols), dtype=np.float32)
    cx, cy = cols // 2, rows // 2
    w, h = cols * 3 // 8, rows * 9 // 20 - slice_index % 4
    _ellipse(signal, (cx, cy), (w, h), 1500.0)  # scalp fat, bright on T1
    _ellipse(signal, (cx, cy), (w - 6, h - 6), 150.0)  # skull
    _ellipse(signal, (cx, cy), (w - 12, h - 12), 1100.0)  # grey matter
    _ellipse(signal, (cx, cy), (w - 26, h - 30), 1450.0)  # white matter
    for side in (-1, 1):
        _ellipse(signal, (cx + side * w // 8, cy - h // 12), (w // 12, h // 4), 350.0, side * 12.0)
    signal += np.abs(rng.normal(0.0, 40.0, signal.shape)).astype(np.float32)
    return np.asarray(signal.clip(0, 4095).round(), dtype=np.uint16)


def _burn(frame: npt.NDArray[np.generic], canvas: Frame, value: int) -> npt.NDArray[np.generic]:
    """Text drawn on ``canvas`` (0-255, anti-aliased) composited into a 16-bit slice."""
    alpha = canvas.astype(np.float32) / 255.0
    mixed = frame.astype(np.float32) * (1.0 - alpha) + value * alpha
    return np.asarray(mixed.round(), dtype=frame.dtype)


def _put(
    frame: Frame,
    text: str,
    org: tuple[int, int],
    rng: random.Random,
    room: tuple[int, int] | None = None,
) -> tuple[int, int, int, int]:
    """Draw ``text`` at ``org``; returns its box. Shrunk to fit ``room`` (width, height).

    Devices do not print text over text: on a small frame a long string is drawn smaller
    rather than over its neighbour (the draws from ``rng`` are the same either way, so
    frames with room for every string are unchanged).
    """
    font = rng.choice(_FONTS)
    scale = rng.uniform(0.42, 0.7) if font != cv2.FONT_HERSHEY_PLAIN else rng.uniform(0.9, 1.3)
    thickness = rng.choice((1, 1, 2))
    colour = rng.choice(_COLOURS) if frame.ndim == 3 else (rng.choice((200, 230, 255)),)
    while True:
        (width, height), baseline = cv2.getTextSize(text, font, scale, thickness)
        fits = room is None or (
            width + 2 * thickness <= room[0] and height + baseline + 2 * thickness <= room[1]
        )
        if fits or scale < 0.25:
            break
        scale *= 0.92
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
        org = (x + rng.randint(0, 8), y)
        # Each corner's column ends where the next one starts; each line 22 px below the last.
        right = cols * 3 // 5 - 4 if x < cols * 3 // 5 else cols - 2
        room = (right - org[0], 20)
        placed.append(PlantedText(text, _put(frame, text, org, rng, room), keyword))
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


def make_tomo_case(  # noqa: PLR0915 - a flat builder reads like the object it builds
    seed: int,
    *,
    kind: str = "ct",
    syntax: UID = ExplicitVRLittleEndian,
    with_text: bool = True,
    flag: str | None = None,
    rows: int = 512,
    cols: int = 512,
) -> BurnedInCase:
    """A CT-like (signed 16-bit) or MR-like (12-bit) slice; text, if any, in the corners."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    identity = _identity(rng)
    if kind == "ct":
        pixels: npt.NDArray[np.generic] = _ct(rows, cols, noise, seed)
        white, bits, signed = 3071, 16, True
    else:
        pixels = _mr(rows, cols, noise, seed)
        white, bits, signed = 4095, 12, False
    texts: list[PlantedText] = []
    if with_text:
        canvas = np.zeros((rows, cols), dtype=np.uint8)
        texts = _layout(canvas, identity, rng)
        pixels = _burn(pixels, canvas, white)

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = CT_IMAGE if kind == "ct" else MR_IMAGE
    ds.Modality = kind.upper()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[f"tomo-sop-{seed}"])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"tomo-study-{seed}"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[f"tomo-series-{seed}"])
    for keyword, value in identity.items():
        setattr(ds, keyword, value)
    ds.StudyDate, ds.StudyTime = "20240611", "101500"
    ds.PatientSex = rng.choice(("F", "M"))
    ds.StudyID = str(rng.randint(1000, 9999))
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Manufacturer = "SYNTHETIC"
    ds.PatientOrientation = ""
    if kind == "ct":
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = 40, 400
    if flag is not None:
        ds.BurnedInAnnotation = flag
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits, bits - 1
    ds.PixelRepresentation = int(signed)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds["PixelData"].VR = "OW"
    if UID(syntax).is_compressed:
        ds.compress(syntax)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    content = "text" if with_text else "blank"
    label = f"{kind}-1f-{UID(syntax).keyword}-{flag or 'absent'}-{content}"
    return BurnedInCase(
        label,
        buffer.getvalue(),
        kind,
        str(syntax),
        1,
        flag,
        tuple(texts),
        identity if with_text else {},
    )


def make_tomo_corpus(seed: int = 0, *, blank_slices: int = 8) -> list[BurnedInCase]:
    """CT (512x512) and MR (256x256) slices with no flag, in every lossless syntax, with and
    without scanner text, plus ``blank_slices`` more text-free CT slices (false positives)."""
    cases = []
    number = 50_000 + seed * 1000
    for kind, size in (("ct", 512), ("mr", 256)):
        for syntax in TOMO_SYNTAXES:
            for with_text in (True, False):
                number += 1
                cases.append(
                    make_tomo_case(
                        number, kind=kind, syntax=syntax, with_text=with_text, rows=size, cols=size
                    )
                )
    for _ in range(blank_slices):
        number += 1
        cases.append(make_tomo_case(number, with_text=False))
    return cases


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


__all__ = [
    "BurnedInCase",
    "PlantedText",
    "make_case",
    "make_corpus",
    "make_tomo_case",
    "make_tomo_corpus",
]
