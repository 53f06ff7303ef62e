"""Frames decoded where the parser found the pixel value are pydicom's own frames.

``pixel_step.parsed_geometry`` hands pydicom's decoder the Image Pixel elements the element
tree read and the offset of the pixel value, so that pydicom does not parse the header a
second time; objects held in memory lend their bytes, so native frames are views of them.
The contract: for every file of the corpus, the same geometry, the same frames (values and
types) and the same refusal as ``iter_pixels`` reading the object itself.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from functions.ingestion.deid.dicom_io import ParsedObject, open_source
from functions.ingestion.deid.element_tree import NeedsFullParser
from functions.ingestion.deid.engine import run_fast
from functions.ingestion.deid.pixel_step import parsed_geometry
from functions.ingestion.deid.pixels.cleaner import read_geometry, source_window
from functions.ingestion.deid.pixels.frames import Frame, iter_frames
from functions.ingestion.deid.pixels.geometry import Geometry
from functions.ingestion.deid.pydicom_reader import read_with_pydicom
from functions.ingestion.deid.reasons import DeidFailure, Rejection
from infra.samples.burned_in import make_case, make_tomo_case

from .helpers import pydicom_corpus


def _generated() -> list[tuple[str, bytes]]:
    syntaxes = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless)
    cases = [make_tomo_case(1, kind="ct", syntax=s) for s in syntaxes]
    cases += [make_tomo_case(2, kind="mr", with_text=False)]
    cases += [make_case(3, kind="ultrasound", frames=3, syntax=s) for s in syntaxes]
    cases += [make_case(4, kind="screenshot")]
    return [(f"generated-{n}", c.data) for n, c in enumerate(cases)]


def _inputs() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in pydicom_corpus()] + _generated()


def _parse(data: bytes) -> ParsedObject | None:
    opened = open_source(data)
    try:
        return run_fast(opened)
    except NeedsFullParser:
        return read_with_pydicom(opened)
    except DeidFailure:
        return None


def _decoded(source: BinaryIO, geometry: Geometry) -> list[Frame] | Rejection:
    try:
        return [np.array(frame) for frame in iter_frames(source, geometry)]
    except DeidFailure as failure:
        return failure.reason


def _compare(data: bytes) -> bool:
    """False when the file has no pixel value the tree locates (nothing to compare); raises
    AssertionError when the two decodings differ."""
    parsed = _parse(data)
    if parsed is None:
        return False
    index = {e.tag: e for e in parsed.top}
    try:
        ours = parsed_geometry(parsed, index)
    except DeidFailure as failure:
        with pytest.raises(DeidFailure) as refused:
            read_geometry(io.BytesIO(parsed.source.data or data))
        assert refused.value.reason == failure.reason
        return True
    if ours is None:
        return False
    stream = source_window(parsed.source.fp, parsed.source.origin)
    reference = read_geometry(stream)
    assert dataclasses.replace(ours, pixel_value_at=None, pixel_value_end=None) == reference
    expected = _decoded(stream, reference)
    for source in (stream, source_window(parsed.source.fp, 0, parsed.source.data)):
        got = _decoded(source, ours)
        if isinstance(expected, Rejection):
            assert got == expected
            continue
        assert not isinstance(got, Rejection)
        assert len(got) == len(expected)
        for mine, theirs in zip(got, expected, strict=True):
            assert mine.dtype == theirs.dtype
            assert np.array_equal(mine, theirs)
    return True


def test_frames_from_the_located_value_are_pydicoms() -> None:
    compared, differing = 0, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, data in _inputs():
            try:
                compared += _compare(data)
            except AssertionError:
                differing.append(name)
    assert differing == []
    # Files without pixel data, or whose tree cannot locate it (deflated), compare nothing.
    assert compared >= 150


def test_a_held_object_lends_its_bytes_to_native_frames() -> None:
    case = make_tomo_case(5, kind="ct", with_text=False)
    parsed = _parse(case.data)
    assert parsed is not None and parsed.source.data is not None
    geometry = parsed_geometry(parsed, {e.tag: e for e in parsed.top})
    assert geometry is not None and geometry.pixel_value_at is not None
    held = source_window(parsed.source.fp, 0, parsed.source.data)
    frame = next(iter_frames(held, geometry))
    assert not frame.flags.writeable  # a view of the held bytes, not a copy
    assert np.shares_memory(frame, np.frombuffer(parsed.source.data, dtype=np.uint8))


def test_unparsed_objects_still_decode(tmp_path: Path) -> None:
    """Callers without a tree (tests, benchmarks) get the same frames from pydicom alone."""
    case = make_tomo_case(6, kind="mr", with_text=False)
    geometry = read_geometry(io.BytesIO(case.data))
    assert geometry.pixel_value_at is None
    assert len(list(iter_frames(io.BytesIO(case.data), geometry))) == 1
