"""The end-to-end tests share one stack, and ingestion treats the same image uploaded by
another centre as a referral (its own image under UIDs keyed to that centre, linked to the
first copy: docs/decisions/0013-referrals.md), not as a new one. Two e2e tests generating
their images from one seed would then depend on their order: each seed is used once."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

E2E = Path(__file__).resolve().parents[1] / "e2e"


def test_every_e2e_study_seed_is_used_once() -> None:
    seeds = Counter(
        seed
        for path in sorted(E2E.glob("test_*.py"))
        for seed in re.findall(r"\bstudy\([^()]*\bseed=(\d+)", path.read_text())
    )
    assert seeds, "no seeds found: the pattern no longer matches the e2e tests"
    assert [seed for seed, uses in seeds.items() if uses > 1] == []
