"""Criteria resolved into a manifest: the selection rules and the split by patient."""

from __future__ import annotations

import random

from functions.data_services.datasets import (
    CatalogueRecord,
    build_manifest,
    checksum_line,
    select,
    split_of,
)
from functions.data_services.domain import normalized_criteria
from functions.data_services.messages import DatasetCriteria, SplitRatios
from functions.data_services.plans import find_allowance
from functions.data_services.projections import catalogue_record
from tests.unit.data_services.factories import image_event

PRO = find_allowance("PRO")
assert PRO is not None


def records(count: int, **changes: object) -> list[CatalogueRecord]:
    return [catalogue_record(image_event(i, **changes)) for i in range(count)]  # type: ignore[arg-type]


def criteria(**fields: object) -> DatasetCriteria:
    return normalized_criteria(DatasetCriteria(**fields), PRO)  # type: ignore[arg-type, arg-type]


def test_no_patient_crosses_splits_and_the_ratios_hold_roughly() -> None:
    rng = random.Random(7)
    catalogue = [
        catalogue_record(image_event(i, patient=f"pt-{rng.randrange(2_000)}"))
        for i in range(10_000)
    ]
    manifest = build_manifest("ds", catalogue, SplitRatios(train=70, validation=20, test=10))
    splits_of_patient: dict[str, set[str]] = {}
    for entry in manifest.entries:
        splits_of_patient.setdefault(entry.patient_token, set()).add(entry.split)
    assert all(len(splits) == 1 for splits in splits_of_patient.values())
    patients = {
        s: sum(1 for v in splits_of_patient.values() if s in v)
        for s in ("train", "validation", "test")
    }
    assert 0.65 < patients["train"] / len(splits_of_patient) < 0.75
    assert 0.15 < patients["validation"] / len(splits_of_patient) < 0.25


def test_the_same_records_give_the_same_manifest_in_any_order() -> None:
    catalogue = records(300)
    shuffled = random.Random(1).sample(catalogue, len(catalogue))
    ratios = SplitRatios()
    first = build_manifest("ds", select(catalogue, criteria(), 1_000), ratios)
    again = build_manifest(
        "ds",
        select(sorted(shuffled, key=lambda r: (r.ingested_at, r.image_id)), criteria(), 1_000),
        ratios,
    )
    assert first.digest == again.digest and first.entries == again.entries


def test_another_dataset_splits_the_patients_differently() -> None:
    tokens = [f"pt-{i}" for i in range(200)]
    ratios = SplitRatios()
    assert [split_of("a", t, ratios) for t in tokens] != [split_of("b", t, ratios) for t in tokens]


def test_a_zero_ratio_split_gets_no_patient() -> None:
    ratios = SplitRatios(train=100, validation=0, test=0)
    assert {split_of("ds", f"pt-{i}", ratios) for i in range(500)} == {"train"}


def test_selection_applies_every_criterion() -> None:
    catalogue = [
        *records(6),
        catalogue_record(image_event(100, modality="MR")),
        catalogue_record(image_event(101, region="HEAD")),
        catalogue_record(image_event(102, pathology=None)),
        catalogue_record(image_event(103, source="hospital-2")),
        catalogue_record(image_event(104, day=20)),
    ]
    chosen = select(
        catalogue,
        criteria(
            modality="ct", anatomical_region="chest", pathology="nodule", sources=["hospital-1"],
            ingested_from="2026-11-01T00:00:00Z", ingested_to="2026-11-10T00:00:00Z",
        ),
        100,
    )  # fmt: skip
    assert [r.image_id for r in chosen] == [f"img-{i:06d}" for i in range(6)]


def test_at_most_k_per_patient_and_the_limit_is_overshot_by_one() -> None:
    catalogue = records(30)  # 3 images per patient
    capped = select(catalogue, criteria(max_per_patient=2), 1_000)
    assert len(capped) == 20
    per_patient: dict[str, int] = {}
    for record in capped:
        per_patient[record.patient_token] = per_patient.get(record.patient_token, 0) + 1
    assert set(per_patient.values()) == {2}
    assert len(select(catalogue, criteria(), 10)) == 11


def test_the_manifest_counts_and_the_checksum_lines() -> None:
    manifest = build_manifest("ds", records(12), SplitRatios())
    assert manifest.patients == 4 and sum(manifest.splits.values()) == 12
    assert [len(c) for c in manifest.chunks(5)] == [5, 5, 2]
    entry = manifest.entries[0]
    assert checksum_line(entry, "ds-1/") == f"{entry.sha256}  {entry.split}/{entry.image_id}.dcm"
