"""Argument checks shared by the statistics modules."""

from __future__ import annotations

import numpy as np

__all__ = ["check_confidence"]


def check_confidence(confidence: float) -> float:
    """``confidence`` as a float strictly between 0 and 1, else ``ValueError``."""
    if not (isinstance(confidence, (int, float, np.floating)) and 0.0 < float(confidence) < 1.0):
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return float(confidence)
