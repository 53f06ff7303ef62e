"""Build the stand-in ``opencv-python`` wheel that installs ``opencv-python-headless`` instead.

``rapidocr-onnxruntime`` (the burned-in text detector) declares ``opencv-python``, whose
``cv2`` links ``libGL.so.1``: the Cloud Functions runtime has no libGL, so ``import cv2``
fails there and every image that needs a pixel check would be quarantined. The headless
build is the same ``cv2`` API without the GUI (and without libGL). pip cannot override a
dependency, so ``requirements.txt`` installs this empty wheel under the name
``opencv-python`` (it satisfies ``opencv-python>=4.5.1.48``) and it requires
``opencv-python-headless`` at the same version. The wheel is committed (``wheels/``) and
rebuilt byte for byte by this script (fixed timestamps), which a test checks:

    python -m tools.opencv_shim            # writes wheels/opencv_python-<v>+headless-...whl
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
import zipfile
from pathlib import Path

VERSION = "5.1.0.95"
NAME = f"opencv_python-{VERSION}+headless"
WHEEL_NAME = f"{NAME}-py3-none-any.whl"
ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "wheels" / WHEEL_NAME
_STAMP = (2026, 1, 1, 0, 0, 0)


def _files() -> dict[str, bytes]:
    info = f"{NAME}.dist-info"
    metadata = (
        "Metadata-Version: 2.1\n"
        "Name: opencv-python\n"
        f"Version: {VERSION}+headless\n"
        "Summary: Stand-in for opencv-python: installs opencv-python-headless (same cv2, no"
        " libGL), for SaludTech's Cloud Functions\n"
        f"Requires-Dist: opencv-python-headless=={VERSION}\n"
    )
    wheel = (
        "Wheel-Version: 1.0\nGenerator: saludtech tools.opencv_shim\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    return {f"{info}/METADATA": metadata.encode(), f"{info}/WHEEL": wheel.encode()}


def build() -> bytes:
    """The wheel's bytes (deterministic)."""
    files = _files()
    record_name = f"{NAME}.dist-info/RECORD"
    lines = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(data)}")
    lines.append(f"{record_name},,")
    files[record_name] = ("\n".join(lines) + "\n").encode()
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=_STAMP)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(
        prog="python -m tools.opencv_shim",
        description=f"Build the stand-in opencv-python wheel into {TARGET.relative_to(ROOT)}.",
    ).parse_args(argv)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(build())
    sys.stdout.write(f"{TARGET.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()
