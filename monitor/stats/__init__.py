"""Pure statistics core of samd-monitor.

Only numpy, scipy, statsmodels, pandas and the standard library are imported
here; no I/O, no database, no rendering. Methods and references are described
in ``docs/methods.md``.

Modules
-------
metrics         confusion counts -> (successes, trials); point estimates
intervals       Wilson / Clopper-Pearson / Jeffreys confidence intervals
binomial_tests  exact one-sided test of a shortfall against a claim
multiplicity    Benjamini-Hochberg and Holm adjusted p-values
power           exact / normal power, sample size, minimal detectable drop
cells           count algebra on cell tables (tp, fp, fn, tn by stratum keys)
"""

from __future__ import annotations

from monitor.stats.binomial_tests import claim_shortfall_pvalue, claim_shortfall_pvalues
from monitor.stats.cells import COUNT_COLUMNS, add_cells, confusion_cells, marginal_counts
from monitor.stats.intervals import (
    INTERVAL_METHODS,
    IntervalMethod,
    proportion_interval,
    proportion_intervals,
)
from monitor.stats.metrics import METRIC_NAMES, estimate, metric_fraction
from monitor.stats.multiplicity import benjamini_hochberg, holm
from monitor.stats.power import (
    exact_power,
    exact_powers,
    minimal_detectable_drop,
    minimal_detectable_drops,
    required_trials,
    required_trials_normal,
)

__all__ = [
    # metrics
    "METRIC_NAMES",
    "metric_fraction",
    "estimate",
    # intervals
    "IntervalMethod",
    "INTERVAL_METHODS",
    "proportion_interval",
    "proportion_intervals",
    # binomial tests
    "claim_shortfall_pvalue",
    "claim_shortfall_pvalues",
    # multiplicity
    "benjamini_hochberg",
    "holm",
    # power
    "exact_power",
    "exact_powers",
    "required_trials",
    "required_trials_normal",
    "minimal_detectable_drop",
    "minimal_detectable_drops",
    # cells
    "COUNT_COLUMNS",
    "marginal_counts",
    "add_cells",
    "confusion_cells",
]
