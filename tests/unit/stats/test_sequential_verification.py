"""Charts under verification by design (audit samples): the verified-case rates and the run lengths of the
CUSUM designed on them, against Bayes' rule, the Begg-Greenes estimator and a simulation of the design."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.stats.sequential import (
    bernoulli_cusum_arl,
    bernoulli_cusum_path,
    design_bernoulli_cusum,
    rate_among_verified,
    rate_from_verified,
)
from monitor.stats.verification import begg_greenes


def test_rate_among_verified_is_bayes_rule_and_its_inverse_is_the_begg_greenes_estimate() -> None:
    # Hand computation: miss rate 0.10, misses (negative calls) verified at 10%, hits at 100%.
    assert rate_among_verified(0.10, 0.1, 1.0) == pytest.approx(0.01 / (0.01 + 0.9), abs=1e-15)
    assert rate_from_verified(rate_among_verified(0.37, 0.2, 0.9), 0.2, 0.9) == pytest.approx(0.37, abs=1e-14)
    assert rate_among_verified(0.3, 0.5, 0.5) == pytest.approx(0.3)  # equal fractions: no bias
    # Observed verified cells of an audit design: the corrected sensitivity equals Begg & Greenes'.
    tp, fn, fp, tn = 180, 3, 40, 95  # verified; positive calls all verified, negative calls at 10%
    corrected = begg_greenes(tp, fp, fn, tn, tp + fp, (fn + tn) * 10)
    miss = rate_from_verified(fn / (tp + fn), 0.1, 1.0)
    assert 1.0 - miss == pytest.approx(corrected.sensitivity, abs=1e-12)
    spec = 1.0 - rate_from_verified(fp / (fp + tn), 1.0, 0.1)
    assert spec == pytest.approx(corrected.specificity, abs=1e-12)


def test_rates_outside_the_unit_interval_are_refused() -> None:
    with pytest.raises(ValueError):
        rate_among_verified(1.2, 0.1, 1.0)
    with pytest.raises(ValueError):
        rate_from_verified(0.5, 0.0, 1.0)


def _simulated_run_lengths(p: float, fractions: tuple[float, float], q0: float, q1: float, h: float, runs: int,
                           rng: np.random.Generator) -> np.ndarray:
    """Run lengths, in verified cases, of the chart fed by a simulated audit design: every true positive is a
    miss with probability p; a miss is verified with fractions[0] (negative call), a hit with fractions[1]."""
    lengths = []
    for _ in range(runs):
        state, seen = 0.0, 0
        while True:  # one run, extended chunk by chunk (the statistic carries over)
            miss = rng.random(2000) < p
            verified = rng.random(2000) < np.where(miss, fractions[0], fractions[1])
            path = bernoulli_cusum_path(miss[verified], q0, q1, h, start=state)
            if path.first_alarm is not None:
                lengths.append(seen + path.first_alarm + 1)
                break
            state = float(path.statistic[-1]) if path.statistic.size else state
            seen += int(verified.sum())
    return np.asarray(lengths, dtype=float)


@pytest.mark.parametrize(("p0", "p1", "p_true", "fractions"), [
    (0.10, 0.16, 0.10, (0.1, 1.0)),   # sensitivity chart (misses are negative calls), in control
    (0.10, 0.16, 0.16, (0.1, 1.0)),   # after the drop
    (0.15, 0.20, 0.15, (1.0, 0.1)),   # specificity chart (false positives are positive calls), in control
])
def test_the_chart_on_verified_cases_has_the_run_length_of_the_exact_chain(p0: float, p1: float, p_true: float,
                                                                         fractions: tuple[float, float]) -> None:
    """Oracle: simulation of the whole design (cases, the audit's verification, the chart on the verified
    cases) against the exact Markov-chain ARL of the chart on the mapped rates (few replicates here; the
    full figures are in bench/bench_sequential.py)."""
    q0, q1 = rate_among_verified(p0, *fractions), rate_among_verified(p1, *fractions)
    design = design_bernoulli_cusum(q0, q1, arl0=300, grid=4000)
    exact = bernoulli_cusum_arl(q0, q1, design.h, p_true=rate_among_verified(p_true, *fractions), grid=4000)
    lengths = _simulated_run_lengths(p_true, fractions, q0, q1, design.h, 300, np.random.default_rng(7))
    se = lengths.std(ddof=1) / np.sqrt(lengths.size)
    assert abs(lengths.mean() - exact) < 4 * se, (lengths.mean(), exact, se)
