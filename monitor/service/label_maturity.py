"""Maturity-aware evidence of a run: the final labels of every monitored stratum-metric with the share of
expected labels received (for the decision rule, :class:`monitor.domain.evidence.Adjustments`), and the
document section ``label_arrival`` (docs/maturity.md).

The reference for the label-arrival distributions is every case predicted before the analysed window
(earlier cohorts of the model version, or of the device), read as of the same cut-off.
"""

from __future__ import annotations

from typing import Any

from monitor.domain.device import DeviceConfig
from monitor.domain.labels import LabelMaturity, label_arrival

__all__ = ["assess_label_maturity"]


def assess_label_maturity(unit: Any, config: DeviceConfig, window: Any) -> LabelMaturity:
    """Final counts and the ``label_arrival`` section of ``window`` (device_id, start, end, cutoff)."""
    policy = {"provisional_sources": list(config.labels.provisional_sources),
              "window_days": config.monitoring.maturity_window_days}
    cells = unit.label_arrival.final_cells(window.device_id, start=window.start, end=window.end,
                                           cutoff=window.cutoff, attributes=config.strata.attributes, **policy)
    histograms = unit.label_arrival.arrival_histograms(window.device_id, before=window.start, cutoff=window.cutoff,
                                                       horizon_days=config.monitoring.maturity_window_days,
                                                       **policy)
    return label_arrival(cells, histograms, config)
