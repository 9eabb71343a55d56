"""The one time rule of magister: seconds since the epoch from a number, a ``datetime`` / ``date``, a
``numpy.datetime64`` or ISO 8601 text (aware times at their UTC instant, naive ones read as UTC).

The people package reads every timestamp with it (``magister.people.events`` re-exports both functions), and the
service and its client read an answer's time with it (``observe(..., time=...)``), so the two agree on what a
time is.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["iso_seconds", "seconds"]

_EPOCH64 = np.datetime64(0, "s")
#: a leap second's "hh:mm:60" (ISO 8601 allows it; ``datetime`` does not)
_LEAP = re.compile(r"(?<=[Tt ])(\d{2}:\d{2}:)60(?!\d)")


def seconds(value: Any, what: str = "timestamp") -> float:
    """Seconds since the epoch of a time given as a number, a ``datetime`` / ``date``, a ``numpy.datetime64`` or
    ISO 8601 text, by one rule: an aware ``datetime`` (or text with an offset) is its UTC instant, so the same
    moment written in two time zones, or on either side of a daylight-saving change (``fold``), is one number;
    a naive one (or text without an offset, a ``date``, a ``datetime64``) is read as UTC, as
    :func:`iso_seconds` reads text, never in the machine's zone (``datetime.timestamp`` would). A number is
    taken as it is (seconds, any origin). Anything else, NaN and infinity included, is a ``ConfigError``
    naming ``what``."""
    if type(value) is float:  # the common case, first
        v = value
    elif isinstance(value, (bool, np.bool_, bytes, bytearray)):  # True read as 1 s, b"12" as 12 s
        v = math.nan
    elif isinstance(value, date):
        if not isinstance(value, datetime):  # midnight UTC, as iso_seconds("2025-01-31")
            value = datetime(value.year, value.month, value.day)
        try:  # (pandas' NaT is a datetime whose timestamp() raises ValueError)
            aware = value.tzinfo is not None and value.utcoffset() is not None
            v = (value if aware else value.replace(tzinfo=timezone.utc)).timestamp()
        except (ValueError, OverflowError, OSError):
            v = math.nan
    elif isinstance(value, np.datetime64):
        v = float((value - _EPOCH64) / np.timedelta64(1, "s")) if not np.isnat(value) else math.nan
    elif isinstance(value, str):
        try:
            v = float(value)  # a number written as text ("1.7e9"), as before
        except ValueError:
            try:
                v = iso_seconds(value)
            except ValueError:
                v = math.nan
    else:
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            v = math.nan
    if not math.isfinite(v):
        raise ConfigError(f"{what} must be a finite time: seconds (a number), a datetime or ISO 8601 text such as "
                          f"2025-01-31T09:00Z (without an offset: UTC), got {value!r}")
    return v


def iso_seconds(text: str) -> float:
    """Seconds since the epoch of an ISO date-time; one without a UTC offset is UTC, whatever the machine's time
    zone (read in the machine's zone, one file gave other intervals on another machine and around a DST change,
    and times with and without an offset could swap order). A trailing ``Z`` is UTC on every Python (3.10's
    ``fromisoformat`` refused it). A leap second (``23:59:60``, which ``datetime`` refused) is the second after
    ``23:59:59``, the same number as the next ``00:00:00``, as POSIX time counts it. Raises ``ValueError`` for
    text that is not one."""
    text = str(text).strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    text, leap = _LEAP.subn(r"\g<1>59", text, count=1)
    when = datetime.fromisoformat(text) + timedelta(seconds=leap)
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
