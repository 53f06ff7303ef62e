"""Recall and cost of the pixel screen (functions/ingestion/deid/pixels/screen.py) vs the OCR.

The contract of the screen: a frame in which the OCR detector finds text is never cleared.
For every frame of every file (whole frames, the first ``MAX_FRAMES`` of a multi-frame
object), three runs of the cleaner's own detection step (``cleaner._detect_in``):

* the OCR on the whole frame, as with ``SALUDTECH_PIXEL_SCREEN=off``: does it find text?
* the screen alone: does it keep the frame (any candidate region)?
* the screened step (screen, then the OCR on the candidate crops): does it find text?

A *miss* is a frame where the whole-frame OCR finds text and the screened step finds none
(the screen cleared it, or its crops held nothing the OCR read): listed one by one.
In a text-bearing frame, what the crops find is masked and the verification reads the
frame whole (``cleaner._detect_in``): a line the whole-frame OCR finds that no crop's box
touches is *left to the verification* (masked one round later): counted, not a miss.
Costs are CPU seconds (process time, one ONNX Runtime thread), printed as ratios to the
whole-frame OCR on the same frames, measured in the same run.

Corpora: (a) the generated burned-in corpus (ultrasound, screenshots, every syntax,
single and multi-frame), (b) CT-like and MR-like slices with and without scanner text,
(c) pydicom's test files with pixels and pydicom-data's (``data_store``), read from disk,
(d) short strings (a lone orientation letter, two letters) drawn on text-free CT and MR
slices: a known gap of the screen (see its docstring), measured so that it stays known.

For text-free frames the screen kept, ``crops_sent`` counts the OCR calls on crops it cost.

    python -m benchmarks.deid_screen [--seed 0] [--rows 480 --cols 640]

``recall_report(files)`` is the measure on any list of files (benchmarks/deid.py uses it on
its corpus). Labels are file names: run it on public or synthetic files only.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Frames read per multi-frame file: the OCR costs ~0.1 s a frame, and later frames of a
# cine repeat the first one's overlay.
MAX_FRAMES = 8


def recall_report(files: Sequence[Path]) -> dict[str, Any]:
    """Recall of the screened detection against the whole-frame OCR on ``files``.

    Keys: ``frames``, ``text_frames`` (whole-frame OCR finds text), ``misses`` (one
    "label frame N: reason" per missed frame), ``recall`` (1.0 when no text frame),
    ``screen_kept`` (frames the screen did not clear), ``cleared_text_free`` (text-free
    frames the screen cleared), ``crops_sent`` (crops of text-free frames read by the OCR
    for nothing), ``screen_s``, ``ocr_s``, ``screened_s`` (CPU seconds: the
    screen alone, the whole-frame OCR, the screened step), ``skipped`` (files not
    decodable as images).
    """
    warnings.simplefilter("ignore")
    from functions.ingestion.deid.pixels import screen
    from functions.ingestion.deid.pixels.cleaner import _detect_in, read_geometry
    from functions.ingestion.deid.pixels.frames import iter_frames, picture
    from functions.ingestion.deid.pixels.masks import Box
    from functions.ingestion.deid.reasons import DeidFailure

    report: dict[str, Any] = {
        "frames": 0,
        "text_frames": 0,
        "misses": [],
        "screen_kept": 0,
        "cleared_text_free": 0,
        "crops_sent": 0,
        "lines": 0,
        "lines_left": 0,
        "screen_s": 0.0,
        "ocr_s": 0.0,
        "screened_s": 0.0,
        "skipped": 0,
    }
    for path in files:
        try:
            data = path.read_bytes()
            geometry = read_geometry(io.BytesIO(data))
            frames = iter_frames(io.BytesIO(data), geometry)
            whole = Box(0, 0, geometry.columns, geometry.rows)
            for index, frame in enumerate(frames):
                if index >= MAX_FRAMES:
                    break
                start = time.process_time()
                regions = screen.candidates(picture(frame, geometry))
                middle = time.process_time()
                kept = bool(regions)
                found = _detect_in(frame, whole, geometry, screened=False, verified_whole=True)
                end = time.process_time()
                screened = _detect_in(frame, whole, geometry, screened=True, verified_whole=True)
                report["screened_s"] += time.process_time() - end
                report["screen_s"] += middle - start
                report["ocr_s"] += end - middle
                report["frames"] += 1
                report["screen_kept"] += int(kept)
                if not found:
                    report["cleared_text_free"] += int(not kept)
                    report["crops_sent"] += len(regions) if regions != [whole] else 0
                    continue
                report["text_frames"] += 1
                report["lines"] += len(found)
                report["lines_left"] += sum(not any(b.overlaps(s) for s in screened) for b in found)
                if not screened:
                    why = "screen cleared it" if not kept else "its candidate crops read nothing"
                    report["misses"].append(f"{path.name} frame {index}: {why}")
        except (DeidFailure, OSError, ValueError, KeyError, AttributeError, TypeError):
            # Not an image the cleaner reads (no pixels, undecodable): not this measure's.
            report["skipped"] += 1
    text = report["text_frames"]
    report["recall"] = 1.0 if not text else (text - len(report["misses"])) / text
    return report


def engine_cost(cases: Sequence[Any], repeat: int = 3) -> dict[str, float]:
    """CPU seconds per slice through the engine: screen on, screen off, header only.

    Header only is the same slice flagged ``BurnedInAnnotation = NO`` (a trusted no: the
    pixels are not checked), the speed of a header-only tool on this engine.
    """
    from pydicom import dcmread

    from functions.ingestion.deid import Deidentifier
    from functions.ingestion.deid.pixels import PIXEL_SCREEN_ENV

    deid = Deidentifier(b"benchmark-key-not-a-secret-0123456789")
    flagged = []
    for case in cases:
        ds = dcmread(io.BytesIO(case.data))
        ds.BurnedInAnnotation = "NO"
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        flagged.append(buffer.getvalue())
    seconds: dict[str, float] = {}
    for mode, datas, screen_value in (
        ("header_only", flagged, "on"),
        ("screen_on", [c.data for c in cases], "on"),
        ("screen_off", [c.data for c in cases], "off"),
    ):
        os.environ[PIXEL_SCREEN_ENV] = screen_value
        start = time.process_time()
        for _ in range(repeat):
            for data in datas:
                deid.deidentify(data, "bench-center", io.BytesIO())
        seconds[mode] = (time.process_time() - start) / (repeat * max(len(datas), 1))
    os.environ.pop(PIXEL_SCREEN_ENV, None)
    try:  # a header-only peer, when installed (requirements-bench.txt)
        from dicognito.anonymizer import Anonymizer
    except ImportError:
        return seconds
    anonymizer = Anonymizer()
    start = time.process_time()
    for _ in range(repeat):
        for data in flagged:
            ds = dcmread(io.BytesIO(data))
            anonymizer.anonymize(ds)
            ds.save_as(io.BytesIO())
    seconds["dicognito"] = (time.process_time() - start) / (repeat * max(len(flagged), 1))
    return seconds


def _write(cases: Sequence[Any], folder: Path) -> list[Path]:
    paths = []
    for number, case in enumerate(cases):
        path = folder / f"{number:03d}-{case.label}.dcm"
        path.write_bytes(case.data)
        paths.append(path)
    return paths


def _short_strings(folder: Path, seed: int) -> list[Path]:
    """Text-free CT and MR slices, each with one short string drawn on air or on the body."""
    import cv2
    import numpy as np
    from pydicom import dcmread

    from infra.samples.burned_in import make_tomo_case

    paths = []
    for kind, size, white in (("ct", 512, 3071), ("mr", 256, 4095)):
        case = make_tomo_case(70_000 + seed, kind=kind, with_text=False, rows=size, cols=size)
        for text in ("L", "R", "CT", "T2"):
            for scale in (0.6, 0.9, 1.4):
                for where in ("air", "body"):
                    ds = dcmread(io.BytesIO(case.data))
                    pixels = ds.pixel_array
                    canvas = np.zeros(pixels.shape, dtype=np.uint8)
                    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
                    x = 8 if where == "air" else (size - width) // 2
                    org = (x, (size + height) // 2)
                    cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 2)
                    pixels[canvas > 0] = white
                    ds.PixelData = pixels.tobytes()
                    path = folder / f"{kind}-{text.replace(' ', '_')}-{scale}-{where}.dcm"
                    ds.save_as(path, enforce_file_format=True)
                    paths.append(path)
    return paths


def _real_files() -> list[Path]:
    from tests.unit.deid.helpers import pydicom_corpus

    files = []
    for path in pydicom_corpus():
        try:
            if b"\xe0\x7f\x10\x00" in path.read_bytes():
                files.append(path)
        except OSError:
            continue
    return files


def _print(name: str, report: dict[str, Any]) -> None:
    frames = max(report["frames"], 1)
    ocr = max(report["ocr_s"], 1e-9)
    text_free = report["frames"] - report["text_frames"]
    print(
        f"{name}: {report['frames']} frames, OCR finds text in {report['text_frames']}, "
        f"misses {len(report['misses'])}, recall {report['recall']:.3f}; "
        f"screen kept {report['screen_kept']}, cleared {report['cleared_text_free']}/"
        f"{text_free} text-free ({report['crops_sent']} crops sent for nothing); "
        f"skipped files {report['skipped']}"
    )
    print(
        f"  text lines the OCR finds: {report['lines']}, left to the verification "
        f"(no crop's box touches them): {report['lines_left']}"
    )
    print(
        f"  CPU per frame: screen {1000 * report['screen_s'] / frames:.1f} ms "
        f"(x{report['screen_s'] / ocr:.3f} of the OCR), whole-frame OCR "
        f"{1000 * report['ocr_s'] / frames:.1f} ms, screened step "
        f"{1000 * report['screened_s'] / frames:.1f} ms (x{report['screened_s'] / ocr:.2f})"
    )
    for miss in report["misses"]:
        print(f"  miss: {miss}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=480)
    parser.add_argument("--cols", type=int, default=640)
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args()
    # One ONNX Runtime thread: CPU seconds of one core, comparable between runs.
    os.environ.setdefault("SALUDTECH_OCR_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from functions.ingestion.deid.pixels.detector import engine
    from infra.samples.burned_in import make_corpus, make_tomo_case, make_tomo_corpus

    engine()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / "burned").mkdir()
        (base / "tomo").mkdir()
        (base / "short").mkdir()
        burned = _write(
            make_corpus(args.seed, rows=args.rows, cols=args.cols, multiframe=args.frames),
            base / "burned",
        )
        tomo = _write(make_tomo_corpus(args.seed), base / "tomo")
        corpora = {
            "(a) generated burned-in corpus": burned,
            "(b) CT/MR-like slices, with and without scanner text": tomo,
            "(c) real files (pydicom, pydicom-data)": _real_files(),
        }
        short = _short_strings(base / "short", args.seed)
        totals: dict[str, Any] = {}
        for name, files in corpora.items():
            report = recall_report(files)
            _print(name, report)
            for key, value in report.items():
                if isinstance(value, list):
                    totals.setdefault(key, []).extend(value)
                elif key != "recall":
                    totals[key] = totals.get(key, 0) + value
        text = totals["text_frames"]
        totals["recall"] = 1.0 if not text else (text - len(totals["misses"])) / text
        print()
        _print("all (a-c)", totals)
        print()
        _print("(d) short strings on CT/MR (known gap, not in 'all')", recall_report(short))
    print()
    for kind, size in (("ct", 512), ("mr", 256)):
        blank = [
            make_tomo_case(
                60_000 + args.seed * 100 + n, kind=kind, with_text=False, rows=size, cols=size
            )
            for n in range(8)
        ]
        cost = engine_cost(blank)
        header = max(cost["header_only"], 1e-9)
        print(
            f"text-free {kind.upper()} {size}x{size} through the engine, CPU per slice: "
            f"header only {1000 * header:.1f} ms, screen on {1000 * cost['screen_on']:.1f} ms "
            f"(x{cost['screen_on'] / header:.1f}), screen off {1000 * cost['screen_off']:.1f} ms "
            f"(x{cost['screen_off'] / header:.1f})"
        )
        if "dicognito" in cost:
            peer = cost["dicognito"]
            print(
                f"  dicognito (header only) {1000 * peer:.1f} ms per slice: screen on "
                f"x{cost['screen_on'] / peer:.2f} of its time, screen off "
                f"x{cost['screen_off'] / peer:.2f}"
            )


if __name__ == "__main__":
    main()
