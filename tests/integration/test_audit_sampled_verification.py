"""Done-when of issue 19 item 4: a DR-triage device whose low-risk calls are verified only by a 10% audit sample.

Five quarters are ingested and analysed on both engines (``app`` fixture). The verification-corrected
evidence (:func:`monitor.domain.verification_design.corrected_estimates`, read from the stored data through
the analysis's own aggregates) shows no specificity shortfall in any quarter and shows the sensitivity drop
planted among the low-risk calls of one quarter. The analysis itself must then open no specificity ticket,
raise no specificity CUSUM alarm (the charts see the verified cases month by month), and flag the planted drop,
deciding on the corrected evidence (result rows with basis ``verification_corrected``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from scipy import stats

from monitor.adapters.config_file import load_device_config
from monitor.domain.evaluation import stratum_counts
from monitor.domain.evidence import Adjustments, combine
from monitor.domain.periods import Period
from monitor.domain.verification_design import audit_plan, corrected_estimates
from monitor.service.analyze import analyze_period
from monitor.service.devices import register_device
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.stats.metrics import metric_fraction
from monitor.synthetic import write_csv
from monitor.synthetic.deliveries import monthly_deliveries
from monitor.synthetic.dr_triage import DrTriageScenario, generate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dr-triage.yaml"
DROP_QUARTER = "2025Q2"
#: Small volumes: 4,000 screenings a quarter (about 340 audited low-risk calls), sensitivity 0.90 -> 0.60.
SCENARIO = DrTriageScenario(cases_per_quarter=4_000, drop_quarter=DROP_QUARTER, sensitivity_drop=0.30)
CUTOFF = datetime(2026, 12, 31, tzinfo=timezone.utc)  # taken as "now": every label has been ingested


def _ingest_and_analyse(app, clock, tmp_path):  # type: ignore[no-untyped-def]
    """The scenario replayed month by month (each month's logs ingested at its end, so that the charts see
    the cases in the order they became known) and every quarter analysed: ``(config, {quarter: outcome})``."""
    config = load_device_config(EXAMPLE)
    register_device(config, uow=app.uow, clock=app.clock, actor="t", source=str(EXAMPLE))
    data = generate(SCENARIO)
    for i, delivery in enumerate(monthly_deliveries(data, until=pd.Timestamp(CUTOFF))):
        clock.now = delivery.at.to_pydatetime().astimezone(timezone.utc)
        if not delivery.predictions.empty:
            path = write_csv(delivery.predictions, tmp_path / f"p{i}.csv")
            ingest_predictions(app.open_log(path), source=path.name, uow=app.uow, hash_patient=app.patient_hasher(),
                               clock=app.clock, actor="t")
        if not delivery.ground_truth.empty:
            path = write_csv(delivery.ground_truth, tmp_path / f"g{i}.csv")
            ingest_ground_truth(app.open_log(path), source=path.name, uow=app.uow, clock=app.clock, actor="t")
    clock.now = CUTOFF
    outcomes = {q: analyze_period(config.device.id, Period.parse(q), uow=app.uow, clock=app.clock, actor="t",
                                  cutoff=CUTOFF) for q in SCENARIO.quarters}
    return config, outcomes


def _stored_frames(app, config, quarter: str):  # type: ignore[no-untyped-def]
    """The quarter's verification and confusion cells, read through the analysis's aggregates (read-only)."""
    start, end = Period.parse(quarter).bounds_utc(ZoneInfo(config.monitoring.timezone))
    with app.uow() as unit, unit.aggregates.window_cases(config.device.id, start=start, end=end, cutoff=app.clock(),
                                                          attributes=config.strata.attributes) as cases:
        return unit.aggregates.verification_cells(cases), unit.aggregates.confusion_cells(cases)


def _shortfalls(cells, config, corrected) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(stratum, metric) whose exact one-sided upper bound on the effective counts lies below the goal
    (Bonferroni over the tested stratum-metrics at monitoring.alpha: stricter than the rule's Holm)."""
    rows = []
    for sc in stratum_counts(cells, config):
        for metric in ("sensitivity", "specificity"):
            x, n = metric_fraction(metric, sc.tp, sc.fp, sc.fn, sc.tn)
            claim = config.claims.claim_for(metric, sc.stratum)
            e = combine((sc.model_version, sc.stratum.key, metric), int(x), int(n), Adjustments(corrected=corrected))
            if e.trials > 0:
                rows.append((sc.stratum.key, metric, e, claim.value - claim.margin))
    level = config.monitoring.alpha / len(rows)
    return {(s, m) for s, m, e, goal in rows
            if e.successes < e.trials and stats.beta.ppf(1 - level, e.successes + 1, e.trials - e.successes) < goal}


def test_audit_sampled_verification_over_five_quarters(app, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config, outcomes = _ingest_and_analyse(app, clock, tmp_path)
    # 1. The corrected evidence, from the stored data through the analysis's aggregates.
    for quarter in SCENARIO.quarters:
        verification, cells = _stored_frames(app, config, quarter)
        found = _shortfalls(cells, config, corrected_estimates(verification, cells, config))
        assert not {f for f in found if f[1] == "specificity"}, quarter
        assert (("overall", "sensitivity") in found) == (quarter == DROP_QUARTER), (quarter, found)
        assert ("overall", "specificity") in _shortfalls(cells, config, {})  # naive counts: a false shortfall
        if quarter == DROP_QUARTER:  # the plan computed for the quarter can detect the planted drop
            plan = {row["stratum"]: row for row in audit_plan(verification, cells, config)}["overall"]
            assert SCENARIO.sensitivity - SCENARIO.sensitivity_drop < plan["detectable_sensitivity"]
    # 2. No specificity CUSUM alarm in any quarter (the charts of an audit design, helper "sequential").
    charted = 0
    for quarter, outcome in outcomes.items():
        assert [a for a in outcome.document["sequential_alarms"] if a["metric"] == "specificity"] == [], quarter
        charted += sum(c["cases_in_period"] for c in outcome.document["sequential"]["cusum"]
                       if c["metric"] == "specificity" and c["stratum"] == "overall")
    assert charted > 1_000  # the charts did see the verified negatives, quarter by quarter
    # 3. The analysis's own decisions, on the corrected evidence.
    results = [r for outcome in outcomes.values() for r in outcome.document["results"]]
    assert any("verification_corrected" in (r.get("basis") or []) for r in results)
    for quarter, outcome in outcomes.items():
        flagged = {(r["stratum"], r["metric"]) for r in outcome.document["results"] if r["status"] == "flagged"}
        assert not {f for f in flagged if f[1] == "specificity"}, quarter
        assert (("overall", "sensitivity") in flagged) == (quarter == DROP_QUARTER), (quarter, flagged)
    assert outcomes[DROP_QUARTER].opened_tickets
