"""What the deployed functions install (requirements.txt) is enough, and is what we think.

* Every module the functions import (main.py, and the OCR detector and pixel decoders they
  load lazily) comes from a distribution that requirements.txt installs: in a child process
  every other distribution of the venv (typer, rich, pytest...) is made unimportable, as it
  is in the Cloud Functions runtime, and main.py and the detector still load.
* The command-line packages (typer, rich) are not in the runtime's requirements.
* cv2 is opencv-python-headless (the stand-in wheel of tools/opencv_shim.py took
  opencv-python's name), and no shared library of it links libGL, which the Cloud
  Functions runtime lacks.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import opencv_shim

ROOT = Path(__file__).resolve().parents[3]
CLI_ONLY = {"typer", "rich"}


def _top_level(path: Path) -> set[str]:
    names: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        if line.endswith(".whl"):
            names.add(canonicalize_name(Path(line).name.split("-", 1)[0]))
        else:
            names.add(canonicalize_name(Requirement(line).name))
    return names


def _closure(names: set[str]) -> set[str]:
    """The distributions ``names`` install, with their dependencies (markers evaluated)."""
    environment: dict[str, str] = {**default_environment(), "extra": ""}  # type: ignore[dict-item]
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate(environment):
                continue
            todo.append(canonicalize_name(req.name))
    return seen


RUNTIME = _closure(_top_level(ROOT / "requirements.txt"))

_CHILD = r"""
import importlib.abc, json, sys
blocked = set(json.loads(sys.argv[1]))
already = {m.split(".", 1)[0] for m in sys.modules}  # site's own start-up hooks
refused = set()

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".", 1)[0]
        if top in blocked:
            refused.add(top)
            raise ModuleNotFoundError(f"No module named {top!r} (not in requirements.txt)")
        return None

sys.meta_path.insert(0, Absent())
import main  # noqa: F401
from functions.ingestion.deid.pixels import detector
assert detector.available(), "the OCR detector does not load with the runtime's packages"
import pydicom.pixels.decoders  # noqa: F401
from pydicom.pixels.decoders.base import get_decoder
for syntax in ("1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.80",
               "1.2.840.10008.1.2.4.90"):
    assert get_decoder(syntax).is_available, syntax
print(json.dumps({"modules": sorted({m.split(".", 1)[0] for m in sys.modules} - already),
                  "refused": sorted(refused)}))
"""


def test_the_functions_load_with_only_the_runtime_requirements() -> None:
    owners = metadata.packages_distributions()
    blocked = sorted(
        module
        for module, dists in owners.items()
        if not any(canonicalize_name(d) in RUNTIME for d in dists)
        and module not in ("functions", "shared", "main", "infra", "tools", "tests")
    )
    assert "typer" in blocked and "rich" in blocked and "pytest" in blocked
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(blocked)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    loaded = set(report["modules"])
    assert not loaded & set(blocked)
    assert "cv2" in loaded and "rapidocr_onnxruntime" in loaded


def test_command_line_packages_are_not_runtime_requirements() -> None:
    assert not CLI_ONLY & RUNTIME
    assert _top_level(ROOT / "requirements-dev.txt") >= CLI_ONLY
    assert "opencv-python-headless" in RUNTIME


def test_cv2_is_the_headless_build() -> None:
    owners = {canonicalize_name(d) for d in metadata.packages_distributions().get("cv2", [])}
    assert owners == {"opencv-python-headless"}, owners
    # The name rapidocr asks for is the stand-in, which requires the headless build.
    assert metadata.version("opencv-python").endswith("+headless")
    assert metadata.version("opencv-python-headless") == opencv_shim.VERSION


@pytest.mark.skipif(shutil.which("ldd") is None, reason="ldd not installed")
def test_no_library_of_cv2_links_libgl() -> None:
    import cv2

    package = Path(cv2.__file__).parent
    libraries = [p for p in package.rglob("*") if re.search(r"\.so(\.|$)", p.name)]
    libraries += [p for p in (package.parent / "opencv_python_headless.libs").glob("*.so*")]
    assert libraries
    for library in libraries:
        linked = subprocess.run(
            ["ldd", str(library)], capture_output=True, text=True, check=False, timeout=30
        ).stdout
        assert "libGL" not in linked, library.name


def test_the_committed_stand_in_wheel_is_what_the_builder_makes() -> None:
    assert opencv_shim.TARGET.read_bytes() == opencv_shim.build()
    pins = (ROOT / "requirements.txt").read_text()
    assert f"./wheels/{opencv_shim.WHEEL_NAME}" in pins
    assert f"opencv-python-headless=={opencv_shim.VERSION}" in pins
