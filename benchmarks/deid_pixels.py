"""Benchmark of burned-in text cleaning on a generated corpus, against a baseline in one run.

Corpus (infra/samples/burned_in.py): ultrasound-like and screenshot-like images with the
patient's name, id, birth date, accession number and institution rendered in varied fonts,
sizes, colours and positions; single and multi-frame; in every transfer syntax the cleaner
reads; with Burned In Annotation YES, NO and absent; plus images without text. Also CT-like
(512x512, signed 16-bit) and MR-like (256x256, 12-bit) slices with no flag, with and without
scanner text, and pydicom's own CT/MR/CR/... files that carry no flag (real anatomy): the
false positives are the text-free ones whose pixels changed or that were not released.

Everything runs in one child process, ONNX Runtime with one thread; seconds are CPU seconds
of that process (one core's work). Printed, never judged:

* share of text-bearing images released (goal >= 95%), and of text-free images released
  with their pixel bytes untouched;
* identifying strings a second, independent OCR engine (Tesseract, if installed) reads in
  the outputs (goal 0), next to what it reads in the inputs (its sensitivity);
* planted boxes not fully painted over (ground truth), and the share of pixels outside the
  planted text boxes (grown by the mask margin) that changed, overall and per image
  (goal: no image over 1%);
* false-positive images: text-free CT/MR slices (generated and real) changed or refused
  (goal 0), and CPU seconds per CT frame;
* CPU seconds per single-frame file and per multi-frame frame, as a ratio to a plain pydicom
  read + decode + write of the same files, and peak RSS;
* CPU seconds of real cines with a burned-in overlay (pydicom-data's 120-frame ultrasound
  ``color3d_jpeg_baseline.dcm``: the file that dominated a real corpus's cost), per file and
  per frame, with the frames read and regions masked.

    python benchmarks/deid_pixels.py [--rows 480 --cols 640] [--frames 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_KEY = b"benchmark-key-not-a-secret-0123456789"
# Real multi-frame files with text burned into every frame (pydicom-data).
REAL_CINES = ("color3d_jpeg_baseline.dcm",)
MARGIN = 4  # the cleaner's mask margin: pixels this close to a glyph box count as text


def _baseline_seconds(data: bytes) -> float:
    """Plain pydicom: read, decode every frame, write back (no de-identification)."""
    import pydicom

    start = time.process_time()
    ds = pydicom.dcmread(io.BytesIO(data))
    _ = ds.pixel_array
    ds.save_as(io.BytesIO())
    return time.process_time() - start


def _changed_outside(case: Any, output: bytes) -> tuple[int, int]:
    from tests.unit.deid.pixel_checks import frames_of, text_mask

    before, after = frames_of(case.data), frames_of(output)
    outside = ~text_mask(case, before[0].shape, margin=MARGIN)
    changed = total = 0
    for a, b in zip(before, after, strict=True):
        diff = a != b
        diff = diff.any(axis=2) if diff.ndim == 3 else diff
        changed += int(diff[outside].sum())
        total += int(outside.sum())
    return changed, total


def child(rows: int, cols: int, frames: int, seed: int) -> None:
    # One ONNX Runtime thread: the seconds below are CPU seconds of one core (process time,
    # meaningful on a busy shared machine, unlike wall time).
    os.environ["SALUDTECH_OCR_THREADS"] = "1"
    warnings.simplefilter("ignore")
    from functions.ingestion.deid import Deidentifier
    from functions.ingestion.deid.burned_in import checked_for_flag_only, facts_from_dataset
    from functions.ingestion.deid.pixels.cleaner import clean_pixels  # noqa: F401 - warm import
    from functions.ingestion.deid.pixels.detector import engine
    from infra.samples.burned_in import make_corpus, make_tomo_corpus
    from tests.unit.deid.helpers import pydicom_corpus
    from tests.unit.deid.pixel_checks import (
        TESSERACT,
        frames_of,
        identity_read,
        tesseract_text,
        uncovered_boxes,
    )

    cases = make_corpus(seed, rows=rows, cols=cols, multiframe=frames) + make_tomo_corpus(seed)
    build = time.process_time()
    engine()
    build = time.process_time() - build
    deid = Deidentifier(BENCH_KEY)
    stats: dict[str, Any] = {
        "files": len(cases),
        "engine_build_s": build,
        "text_files": 0,
        "text_released": 0,
        "blank_files": 0,
        "blank_untouched": 0,
        "reasons": {},
        "uncovered": 0,
        "changed": 0,
        "outside": 0,
        "worst_outside": [0.0, ""],  # the image with the largest share (label: no PHI)
        "over_1pct": 0,
        "single": [0.0, 0.0, 0],  # ours, baseline, files (single-frame ultrasound)
        "single_sc": [0.0, 0.0, 0],
        "multi": [0.0, 0.0, 0],  # ours, baseline, frames
        "ct": [0.0, 0.0, 0],  # generated CT slices, 512x512 (per frame)
        "mr": [0.0, 0.0, 0],
        "real": [0.0, 0.0, 0],  # pydicom's flag-less CT/MR/CR/... (per frame)
        "tomo_blank": 0,
        "tomo_fp": 0,
        "real_files": 0,
        "real_fp": 0,
        "real_reasons": {},
        "tesseract": TESSERACT is not None,
        "read_in": 0,
        "read_out": 0,
        "checked_strings": 0,
    }
    for case in cases:
        out = io.BytesIO()
        start = time.process_time()
        result = deid.deidentify(case.data, "bench-center", out)
        seconds = time.process_time() - start
        base = _baseline_seconds(case.data)
        tomo = case.kind in ("ct", "mr")
        if tomo:
            bucket = stats[case.kind]
            bucket[2] += 1
        elif case.frames > 1:
            bucket = stats["multi"]
            bucket[2] += case.frames
        else:
            bucket = stats["single"] if case.kind == "ultrasound" else stats["single_sc"]
            bucket[2] += 1
        bucket[0] += seconds
        bucket[1] += base
        if result.reason is not None:
            stats["reasons"][result.reason.value] = stats["reasons"].get(result.reason.value, 0) + 1
        output = out.getvalue()
        if not case.has_text:
            stats["blank_files"] += 1
            same = False
            if result.ok:
                import pydicom

                same = (
                    pydicom.dcmread(io.BytesIO(output)).PixelData
                    == pydicom.dcmread(io.BytesIO(case.data)).PixelData
                )
                stats["blank_untouched"] += int(same)
            if tomo:
                stats["tomo_blank"] += 1
                stats["tomo_fp"] += int(not same)
            continue
        stats["text_files"] += 1
        if not result.ok:
            continue
        stats["text_released"] += 1
        stats["uncovered"] += len(uncovered_boxes(case, output))
        changed, outside = _changed_outside(case, output)
        stats["changed"] += changed
        stats["outside"] += outside
        share = changed / max(outside, 1)
        stats["over_1pct"] += int(share > 0.01)
        if share >= stats["worst_outside"][0]:
            stats["worst_outside"] = [share, case.label]
        if TESSERACT is not None:
            identifying = sum(1 for t in case.texts if t.identifying)
            stats["checked_strings"] += identifying
            stats["read_in"] += len(identity_read(case, tesseract_text(frames_of(case.data)[0])))
            decoded = frames_of(output)
            # First and last frame: Tesseract costs about a second a frame here.
            sampled = decoded if len(decoded) <= 2 else [decoded[0], decoded[-1]]
            stats["read_out"] += sum(
                len(identity_read(case, tesseract_text(frame))) for frame in sampled
            )
    import pydicom

    for path in pydicom_corpus():
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
            data = path.read_bytes()
            if b"\xe0\x7f\x10\x00" not in data or not checked_for_flag_only(
                facts_from_dataset(header)
            ):
                continue
            count = max(1, int(header.get("NumberOfFrames", 1) or 1))
            source_pixels = pydicom.dcmread(io.BytesIO(data)).PixelData
            base = _baseline_seconds(data)
        except Exception:  # unreadable test files are not this measure's business
            continue
        out = io.BytesIO()
        start = time.process_time()
        result = deid.deidentify(data, "bench-center", out)
        stats["real"][0] += time.process_time() - start
        stats["real"][1] += base
        stats["real"][2] += count
        stats["real_files"] += 1
        if result.reason is not None:
            reasons = stats["real_reasons"]
            reasons[result.reason.value] = reasons.get(result.reason.value, 0) + 1
        changed = not result.ok or (
            pydicom.dcmread(io.BytesIO(out.getvalue())).PixelData != source_pixels
        )
        stats["real_fp"] += int(changed)
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    stats["peak_rss_mb"] = peak / 1024
    # The cines last, after the peak is read: their baseline decodes all 120 frames at once.
    stats["cines"] = []
    for path in pydicom_corpus():
        if path.name not in REAL_CINES:
            continue
        data = path.read_bytes()
        base = _baseline_seconds(data)
        out = io.BytesIO()
        start = time.process_time()
        result = deid.deidentify(data, "bench-center", out)
        seconds = time.process_time() - start
        summary = result.pixel_cleaning
        stats["cines"].append(
            {
                "name": path.name,
                "seconds": seconds,
                "baseline": base,
                "reason": result.reason.value if result.reason else None,
                "frames": summary.frames if summary else 0,
                "checked": summary.frames_checked if summary else 0,
                "regions": summary.regions_masked if summary else 0,
            }
        )
    print(json.dumps(stats))


def report(stats: dict[str, Any], rows: int, cols: int, frames: int) -> None:
    def per(bucket: list[float], unit: str) -> str:
        ours, base, count = bucket
        if not count:
            return f"no {unit}"
        return (
            f"{ours / count:.3f} s per {unit} (baseline pydicom read+decode+write "
            f"{base / count:.4f} s: x{ours / max(base, 1e-9):.0f})"
        )

    text, blank = stats["text_files"], stats["blank_files"]
    print(f"corpus: {stats['files']} files ({rows}x{cols}, multi-frame {frames} frames), one core")
    print(f"OCR engine build (once per process): {stats['engine_build_s']:.2f} s CPU")
    print(
        f"released: {stats['text_released']}/{text} text-bearing "
        f"= {100 * stats['text_released'] / max(text, 1):.1f}% (goal >= 95%); "
        f"text-free released with pixel bytes untouched: {stats['blank_untouched']}/{blank}"
    )
    print(f"reasons: {stats['reasons']}")
    print(f"planted boxes not fully painted over (ground truth): {stats['uncovered']}")
    share = 100 * stats["changed"] / max(stats["outside"], 1)
    worst, label = stats["worst_outside"]
    print(
        f"pixels changed outside the text boxes (+{MARGIN} px): {share:.2f}% overall; "
        f"images over 1%: {stats['over_1pct']} (goal 0); worst {100 * worst:.2f}% ({label})"
    )
    if stats["tesseract"]:
        print(
            f"second OCR (Tesseract): identifying strings read in inputs "
            f"{stats['read_in']}/{stats['checked_strings']}, in outputs {stats['read_out']} (goal 0)"
        )
    else:
        print("second OCR: skipped (apt-get install tesseract-ocr)")
    print("single-frame ultrasound: " + per(stats["single"], "file"))
    print("single-frame screenshot: " + per(stats["single_sc"], "file"))
    print("multi-frame: " + per(stats["multi"], "frame"))
    print("CT slice 512x512, no flag: " + per(stats["ct"], "frame"))
    print("MR slice 256x256, no flag: " + per(stats["mr"], "frame"))
    print(
        f"false positives: text-free generated CT/MR changed or refused "
        f"{stats['tomo_fp']}/{stats['tomo_blank']}; pydicom's flag-less CT/MR/CR/... files "
        f"changed or refused {stats['real_fp']}/{stats['real_files']} "
        f"(reasons {stats['real_reasons']}) (goal 0)"
    )
    print("pydicom's flag-less CT/MR/CR/... files: " + per(stats["real"], "frame"))
    for cine in stats["cines"]:
        frames = max(cine["frames"], 1)
        print(
            f"real cine {cine['name']}: {cine['seconds']:.2f} s CPU "
            f"({cine['seconds'] / frames:.3f} s per frame, baseline pydicom read+decode+write "
            f"{cine['baseline']:.2f} s: x{cine['seconds'] / max(cine['baseline'], 1e-9):.0f}); "
            f"frames {cine['frames']}, read {cine['checked']}, regions masked {cine['regions']}, "
            f"refused: {cine['reason']}"
        )
    print(f"peak RSS (before the real cines): {stats['peak_rss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=480)
    parser.add_argument("--cols", type=int, default=640)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.rows, args.cols, args.frames, args.seed)
        return
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--rows",
            str(args.rows),
            "--cols",
            str(args.cols),
            "--frames",
            str(args.frames),
            "--seed",
            str(args.seed),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    report(json.loads(done.stdout.strip().splitlines()[-1]), args.rows, args.cols, args.frames)


if __name__ == "__main__":
    main()
