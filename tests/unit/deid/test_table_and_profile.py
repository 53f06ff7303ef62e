"""Table E.1-1 as data: complete, well formed, and compiled correctly for each option."""

from __future__ import annotations

import re

import pytest
from pydicom.datadict import dictionary_description

from functions.ingestion.deid.options import DeidOptions
from functions.ingestion.deid.profile import compile_profile
from functions.ingestion.deid.table_e1_1 import ROWS, TABLE_EDITION

CODES = {"X", "Z", "D", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}
OPTION_LETTERS = set("FMUDIPCSGT")


def test_table_is_the_full_table_with_unique_rows() -> None:
    assert len(ROWS) >= 590
    tags = [row[0] for row in ROWS]
    assert len(tags) == len(set(tags))
    assert re.search(r"20\d\d", TABLE_EDITION)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r[0])
def test_every_row_is_well_formed(row: tuple[str, str, str, str]) -> None:
    tag, name, basic, cells = row
    assert basic in CODES
    for cell in cells.lstrip("~").split():
        letter, action = cell.split(":")
        assert letter in OPTION_LETTERS
        assert action in {"K", "C", "X"}
    if tag in {"private"} or "x" in tag:
        return
    # The transcription names the same attribute as pydicom's data dictionary.
    described = dictionary_description(int(tag, 16))
    assert _norm(described) == _norm(name)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def test_every_basic_action_code_is_used() -> None:
    assert {row[2] for row in ROWS} == CODES - {"K", "C"}


def test_basic_profile_compiles_without_options() -> None:
    profile = compile_profile(DeidOptions())
    assert profile.code_for(0x00100010) == "Z"  # Patient's Name
    assert profile.code_for(0x00080018) == "U"  # SOP Instance UID
    assert profile.code_for(0x00080020) == "Z"  # Study Date
    assert profile.code_for(0x00080080) == "X/Z/D"  # Institution Name
    assert profile.code_for(0x00280010) is None  # Rows: not in the table, kept
    assert profile.private == "X"
    assert profile.overlays == "X"
    assert profile.curves == "X"


@pytest.mark.parametrize(
    ("options", "tag", "expected"),
    [
        (DeidOptions(retain_longitudinal_modified_dates=True), 0x00080020, "C"),
        (DeidOptions(retain_patient_characteristics=True), 0x00101010, "K"),
        (DeidOptions(retain_patient_characteristics=True), 0x00102110, "C"),
        (DeidOptions(retain_device_identity=True), 0x00081010, "K"),
        (DeidOptions(retain_institution_identity=True), 0x00080080, "K"),
        (DeidOptions(clean_descriptors=True), 0x00081030, "C"),
        (DeidOptions(clean_descriptors=True), 0x0040A160, "C"),
    ],
)
def test_option_columns_override_the_basic_action(
    options: DeidOptions, tag: int, expected: str
) -> None:
    assert compile_profile(options).code_for(tag) == expected
