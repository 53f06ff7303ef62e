"""Whole-day date shifting keeps precision, time and intervals; junk becomes empty."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from functions.ingestion.deid.dates import shift_da, shift_dt


def test_shift_da_full_partial_multi_and_range() -> None:
    assert shift_da("20240301", 1) == "20240229"
    assert shift_da("202403", 40) == "202401"
    assert shift_da("2024", 400) == "2022"
    assert shift_da("20240301\\20240302", 1) == "20240229\\20240301"
    assert shift_da("20240301-20240310", 1) == "20240229-20240309"


def test_shift_dt_keeps_time_and_offset() -> None:
    assert shift_dt("20240301101500.123+0100", 1) == "20240229101500.123+0100"
    assert shift_dt("2024030112", 2) == "2024022812"


def test_unparseable_dates_are_dropped_not_passed() -> None:
    assert shift_da("2024-03-01", 1) == ""
    assert shift_da("SMITH", 1) == ""
    assert shift_dt("tomorrow", 1) == ""


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(min_value=1, max_value=3652),
)
def test_intervals_are_preserved(a: date, b: date, days: int) -> None:
    sa = shift_da(a.strftime("%Y%m%d"), days)
    sb = shift_da(b.strftime("%Y%m%d"), days)
    da = date(int(sa[:4]), int(sa[4:6]), int(sa[6:]))
    db = date(int(sb[:4]), int(sb[4:6]), int(sb[6:]))
    assert db - da == b - a
    assert a - da == timedelta(days=days)
