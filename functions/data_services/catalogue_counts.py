"""What a buyer sees of the catalogue before buying: counts that identify no one. Pure
Python, no I/O (queries.py feeds it the projection's records).

The rule is a minimum cell size k (Settings.catalogue_min_cell, 10 by default):

- A cell is the images, studies and patients of a set of catalogue images. It is shown only
  when it holds at least k patients; it then holds at least k studies and k images too
  (each patient has a study of at least one image), which is checked all the same. With
  fewer than k patients the whole cell is suppressed: every count null, `below` k. The
  patients decide for the cell because few people are what identifies: 40 images of 2
  patients tell as much about those 2 as 2 images would. An empty cell is suppressed like
  a small one, so an answer never tells that someone is there at all.
- A count shown is rounded down to a multiple of ROUNDED_TO, never below k: the true count
  is at least the one shown and less than it + ROUNDED_TO.
- A breakdown (`group_by`) shows each value of one dimension as a cell of its own. The
  values under k are not named: their images are merged into one `other` group, listed last
  and always (so that its presence tells nothing), itself suppressed under k patients. A
  group never holds more patients than the total, so when the total is suppressed every
  group is, and the breakdown is the suppressed `other` group alone.
- An answer names values of the dimensions (modalities, regions, pathologies, data source
  codes: none of them about a person) and counts; never an image, study or patient id.
- A quote (`quote`) counts the dataset a plan would resolve the criteria into under the
  same rule, except that a dataset of fewer than k patients is refused
  (`dataset_too_small`) rather than answered suppressed: a buyer chooses a quote's criteria,
  so a tiny one would be a probe of a small cell, and such a dataset could not be delivered
  without the same risk of singling someone out.

What this does not prevent (differencing). The total minus the groups shown approximates
the `other` group; two overlapping queries (a date range, and the same range one day
shorter) differ by the cell between them. The rounding blurs each count by up to
ROUNDED_TO - 1, so a difference of a few images is lost in it, but a buyer asking many
queries can still narrow a small cell down. What stands against that besides: every read of
the api is audited with who asked, and reads are rate limited per user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from functions.data_services.datasets import SPLITS, CatalogueRecord, split_of
from functions.data_services.domain import DataServiceError
from functions.data_services.messages import SplitRatios

ROUNDED_TO = 5
BYTES_ROUNDED_TO = 1_000_000  # a quote's size is for planning storage: whole MB are enough
TOO_SMALL = "dataset_too_small"
DIMENSIONS: dict[str, Callable[[CatalogueRecord], str | None]] = {
    "modality": lambda record: record.modality,
    "anatomical_region": lambda record: record.anatomical_region,
    "pathology": lambda record: record.pathology,
    "data_source": lambda record: record.data_source,
}


@dataclass
class Tally:
    """The exact counts of a set of images: never answered as they are (`cell` is)."""

    images: int = 0
    studies: set[str] = field(default_factory=set)
    patients: set[str] = field(default_factory=set)

    def add(self, record: CatalogueRecord) -> None:
        self.images += 1
        self.studies.add(record.study_id)
        self.patients.add(record.patient_token)

    def merge(self, other: Tally) -> None:
        self.images += other.images
        self.studies |= other.studies
        self.patients |= other.patients


def rounded(count: int, min_cell: int) -> int:
    """A count of at least `min_cell`, as it is shown."""
    return max(min_cell, count - count % ROUNDED_TO)


def cell(tally: Tally, min_cell: int) -> dict[str, Any]:
    """A tally as a CountCell (messages.py): suppressed under `min_cell` patients."""
    exact = (tally.images, len(tally.studies), len(tally.patients))
    if min(exact) < min_cell:
        return {
            "suppressed": True, "images": None, "studies": None, "patients": None,
            "below": min_cell,
        }  # fmt: skip
    images, studies, patients = (rounded(count, min_cell) for count in exact)
    return {
        "suppressed": False, "images": images, "studies": studies, "patients": patients,
        "below": None,
    }  # fmt: skip


def _breakdown(groups: dict[str | None, Tally], min_cell: int) -> list[dict[str, Any]]:
    """Each value's cell, by value (images without one last), then the `other` group."""
    shown: list[dict[str, Any]] = []
    other = Tally()
    for value in sorted(groups, key=lambda v: (v is None, v or "")):
        counted = cell(groups[value], min_cell)
        if counted["suppressed"]:
            other.merge(groups[value])  # its value is not named, its images still counted
        else:
            shown.append({**counted, "value": value, "other": False})
    return [*shown, {**cell(other, min_cell), "value": None, "other": True}]


def counts(
    records: Iterable[CatalogueRecord], min_cell: int, group_by: str | None = None
) -> dict[str, Any]:
    """A CatalogueCountsView (messages.py) of the records, which match the criteria."""
    dimension = DIMENSIONS[group_by] if group_by is not None else None
    total = Tally()
    groups: dict[str | None, Tally] = {}
    for record in records:
        total.add(record)
        if dimension is not None:
            groups.setdefault(dimension(record), Tally()).add(record)
    return {
        "min_cell": min_cell,
        "rounded_to": ROUNDED_TO,
        "total": cell(total, min_cell),
        "group_by": group_by,
        "groups": _breakdown(groups, min_cell) if dimension is not None else [],
    }


def quote(
    records: Iterable[CatalogueRecord], dataset_code: str, ratios: SplitRatios, min_cell: int
) -> dict[str, Any]:
    """The counts of a resolved dataset (datasets.resolve), each patient in the split a
    manifest of `dataset_code` would put them in (datasets.split_of); refused with
    `dataset_too_small` under `min_cell` patients (the module's docstring says why)."""
    total = Tally()
    splits = {name: Tally() for name in SPLITS}
    split_of_patient: dict[str, str] = {}
    size = 0
    for record in records:
        total.add(record)
        size += record.size
        patient = record.patient_token
        if patient not in split_of_patient:
            split_of_patient[patient] = split_of(dataset_code, patient, ratios)
        splits[split_of_patient[patient]].add(record)
    whole = cell(total, min_cell)
    if whole["suppressed"]:
        raise DataServiceError(
            TOO_SMALL,
            f"the dataset would hold fewer than {min_cell} patients, too few to be shared "
            "without singling someone out: widen the criteria",
            field="criteria",
        )
    return {
        "min_cell": min_cell,
        "rounded_to": ROUNDED_TO,
        "images": whole["images"],
        "studies": whole["studies"],
        "patients": whole["patients"],
        "bytes": size - size % BYTES_ROUNDED_TO,
        "splits": {name: cell(tally, min_cell) for name, tally in splits.items()},
    }
