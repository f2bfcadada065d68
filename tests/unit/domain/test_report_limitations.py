"""Limitations generated from the data and the stratum-vs-rest rows (monitor.domain.report_limitations)."""

from __future__ import annotations

from monitor.domain.report_limitations import limitations, stratum_vs_rest


def _row(stratum: str, level: int, q: float) -> dict[str, object]:
    return {"model_version": "2.1.0", "stratum": stratum, "level": level, "metric": "sensitivity", "successes": 8,
            "trials": 10, "reference_successes": 90, "reference_trials": 100, "estimate": 0.8,
            "reference_estimate": 0.9, "difference": -0.1, "ci_low": -0.3, "ci_high": 0.05, "p_value": q / 2,
            "q_value": q}


def test_single_strata_and_intersections_that_are_signals_are_shown() -> None:
    rows = [_row("sex=F", 1, 0.5), _row("sex=F & age_band=>=75", 2, 0.05), _row("sex=M & age_band=<45", 2, 0.4)]
    section = stratum_vs_rest({"stratum_vs_rest": rows, "rules": {"fdr": 0.1}})
    assert section is not None and (section.total, section.signals) == (3, 1)
    assert [(r.stratum, r.signal) for r in section.rows] == [("sex=F", False), ("sex=F & age_band=>=75", True)]
    assert stratum_vs_rest({"stratum_vs_rest": [], "rules": {"fdr": 0.1}}) is None


def test_limitations_follow_the_data() -> None:
    document = {
        "rules": {"maturity_window_days": 365},
        "maturity": [{"level": 0, "mature": False, "model_version": "2.1.0", "completeness": 0.8},
                     {"level": 1, "mostly_pending": True}],
        "summary": {"insufficient": 3},
        "results": [{"status": "inconclusive", "estimate": 0.85, "performance_goal": 0.88, "metric": "sensitivity",
                     "stratum": "sex=F", "family": "exploratory", "provisional": False},
                    {"status": "inconclusive", "estimate": 0.10, "performance_goal": 0.83, "metric": "specificity",
                     "stratum": "sex=F", "family": "exploratory", "provisional": True}],  # provisional: not "below goal"
        "verification": [{"level": 0, "model_version": "2.1.0", "verification_fraction_positive_calls": 0.9,
                          "verification_fraction_negative_calls": 0.7}],
    }
    items = limitations(document, sites_not_covered=["site-old-07"], undefined_sources=["other"],
                        scanner_basis="configured_models")
    kinds = [item.kind for item in items]
    assert items[3].values == {"count": 1, "examples": "sensitivity · sex=F"}
    assert kinds == ["label_immaturity", "mostly_pending_strata", "small_strata", "strata_below_goal",
                     "verification", "provisional_outcomes", "exploratory_family", "indicators", "independence",
                     "sites_not_covered", "undefined_reference_standard", "scanner_models_not_logged"]
    assert [i.kind for i in limitations({"rules": {"maturity_window_days": 0}, "summary": {}, "results": []})] == [
        "indicators", "independence"]
