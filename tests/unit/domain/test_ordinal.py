"""The ordinal section's statistics against independent oracles (issue 17 item 1).

* weighted kappa: sklearn ``cohen_kappa_score(weights=...)`` (also with case weights, for the audit design);
* its large-sample variance: statsmodels ``cohens_kappa(...).var_kappa`` (Fleiss, Cohen & Everitt 1969); the
  two-phase variance: a numerical delta method over the design's parameters, with sklearn as the function;
* the cut metrics and the lowest level's false-negative rate: hand counts; under an audit design a case-level
  weighted ratio and, at the primary cut, ``monitor.stats.verification.design_corrected`` (Begg-Greenes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa

from monitor.domain.device import DeviceConfig
from monitor.domain.ordinal import ordinal_section
from monitor.stats.ordinal import (
    design_proportions, design_ratio, kappa_weights, multinomial_variance, two_phase_variance, weighted_kappa,
)
from monitor.stats.verification import design_corrected

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dr-triage-ordinal.yaml"
#: AI level (rows) x reference grade (columns) of the verified cases; 170 of 1,700 low-risk calls audited
VERIFIED = np.array([[150, 12, 8], [20, 90, 10], [10, 30, 140]])
CALLS = np.array([1700, 120, 180])


def _config(**changes: object) -> DeviceConfig:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = data
        for key in path:
            node = node[key]
        node[last] = value
    return DeviceConfig.model_validate(data)


def _cases(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Case-level (AI level, grade) pairs of a matrix."""
    pairs = [(i, j) for i in range(matrix.shape[0]) for j in range(matrix.shape[1]) for _ in range(matrix[i, j])]
    level, grade = np.array(pairs).T
    return level, grade


def _case_weights(level: np.ndarray) -> np.ndarray:
    """Each verified case weighted by all calls / verified cases of its binary call (level >= 1)."""
    positive = level >= 1
    verified = np.array([(~positive).sum(), positive.sum()])
    calls = np.array([CALLS[0], CALLS[1:].sum()])
    return np.where(positive, calls[1] / verified[1], calls[0] / verified[0])


@pytest.mark.parametrize("weights", ["linear", "quadratic"])
def test_weighted_kappa_and_its_variance_equal_sklearn_and_statsmodels(weights: str) -> None:
    table = VERIFIED
    kappa, gradient = weighted_kappa(table / table.sum(), kappa_weights(3, weights))  # type: ignore[arg-type]
    level, grade = _cases(table)
    assert kappa == pytest.approx(cohen_kappa_score(grade, level, weights=weights), rel=1e-12)
    oracle = cohens_kappa(table, wt=weights)
    assert kappa == pytest.approx(oracle.kappa, rel=1e-12)
    variance = multinomial_variance(table / table.sum(), gradient, table.sum())
    assert variance == pytest.approx(oracle.var_kappa, rel=1e-10)
    # with every call verified the two-phase variance is the multinomial one (one multinomial, reparametrised)
    assert two_phase_variance(table, table.sum(axis=1), 1, gradient) == pytest.approx(variance, rel=1e-10)


