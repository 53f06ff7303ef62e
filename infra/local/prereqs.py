"""What the local stack needs from the machine, checked before anything starts.

Each missing piece yields one message naming it and the exact command that installs it;
the CLI prints them and exits with code 3 (EXIT_MISSING_PREREQUISITES).
`python -m infra.local.prereqs` runs the check alone; it needs only the standard library,
so it works before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

EXIT_MISSING_PREREQUISITES = 3
MIN_PYTHON = (3, 11)
MIN_JAVA = 17

PUBSUB_EMULATOR_SCRIPT = Path("platform/pubsub-emulator/bin/cloud-pubsub-emulator")
FIRESTORE_EMULATOR_SCRIPT = Path("platform/cloud-firestore-emulator/cloud_firestore_emulator")

_APT_PACKAGES = {
    "gcloud": "google-cloud-cli",
    "pubsub": "google-cloud-cli-pubsub-emulator",
    "firestore": "google-cloud-cli-firestore-emulator",
    "java": "openjdk-17-jre-headless",
}


class MissingPrerequisitesError(RuntimeError):
    """One or more tools the stack needs are absent; str() tells how to install them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Toolchain:
    sdk_root: Path
    java: str

    @property
    def pubsub_emulator(self) -> Path:
        return self.sdk_root / PUBSUB_EMULATOR_SCRIPT

    @property
    def firestore_emulator(self) -> Path:
        return self.sdk_root / FIRESTORE_EMULATOR_SCRIPT


@lru_cache(maxsize=1)
def find_sdk_root() -> Path | None:
    """The Google Cloud CLI's root folder, or None when gcloud is not installed."""
    override = os.environ.get("CLOUDSDK_ROOT_DIR")
    if override:
        return Path(override)
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    # `gcloud` is usually a symlink to <root>/bin/gcloud: resolving it is instant, whereas
    # `gcloud info` takes about a second.
    candidate = Path(gcloud).resolve().parent.parent
    if (candidate / "platform").is_dir():
        return candidate
    try:
        answer = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return candidate
    return Path(answer.stdout.strip()) if answer.stdout.strip() else candidate


def _is_apt_install(sdk_root: Path) -> bool:
    # The Debian packages install under /usr/lib and disable `gcloud components`.
    return str(sdk_root).startswith("/usr/lib/")


def _install_hint(sdk_root: Path | None, *components: str) -> str:
    if sdk_root is None or _is_apt_install(sdk_root):
        packages = " ".join(_APT_PACKAGES[c] for c in components)
        return f"sudo apt-get install {packages}"
    names = {"pubsub": "pubsub-emulator", "firestore": "cloud-firestore-emulator"}
    return "gcloud components install " + " ".join(names[c] for c in components)


def java_major_version(java: str) -> int | None:
    try:
        answer = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', answer.stderr + answer.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8"; the major version is then the second number.
    return int(match.group(2) or 0) if major == 1 else major


def _java_command() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


@lru_cache(maxsize=1)
def check_prerequisites() -> Toolchain:
    """Return the toolchain, or raise MissingPrerequisitesError listing every missing piece."""
    problems: list[str] = []
    if sys.version_info < MIN_PYTHON:
        problems.append(
            f"Python {'.'.join(map(str, MIN_PYTHON))}+ is required (this is "
            f"{sys.version.split()[0]}): create the virtualenv with python3.11 -m venv .venv"
        )
    sdk_root = find_sdk_root()
    if sdk_root is None:
        problems.append(
            "gcloud (Google Cloud CLI) is not on PATH; install it with: "
            + _install_hint(None, "gcloud", "pubsub", "firestore")
        )
    else:
        missing = [
            component
            for component, script in (
                ("pubsub", PUBSUB_EMULATOR_SCRIPT),
                ("firestore", FIRESTORE_EMULATOR_SCRIPT),
            )
            if not (sdk_root / script).exists()
        ]
        if missing:
            problems.append(
                f"emulator component(s) missing under {sdk_root}: {', '.join(missing)}; "
                f"install with: {_install_hint(sdk_root, *missing)}"
            )
    java = _java_command()
    version = java_major_version(java) if java else None
    if java is None or version is None:
        problems.append(
            f"Java {MIN_JAVA}+ is not installed (the emulators run on it); install with: "
            f"sudo apt-get install {_APT_PACKAGES['java']}"
        )
    elif version < MIN_JAVA:
        problems.append(
            f"Java {MIN_JAVA}+ is required, found Java {version} at {java}; install with: "
            f"sudo apt-get install {_APT_PACKAGES['java']} (and set JAVA_HOME to it)"
        )
    if problems:
        raise MissingPrerequisitesError(problems)
    assert sdk_root is not None and java is not None
    return Toolchain(sdk_root=sdk_root, java=java)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m infra.local.prereqs",
        description="Check what the local stack needs (Python 3.11+, the Google Cloud CLI "
        f"with the Pub/Sub and Firestore emulators, Java 17+); exit {EXIT_MISSING_PREREQUISITES} "
        "if something is missing.",
    ).parse_args(argv)
    try:
        toolchain = check_prerequisites()
    except MissingPrerequisitesError as missing:
        print("The local stack cannot start:", file=sys.stderr)
        for problem in missing.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_MISSING_PREREQUISITES
    print(f"ok: Python {sys.version.split()[0]}, Google Cloud CLI at {toolchain.sdk_root} with "
          f"the Pub/Sub and Firestore emulators, {toolchain.java}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
