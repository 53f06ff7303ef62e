"""gcloud's own Cloud Storage commands work against the stack, folders included."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import ProbeStack

pytestmark = pytest.mark.emulators


def test_gcloud_copies_a_folder_recursively(probe_stack: ProbeStack, tmp_path: Path) -> None:
    # `cp -r` asks for the bucket's storage layout first, which fake-gcs-server lacks.
    stack = probe_stack.stack
    folder = tmp_path / "study"
    folder.mkdir()
    for n in range(3):
        (folder / f"{n:05d}.dcm").write_bytes(f"image {n}".encode())
    center = f"center-{uuid.uuid4().hex[:8]}"
    copied = subprocess.run(
        ["gcloud", "storage", "cp", "-r", str(folder), f"gs://{stack.bucket('drop')}/{center}/"],
        env={**os.environ, **stack.gcloud_env}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    _, _, storage = probe_stack.clients()
    blobs = storage.list_blobs(stack.bucket("drop"), prefix=f"{center}/")
    contents = {blob.name: blob.download_as_bytes() for blob in blobs}
    assert contents == {f"{center}/study/{n:05d}.dcm": f"image {n}".encode() for n in range(3)}
