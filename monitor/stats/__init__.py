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
auc             AUC with DeLong variance (per case, from histograms, paired)
calibration     Brier score, calibration-in-the-large and slope
comparisons     differences of proportions (Newcombe), Fisher / z tests
survival        Kaplan-Meier time-to-event summaries
verification    Begg-Greenes correction, audit-sampling plan
maturity        label maturity of a cohort
sequential      Bernoulli CUSUM design and paths, EWMA charts
drift           data drift from binned counts
cbpe            label-free performance estimation
agreement       Cohen's kappa, positive / negative percent agreement, exact McNemar
paired          paired proportions (Newcombe, McNemar) and paired AUC from a joint histogram
volumes         Bland-Altman bias and limits of agreement from streamed sums
rate_limits     exact one-sided test of a rate above a claimed maximum
"""

from __future__ import annotations

from monitor.stats.agreement import KappaResult, PercentAgreement, cohen_kappa, mcnemar_exact, percent_agreement
from monitor.stats.auc import AucResult, PairedAucResult, auc_delong, auc_from_histograms, paired_delong
from monitor.stats.paired import (
    PairedProportionComparison,
    compare_paired_proportions,
    newcombe_paired_difference,
    paired_auc_from_histogram,
)
from monitor.stats.rate_limits import rate_excess_pvalues
from monitor.stats.volumes import BlandAltmanResult, bland_altman_from_sums
from monitor.stats.calibration import CalibrationResult, brier_score, calibration
from monitor.stats.cbpe import EstimatedPerformance, cbpe, cbpe_from_bins, fit_isotonic_calibration
from monitor.stats.comparisons import (
    ProportionComparison,
    compare_proportions,
    compare_to_reference,
    newcombe_difference,
    stratum_vs_rest,
)
from monitor.stats.drift import DriftResult, chi_square_test, drift_from_counts, jensen_shannon_distance, psi, rate_shift, wasserstein_binned
from monitor.stats.maturity import MaturitySummary, maturity_summary, mostly_pending
from monitor.stats.sequential import (
    BernoulliCusumDesign,
    CusumPath,
    EwmaChart,
    bernoulli_cusum_arl,
    bernoulli_cusum_path,
    bernoulli_cusum_state,
    bernoulli_cusum_weights,
    design_bernoulli_cusum,
    ewma_proportion_chart,
)
from monitor.stats.survival import TimeToEventSummary, durations_from_timestamps, time_to_event_summary
from monitor.stats.verification import CorrectedAccuracy, audit_sample_size, begg_greenes
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
    "AucResult", "PairedAucResult", "auc_delong", "auc_from_histograms", "paired_delong",
    "CalibrationResult", "brier_score", "calibration",
    "EstimatedPerformance", "cbpe", "cbpe_from_bins", "fit_isotonic_calibration",
    "ProportionComparison", "compare_proportions", "compare_to_reference", "newcombe_difference", "stratum_vs_rest",
    "DriftResult", "chi_square_test", "drift_from_counts", "jensen_shannon_distance", "psi", "rate_shift",
    "wasserstein_binned",
    "MaturitySummary", "maturity_summary", "mostly_pending",
    "BernoulliCusumDesign", "CusumPath", "EwmaChart", "bernoulli_cusum_arl", "bernoulli_cusum_path",
    "bernoulli_cusum_state", "bernoulli_cusum_weights", "design_bernoulli_cusum", "ewma_proportion_chart",
    "TimeToEventSummary", "durations_from_timestamps", "time_to_event_summary",
    "CorrectedAccuracy", "audit_sample_size", "begg_greenes",
    "KappaResult", "PercentAgreement", "cohen_kappa", "mcnemar_exact", "percent_agreement",
    "PairedProportionComparison", "compare_paired_proportions", "newcombe_paired_difference",
    "paired_auc_from_histogram", "rate_excess_pvalues", "BlandAltmanResult", "bland_altman_from_sums",
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
