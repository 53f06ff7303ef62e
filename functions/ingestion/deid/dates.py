"""Shift DA and DT values by whole days, keeping precision, time of day and time zone.

Whole-day shifts keep every interval within a patient exactly, which is what the Retain
Longitudinal Temporal Information with Modified Dates option promises. Values that cannot
be parsed are dropped to empty rather than passed through (fail closed).
"""

from __future__ import annotations

from datetime import date, timedelta


def _shift_date_text(text: str, days: int) -> str | None:
    """Shift a YYYY, YYYYMM or YYYYMMDD string; None when it is not a date."""
    if not text.isdigit() or len(text) not in (4, 6, 8):
        return None
    year = int(text[:4])
    month = int(text[4:6]) if len(text) >= 6 else 1
    day = int(text[6:8]) if len(text) == 8 else 1
    try:
        shifted = date(year, month, day) - timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return shifted.strftime("%Y%m%d")[: len(text)].rjust(len(text), "0")


def shift_da(value: str, days: int) -> str:
    """Shift a (possibly multi-valued or range) DA value; unparseable parts become empty."""
    out: list[str] = []
    for raw_part in value.split("\\"):
        part = raw_part.strip()
        if "-" in part:
            ends = [_shift_date_text(p, days) if p else "" for p in part.split("-", 1)]
            out.append("" if None in ends else "-".join(e or "" for e in ends))
            continue
        out.append((_shift_date_text(part, days) or "") if part else "")
    return "\\".join(out)


def _shift_dt_one(value: str, days: int) -> str:
    value = value.strip()
    if not value:
        return ""
    # The date part is the leading run of digits, capped at 8 (YYYY[MM[DD]]).
    digits = 0
    while digits < min(8, len(value)) and value[digits].isdigit():
        digits += 1
    date_len = 8 if digits >= 8 else (6 if digits >= 6 else 4)
    if digits < 4:
        return ""
    shifted = _shift_date_text(value[:date_len], days)
    return "" if shifted is None else shifted + value[date_len:]


def shift_dt(value: str, days: int) -> str:
    """Shift the date part of a (possibly multi-valued) DT value, keeping the rest."""
    return "\\".join(_shift_dt_one(v, days) for v in value.split("\\"))
