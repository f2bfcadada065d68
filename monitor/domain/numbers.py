"""Small helpers for turning statistics into document values."""

from __future__ import annotations

import math

__all__ = ["finite_or_none"]


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float, or ``None`` when it is missing, NaN or infinite (JSON has no NaN).

    Examples
    --------
    >>> finite_or_none(0.5), finite_or_none(float("nan")), finite_or_none(None)
    (0.5, None, None)
    """
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
