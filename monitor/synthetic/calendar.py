"""The calendar and random streams the seeded generators share: quarter labels, their local bounds, and one
reproducible random stream per (seed, key)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["parse_quarter", "quarter_bounds_in", "seeded_rng"]

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def parse_quarter(label: str) -> tuple[int, int]:
    """``"2025Q3"`` -> ``(2025, 3)``; anything else is a :class:`ValueError`."""
    m = _QUARTER.match(str(label))
    if m is None:
        raise ValueError(f"cannot read quarter {label!r}: use the form 2025Q3")
    return int(m.group(1)), int(m.group(2))


def quarter_bounds_in(label: str, timezone: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Local midnight of the quarter's first day and of the next quarter's first day, in ``timezone``."""
    year, q = parse_quarter(label)
    start = pd.Timestamp(year=year, month=3 * (q - 1) + 1, day=1)
    end = pd.Timestamp(year=year + 1, month=1, day=1) if q == 4 else pd.Timestamp(year=year, month=3 * q + 1, day=1)
    return start.tz_localize(timezone), end.tz_localize(timezone)


def seeded_rng(seed: int, *key: int) -> np.random.Generator:
    """The random stream of ``seed`` and ``key`` (PCG64 with a spawned seed sequence: independent per key)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=tuple(key))))
