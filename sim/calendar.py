"""Monthly calendar of the simulation.

Month index 0 is 2021-01, the month of the first Chinese large models (BAAI WuDao 1.0, 2021-03;
Huawei PanGu, 2021-04). A date written ``YYYY-MM`` or ``YYYY-MM-DD`` maps to the index of its month:
a policy dated 2022-10-07 takes effect from month 2022-10.
"""

from __future__ import annotations

import datetime as dt
import re

from sim.vocab import START_MONTH, START_YEAR

__all__ = ["START_MONTH", "START_YEAR", "month_label", "parse_month"]
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def parse_month(text: str) -> int:
    """Return the month index (0 = 2021-01) of a ``YYYY-MM`` or ``YYYY-MM-DD`` string.

    Raises ValueError with an explanation for malformed dates (the schema turns it into a message).
    """
    if isinstance(text, dt.date):
        year, month = text.year, text.month
    else:
        m = _DATE_RE.match(str(text).strip())
        if not m:
            raise ValueError(f"date {text!r} is not of the form YYYY-MM or YYYY-MM-DD")
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"date {text!r} has month {month}, allowed 01-12")
        if m.group(3) is not None:
            try:
                dt.date(year, month, int(m.group(3)))
            except ValueError:
                raise ValueError(f"date {text!r} is not a day of the calendar") from None
    return (year - START_YEAR) * 12 + (month - START_MONTH)


def month_label(index: int) -> str:
    """Return ``YYYY-MM`` for a month index (0 = 2021-01)."""
    year, month0 = divmod(START_MONTH - 1 + index, 12)
    return f"{START_YEAR + year:04d}-{month0 + 1:02d}"