def test_design_kappa_equals_case_weighted_sklearn_and_its_variance_a_numerical_delta_method() -> None:
    weights = kappa_weights(3, "quadratic")
    p = design_proportions(VERIFIED, CALLS, 1)
    kappa, gradient = weighted_kappa(p, weights)
    level, grade = _cases(VERIFIED)
    assert kappa == pytest.approx(cohen_kappa_score(grade, level, weights="quadratic",
                                                    sample_weight=_case_weights(level)), rel=1e-10)

    # Var = J Sigma J' over (pi, theta_0 cells, theta_1 cells), J by central differences of sklearn's kappa
    n_calls = np.array([CALLS[0], CALLS[1:].sum()], dtype=float)
    pi = n_calls[1] / n_calls.sum()
    theta0 = VERIFIED[:1] / VERIFIED[:1].sum()
    theta1 = VERIFIED[1:] / VERIFIED[1:].sum()
    params = np.concatenate([[pi], theta0.ravel(), theta1.ravel()])
    cells = [(i, j) for i in range(3) for j in range(3)]

    def kappa_of(x: np.ndarray) -> float:
        matrix = np.vstack([(1 - x[0]) * x[1:4].reshape(1, 3), x[0] * x[4:].reshape(2, 3)])
        w = np.array([matrix[i, j] for i, j in cells])
        return float(cohen_kappa_score([j for _, j in cells], [i for i, _ in cells], weights="quadratic",
                                       sample_weight=w))

    h = 1e-6
    jac = np.array([(kappa_of(params + h * e) - kappa_of(params - h * e)) / (2 * h) for e in np.eye(params.size)])
    sigma = np.zeros((params.size, params.size))
    sigma[0, 0] = pi * (1 - pi) / n_calls.sum()
    for block, theta in ((slice(1, 4), theta0.ravel()), (slice(4, 10), theta1.ravel())):
        n = VERIFIED[:1].sum() if block.start == 1 else VERIFIED[1:].sum()
        sigma[block, block] = (np.diag(theta) - np.outer(theta, theta)) / n
    assert two_phase_variance(VERIFIED, CALLS, 1, gradient) == pytest.approx(float(jac @ sigma @ jac), rel=1e-5)


def test_design_ratio_at_the_primary_cut_is_begg_greenes_including_zero_cells() -> None:
    i, j = np.indices((3, 3))
    for verified in (VERIFIED, np.where(i == 0, np.where(j == 0, 150, 0), VERIFIED)):  # second: no missed case
        tp, fp = verified[1:, 1:].sum(), verified[1:, 0].sum()
        fn, tn = verified[0, 1:].sum(), verified[0, 0]
        oracle = design_corrected(tp, fp, fn, tn, CALLS[1:].sum(), CALLS[0])
        sensitivity = design_ratio(verified, CALLS, 1, (i >= 1) & (j >= 1), j >= 1)
        specificity = design_ratio(verified, CALLS, 1, (i == 0) & (j == 0), j == 0)
        assert sensitivity == pytest.approx(tuple(map(float, oracle["sensitivity"])), rel=1e-12)
        assert specificity == pytest.approx(tuple(map(float, oracle["specificity"])), rel=1e-12)


def _frame(matrix: np.ndarray, calls: np.ndarray, camera: str = "Topcon") -> pd.DataFrame:
    """A level_counts frame of one stratum combination: the verified cells and the unverified calls."""
    rows = [(i, j, int(matrix[i, j])) for i in range(3) for j in range(3) if matrix[i, j]]
    rows += [(i, -1, int(calls[i] - matrix[i].sum())) for i in range(3) if calls[i] > matrix[i].sum()]
    frame = pd.DataFrame(rows, columns=["predicted_level", "label_level", "n"])
    return frame.assign(model_version="2.0.0", age_band="40-59", sex="F", camera=camera)


def test_cut_metrics_and_lowest_level_fnr_by_hand_under_complete_verification() -> None:
    config = _config(labels={}, monitoring__interval_method="clopper-pearson")
    result = ordinal_section(_frame(VERIFIED, VERIFIED.sum(axis=1)), config)
    overall = result.section.strata[0]
    assert overall.stratum == "overall" and overall.basis == "counts" and overall.calls == [170, 120, 180]
    cut1, cut2 = overall.cuts
    # cut 1 (monitor or above): Se = (90 + 10 + 30 + 140) / (12 + 8 + 90 + 10 + 30 + 140); Sp = 150 / 180
    assert (cut1.sensitivity.successes, cut1.sensitivity.trials) == (270, 290) and cut1.primary
    assert (cut1.specificity.successes, cut1.specificity.trials) == (150, 180)
    # cut 2 (refer_now): Se = 140 / (8 + 10 + 140); Sp = (150 + 12 + 20 + 90) / (180 + 132)
    assert (cut2.sensitivity.successes, cut2.sensitivity.trials) == (140, 158) and not cut2.primary
    assert (cut2.specificity.successes, cut2.specificity.trials) == (272, 312)
    assert cut2.specificity.estimate == pytest.approx(272 / 312)
    # lowest level's FNR: graded monitor or above, called low_risk: (12 + 8) / 290
    fnr = overall.lowest_level_fnr
    assert (fnr.successes, fnr.trials, fnr.effective_trials) == (20, 290, None)
    assert fnr.estimate == pytest.approx(20 / 290)
    from statsmodels.stats.proportion import proportion_confint
    assert (fnr.ci_low, fnr.ci_high) == pytest.approx(proportion_confint(20, 290, method="beta"))
    oracle = cohens_kappa(VERIFIED, wt="quadratic")
    assert overall.weighted_kappa == pytest.approx(oracle.kappa)
    assert overall.kappa_standard_error == pytest.approx(oracle.std_kappa)
    assert overall.kappa_ci_low == pytest.approx(oracle.kappa - 1.959963984540054 * oracle.std_kappa)


