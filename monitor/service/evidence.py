"""Gather the adjustments of a run's evidence (label maturity, verification by design, patient clustering)
from the database, for the decision rule (:mod:`monitor.domain.evidence`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.evidence import Adjustments

__all__ = ["gather_adjustments"]


def gather_adjustments(unit: Any, config: DeviceConfig, window: Any, cells: pd.DataFrame) -> Adjustments:
    """Every adjustment of the run's stratum-metrics (keyed by model version, stratum key and metric)."""
    return Adjustments(min_expected_share=config.labels.min_expected_share)
