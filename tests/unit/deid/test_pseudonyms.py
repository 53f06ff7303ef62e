"""Keyed pseudonyms: valid UIDs, stable tokens and shifts, identical in separate processes."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.ingestion.deid import Deidentifier
from functions.ingestion.deid.pseudonyms import MAX_SHIFT_DAYS, MIN_SHIFT_DAYS, Pseudonymizer
from infra.samples.synthetic_dicom import make_study, write_study

from .helpers import CENTER, KEY

UID_SYNTAX = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")
ROOT = Path(__file__).resolve().parents[3]


@given(st.from_regex(r"[1-9][0-9]{0,5}(\.[1-9][0-9]{0,10}){2,8}", fullmatch=True))
def test_uids_are_valid_short_and_deterministic(uid: str) -> None:
    mapped = Pseudonymizer(KEY).uid(uid)
    assert UID_SYNTAX.match(mapped)
    assert len(mapped) <= 64
    assert mapped == Pseudonymizer(KEY).uid(uid)
    assert mapped != Pseudonymizer(b"another-key-0123456789").uid(uid)


def test_standard_uids_are_not_remapped() -> None:
    assert Pseudonymizer(KEY).uid("1.2.840.10008.5.1.4.1.1.2") == "1.2.840.10008.5.1.4.1.1.2"


def test_tokens_depend_on_center_and_patient_only() -> None:
    p = Pseudonymizer(KEY)
    token = p.patient_token("c1", "pid:123")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert token == Pseudonymizer(KEY).patient_token("c1", "pid:123")
    assert token != p.patient_token("c2", "pid:123")
    assert token != p.patient_token("c1", "pid:124")


def test_date_offsets_are_per_patient_and_bounded() -> None:
    p = Pseudonymizer(KEY)
    offsets = {p.date_offset_days("c1", f"pid:{n}") for n in range(50)}
    assert all(MIN_SHIFT_DAYS <= o <= MAX_SHIFT_DAYS for o in offsets)
    assert len(offsets) > 40  # patients get different shifts
    assert p.date_offset_days("c1", "pid:1") == p.date_offset_days("c1", "pid:1")


def test_subkeys_are_independent() -> None:
    p = Pseudonymizer(KEY)
    assert p.patient_token("c", "x")[:8] not in p.uid("1.2.3.4.5")


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        Pseudonymizer(b"short")


_CHILD = """
import hashlib, io, json, sys
sys.path.insert(0, {root!r})
from functions.ingestion.deid import Deidentifier
deid = Deidentifier({key!r})
rows = []
for path in {paths!r}:
    out = io.BytesIO()
    r = deid.deidentify(path, {center!r}, out)
    rows.append([r.patient_token, r.study_uid, r.series_uid, r.sop_instance_uid,
                 hashlib.sha256(out.getvalue()).hexdigest()])
print(json.dumps(rows))
"""


def test_same_key_same_pseudonyms_across_processes(tmp_path: Path) -> None:
    paths = [str(p) for p in write_study(make_study(n_series=2, n_instances=2), tmp_path)]
    code = _CHILD.format(root=str(ROOT), key=KEY, paths=paths, center=CENTER)
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, check=True, text=True
            ).stdout
        )
        for _ in range(2)
    ]
    deid = Deidentifier(KEY)
    here = []
    for path in paths:
        out = io.BytesIO()
        r = deid.deidentify(path, CENTER, out)
        here.append(
            [
                r.patient_token,
                r.study_uid,
                r.series_uid,
                r.sop_instance_uid,
                hashlib.sha256(out.getvalue()).hexdigest(),
            ]
        )
    assert runs[0] == runs[1] == here
    # Whole outputs are byte-identical, and the study is shared by all its instances.
    assert len({row[1] for row in here}) == 1