def test_audit_design_corrects_every_figure_and_hands_over_effective_counts() -> None:
    config = _config()  # the example: audit_sample, positive from monitor
    result = ordinal_section(_frame(VERIFIED, CALLS), config)
    overall = result.section.strata[0]
    assert overall.basis == "verification_corrected" and overall.matrix == VERIFIED.tolist()
    level, grade = _cases(VERIFIED)
    w = _case_weights(level)
    referable = grade >= 1
    fnr = overall.lowest_level_fnr
    assert fnr.estimate == pytest.approx(w[referable & (level == 0)].sum() / w[referable].sum(), rel=1e-12)
    i, j = np.indices((3, 3))
    _, variance = design_ratio(VERIFIED, CALLS, 1, (i == 0) & (j >= 1), j >= 1)
    assert fnr.effective_trials == pytest.approx(fnr.estimate * (1 - fnr.estimate) / variance)  # Korn-Graubard
    assert fnr.effective_successes == pytest.approx(fnr.estimate * fnr.effective_trials)
    cut2 = overall.cuts[1]  # refer_now: a cut the design does not stratify on
    assert cut2.sensitivity.estimate == pytest.approx(w[(grade == 2) & (level == 2)].sum() / w[grade == 2].sum())
    assert overall.weighted_kappa == pytest.approx(cohen_kappa_score(grade, level, weights="quadratic",
                                                                     sample_weight=w))
    evidence = {(e.stratum.key, e.metric): e for e in result.evidence}
    assert {m for _, m in evidence} == {"lowest_level_fnr", "weighted_kappa"}
    assert {s for s, _ in evidence} == {row.stratum for row in result.section.strata}  # every stratum
    e = evidence[("overall", "lowest_level_fnr")]
    assert (e.kind, e.source, e.events, e.trials) == ("proportion", "ordinal", fnr.effective_successes,
                                                      fnr.effective_trials)
    k = evidence[("overall", "weighted_kappa")]
    assert (k.kind, k.estimate, k.standard_error, k.trials) == ("estimate", overall.weighted_kappa,
                                                                overall.kappa_standard_error, 470)


def test_strata_are_the_monitored_ones_and_a_binary_device_has_no_section() -> None:
    frame = pd.concat([_frame(VERIFIED, CALLS, "Topcon"), _frame(VERIFIED, CALLS, "Canon")])
    config = _config(strata__intersections=[["camera", "sex"]])
    keys = [row.stratum for row in ordinal_section(frame, config).section.strata]
    assert keys[0] == "overall" and "camera=Canon" in keys and "camera=Canon & sex=F" in keys
    rows = {row.stratum: row for row in ordinal_section(frame, config).section.strata}
    assert rows["overall"].calls == (2 * CALLS).tolist() and rows["camera=Canon"].calls == CALLS.tolist()
    with pytest.raises(ValueError, match="ordinal"):
        ordinal_section(frame, _config(outputs={"type": "binary"}))
