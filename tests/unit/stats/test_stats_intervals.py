"""Oracle tests for monitor.stats.intervals against R `binom` reference values."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from monitor.stats.intervals import INTERVAL_METHODS, proportion_interval, proportion_intervals

REFERENCE = json.loads(
    (Path(__file__).parents[2] / "data" / "r_binom_reference.json").read_text(encoding="utf-8")
)


def _cases(method: str) -> list[Any]:
    r_method = REFERENCE["method_map"][method]
    jeffreys_ok = {tuple(c) for c in REFERENCE["jeffreys_cases"]}
    out = []
    for case in REFERENCE["cases"]:
        if method == "jeffreys" and (case["x"], case["n"]) not in jeffreys_ok:
            continue
        low, upp = case["lower"][r_method], case["upper"][r_method]
        if low is None or upp is None:
            continue
        out.append(pytest.param(method, case["x"], case["n"], low, upp, id=f"{method}-{case['x']}/{case['n']}"))
    return out


def test_reference_file_has_source() -> None:
    assert "binom.confint" in REFERENCE["source"]
    assert REFERENCE["conf_level"] == 0.95


def test_interval_methods_constant() -> None:
    assert INTERVAL_METHODS == ("wilson", "clopper-pearson", "jeffreys")


@pytest.mark.parametrize("method", INTERVAL_METHODS)
def test_reference_cases_present(method: str) -> None:
    assert len(_cases(method)) >= (3 if method == "jeffreys" else 8)


@pytest.mark.parametrize(
    ("method", "x", "n", "low", "upp"),
    [*_cases("wilson"), *_cases("clopper-pearson"), *_cases("jeffreys")],
)
def test_matches_r_binom(method: str, x: int, n: int, low: float, upp: float) -> None:
    # n = 30 cases are printed with ~7 significant digits in the source.
    tol = 1e-6 if n == 30 else 1e-9
    got = proportion_interval(x, n, confidence=0.95, method=method)  # type: ignore[arg-type]
    assert got[0] == pytest.approx(low, abs=tol)
    assert got[1] == pytest.approx(upp, abs=tol)


def test_textbook_45_of_50() -> None:
    lo, hi = proportion_interval(45, 50, method="wilson")
    assert (round(lo, 4), round(hi, 4)) == (0.7864, 0.9565)
    lo, hi = proportion_interval(45, 50, method="clopper-pearson")
    assert (round(lo, 4), round(hi, 4)) == (0.7819, 0.9667)


def test_clopper_pearson_equals_beta_quantiles() -> None:
    # Clopper & Pearson (1934): limits are beta quantiles.
    x, n, a = 7, 23, 0.10
    lo, hi = proportion_interval(x, n, confidence=1 - a, method="clopper-pearson")
    assert lo == pytest.approx(stats.beta.ppf(a / 2, x, n - x + 1), abs=1e-12)
    assert hi == pytest.approx(stats.beta.ppf(1 - a / 2, x + 1, n - x), abs=1e-12)


def test_wilson_closed_form() -> None:
    # Wilson (1927) score interval, written out independently.
    x, n, conf = 17, 40, 0.90
    z = stats.norm.ppf(1 - (1 - conf) / 2)
    p = x / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    lo, hi = proportion_interval(x, n, confidence=conf)
    assert lo == pytest.approx(centre - half, abs=1e-12)
    assert hi == pytest.approx(centre + half, abs=1e-12)


def test_jeffreys_boundary_convention() -> None:
    # Brown, Cai & DasGupta (2001): L(0) = 0 and U(n) = 1.
    lo0, hi0 = proportion_interval(0, 30, method="jeffreys")
    assert lo0 == 0.0
    assert hi0 == pytest.approx(stats.beta.ppf(0.975, 0.5, 30.5), abs=1e-12)
    lon, hin = proportion_interval(30, 30, method="jeffreys")
    assert hin == 1.0
    assert lon == pytest.approx(stats.beta.ppf(0.025, 30.5, 0.5), abs=1e-12)


@pytest.mark.parametrize("method", INTERVAL_METHODS)
def test_zero_trials_gives_nan_without_warning(method: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = proportion_interval(0, 0, method=method)  # type: ignore[arg-type]
        los, his = proportion_intervals([0, 3, 0], [0, 5, 0], method=method)  # type: ignore[arg-type]
    assert math.isnan(lo) and math.isnan(hi)
    assert np.isnan(los[[0, 2]]).all() and np.isnan(his[[0, 2]]).all()
    assert np.isfinite(los[1]) and np.isfinite(his[1])


@pytest.mark.parametrize("method", INTERVAL_METHODS)
def test_vectorised_equals_scalar(method: str) -> None:
    rng = np.random.default_rng(7)
    n = rng.integers(0, 400, size=60)
    k = rng.binomial(n, 0.85)
    lo, hi = proportion_intervals(k, n, confidence=0.9, method=method)  # type: ignore[arg-type]
    assert lo.shape == hi.shape == (60,)
    for i in range(60):
        expected = proportion_interval(int(k[i]), int(n[i]), confidence=0.9, method=method)  # type: ignore[arg-type]
        np.testing.assert_allclose([lo[i], hi[i]], expected, rtol=0, atol=1e-15)
    ok = n > 0
    assert np.all(lo[ok] <= k[ok] / n[ok]) and np.all(k[ok] / n[ok] <= hi[ok])
    assert np.all((lo[ok] >= 0) & (hi[ok] <= 1))


def test_vectorised_2d_broadcast() -> None:
    lo, hi = proportion_intervals([[1, 2], [3, 4]], 10)
    assert lo.shape == (2, 2)


def test_higher_confidence_is_wider() -> None:
    lo90, hi90 = proportion_interval(40, 50, confidence=0.90)
    lo99, hi99 = proportion_interval(40, 50, confidence=0.99)
    assert lo99 < lo90 and hi99 > hi90


def test_widths_table_regulatory_4_1() -> None:
    # regulatory.md 4.1 [C] widths at Se ~ 0.857 (rounded to 3 decimals there).
    table = {
        100: (0.136, 0.145, 0.135),
        200: (0.098, 0.102, 0.097),
        400: (0.069, 0.071, 0.068),
    }
    for n, widths in table.items():
        k = round(0.857 * n)
        for method, width in zip(INTERVAL_METHODS, widths, strict=True):
            lo, hi = proportion_interval(k, n, method=method)  # type: ignore[arg-type]
            assert hi - lo == pytest.approx(width, abs=0.0015), (n, method)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"successes": 6, "trials": 5}, "must not exceed trials"),
        ({"successes": -1, "trials": 5}, "non-negative"),
        ({"successes": 1, "trials": 5, "method": "wald"}, "unknown interval method"),
        ({"successes": 1, "trials": 5, "confidence": 95}, "confidence"),
        ({"successes": 1, "trials": 5, "confidence": 0.0}, "confidence"),
        ({"successes": [1, 2], "trials": 5}, "scalar"),
    ],
)
def test_invalid_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        proportion_interval(**kwargs)


def test_vectorised_invalid_input() -> None:
    with pytest.raises(ValueError, match="must not exceed trials"):
        proportion_intervals([1, 7], [5, 5])
