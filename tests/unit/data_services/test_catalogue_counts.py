"""Counts a buyer sees before buying: never a cell of fewer than k patients, rounded, values
under k merged into `other`, and never an id of an image, a study or a patient."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.data_services import catalogue_counts as counting
from functions.data_services.datasets import SPLITS, CatalogueRecord
from functions.data_services.domain import DataServiceError
from functions.data_services.messages import CatalogueCountsView, SplitRatios

K = 10


def record(index: int, patient: int, **changes: Any) -> CatalogueRecord:
    """An image of `patient`, whose one study it belongs to."""
    fields: dict[str, Any] = {
        "image_id": f"img-{index:05d}", "patient_token": f"pt-{patient:04d}",
        "study_id": f"st-{patient:04d}", "data_source": "hospital-1",
        "ingested_at": f"2026-11-01T10:00:{index % 60:02d}.000Z",
        "uri": f"gs://anonymized/img-{index:05d}.dcm", "size": 250_000,
        "sha256": f"{index:064x}", "modality": "CT", "anatomical_region": "CHEST",
        "pathology": "NODULE",
    }  # fmt: skip
    return CatalogueRecord(**{**fields, **changes})


def of_patients(
    patients: int, images_each: int = 1, start: int = 0, **changes: Any
) -> list[CatalogueRecord]:
    return [
        record(start + p * images_each + i, start + p, **changes)
        for p in range(patients)
        for i in range(images_each)
    ]


def test_a_cell_of_k_minus_one_patients_is_suppressed_whole_and_one_of_k_is_shown() -> None:
    # 9 patients with 40 images each: the images are many, the people few.
    small = counting.counts(of_patients(K - 1, images_each=40), K)["total"]
    assert small == {
        "suppressed": True, "images": None, "studies": None, "patients": None, "below": K,
    }  # fmt: skip
    shown = counting.counts(of_patients(K, images_each=4), K)["total"]
    assert shown == {
        "suppressed": False, "images": 40, "studies": 10, "patients": 10, "below": None,
    }  # fmt: skip


def test_an_empty_cell_looks_like_a_small_one() -> None:
    assert counting.counts([], K)["total"] == counting.counts(of_patients(1), K)["total"]


def test_counts_are_rounded_down_to_five_and_never_below_k() -> None:
    answer = counting.counts(of_patients(14, images_each=3), K)
    assert answer["total"]["patients"] == 10  # 14
    assert answer["total"]["images"] == 40  # 42
    assert (answer["min_cell"], answer["rounded_to"]) == (K, 5)
    assert counting.rounded(13, 12) == 12  # 10 would be under k
    for exact in range(K, 200):
        shown = counting.rounded(exact, K)
        assert shown <= exact < shown + counting.ROUNDED_TO and shown >= K


def test_a_breakdown_merges_the_values_under_k_into_other() -> None:
    records = [
        *of_patients(12, modality="CT"),
        *of_patients(11, start=100, modality="MR"),
        *of_patients(4, start=200, modality="US"),
        *of_patients(7, start=300, modality="XA"),
        *of_patients(2, start=400, modality=None),
    ]
    answer = counting.counts(records, K, "modality")
    assert answer["group_by"] == "modality"
    groups = answer["groups"]
    assert [(g["value"], g["other"], g["patients"]) for g in groups] == [
        ("CT", False, 10), ("MR", False, 10), (None, True, 10),
    ]  # fmt: skip
    # US, XA and the images without a modality: 13 patients together, none named.
    assert "US" not in json.dumps(answer) and "XA" not in json.dumps(answer)


def test_the_other_group_is_listed_and_suppressed_even_when_empty() -> None:
    answer = counting.counts(of_patients(20), K, "data_source")
    assert [g["value"] for g in answer["groups"]] == ["hospital-1", None]
    assert answer["groups"][-1] == {
        "suppressed": True, "images": None, "studies": None, "patients": None, "below": K,
        "value": None, "other": True,
    }  # fmt: skip
    few = counting.counts(of_patients(3), K, "pathology")
    assert [g["other"] for g in few["groups"]] == [True]  # the total suppressed: other alone
    CatalogueCountsView.model_validate(answer)


def test_no_answer_holds_an_id_of_an_image_a_study_or_a_patient() -> None:
    records = of_patients(30, images_each=2)
    text = json.dumps(
        [counting.counts(records, K, dimension) for dimension in (None, *counting.DIMENSIONS)]
        + [counting.quote(records, "chest-ct", SplitRatios(), K)]
    )
    for r in records:
        assert r.image_id not in text and r.patient_token not in text
        assert r.study_id not in text and r.sha256 not in text and r.uri not in text


def test_a_quote_under_k_patients_is_refused_and_its_splits_are_cells() -> None:
    with pytest.raises(DataServiceError) as refused:
        counting.quote(of_patients(K - 1, images_each=5), "chest-ct", SplitRatios(), K)
    assert refused.value.reason == "dataset_too_small"
    quoted = counting.quote(of_patients(40, images_each=2), "chest-ct", SplitRatios(), K)
    assert (quoted["images"], quoted["patients"], quoted["studies"]) == (80, 40, 40)
    assert quoted["bytes"] == 20_000_000  # 80 x 250 kB
    assert set(quoted["splits"]) == set(SPLITS)
    train = quoted["splits"]["train"]
    assert not train["suppressed"] and train["patients"] >= K
    # 10% of 40 patients: fewer than k in validation and in test.
    assert quoted["splits"]["test"]["suppressed"] and quoted["splits"]["validation"]["suppressed"]
