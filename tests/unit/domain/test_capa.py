"""The CAPA record's pure rules: reporting deadlines per jurisdiction (NMPA 7/20/30 d, EU MDR 2/10/15 d,
FDA 30 d / 5 work days), the pre-specified pathway rule, section edits (computed fields, immutable trigger,
frozen acceptance criteria), signatures bound to the record hash, and the workflow gates naming what is missing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from monitor.domain.capa import (
    CHECKLIST,
    GATES,
    PccpModification,
    add_signature,
    checklist,
    decide_pathway,
    freeze_acceptance,
    missing_for,
    record_sha256,
    reporting_deadline,
    update_section,
)
from monitor.domain.capa.record import (
    AcceptanceRule,
    AcceptanceCriteria,
    CapaRecord,
    Identification,
    LabelMaturity,
    TriggerEvidence,
)
from monitor.errors import ConflictError, InputError

AWARE = datetime(2026, 2, 6, 9, 30, tzinfo=timezone.utc)  # a Friday
AT = datetime(2026, 2, 7, tzinfo=timezone.utc)


def _record() -> CapaRecord:
    trigger = TriggerEvidence(
        finding_id="f", run_id="run-1", period="2025Q3", data_cutoff="2026-01-31T00:00:00Z", detected_at=AWARE,
        input_fingerprint="a" * 64, config_hash="b" * 64, model_version="2.1.0", metric="sensitivity",
        stratum="emphysema_grade=severe", stratum_definition="emphysema_grade = severe", registered_value=0.90,
        margin=0.10, performance_goal=0.80, observed=0.76, ci_low=0.70, ci_high=0.81, confidence=0.95, test="exact",
        p_value=1e-4, q_value=1e-3, successes=182, trials=240, trials_are="confirmed positives",
        label_maturity=LabelMaturity(completeness=0.9))
    rule = AcceptanceRule(metric="sensitivity", stratum="emphysema_grade=severe", confidence=0.95,
                          stratum_lower_bound_at_least=0.8, min_trials=78, other_strata_estimate_at_least="x", text="t")
    return CapaRecord(ticket_id="RT-000001", trigger=trigger, acceptance=AcceptanceCriteria(rule=rule),
                      identification=Identification(device_id="d", product="p", model_versions=["2.1.0"]))


@pytest.mark.parametrize(("jurisdiction", "event_class", "expected"), [
    ("NMPA", "death", AWARE + timedelta(days=7)),
    ("NMPA", "serious_injury", AWARE + timedelta(days=20)),
    ("NMPA", "overseas_serious", AWARE + timedelta(days=30)),
    ("NMPA", "group_event", AWARE + timedelta(hours=12)),
    ("EU-MDR", "serious_public_health_threat", AWARE + timedelta(days=2)),
    ("EU-MDR", "death_or_unanticipated_serious_deterioration", AWARE + timedelta(days=10)),
    ("EU-MDR", "serious_incident", AWARE + timedelta(days=15)),
    ("EU-MDR", "trend_report", None),
    ("FDA", "mdr_30_day", AWARE + timedelta(days=30)),
    ("FDA", "mdr_5_day", AWARE + timedelta(days=7)),          # Fri + 5 work days = next Fri
    ("FDA", "correction_removal", AWARE + timedelta(days=14)),  # 10 work days = two weeks
    ("FDA", "not_reportable", None),
])
def test_reporting_deadlines_count_from_awareness(jurisdiction: str, event_class: str,
                                                  expected: datetime | None) -> None:
    assert reporting_deadline(jurisdiction, event_class, AWARE) == expected


def test_an_unknown_event_class_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="serious_injury"):
        reporting_deadline("NMPA", "bad", AWARE)


def test_pathway_rule_nmpa_significance_pccp_and_eu() -> None:
    # 182/240 = 0.758 against 0.90: significant -> 变更注册 and an EU significant change
    major = decide_pathway("data_driven_retrain", source="trigger", run_id="r", model_version="2.1.0", successes=182,
                           trials=240, registered_value=0.90, alpha=0.05)
    assert (major.nmpa, major.eu, major.fda, major.significant) == (
        "change_registration", "significant_change", "submission_assessment", True)
    # 215/240 = 0.896: no significant difference -> minor (QMS); the PCCP covers a retrain
    minor = decide_pathway("data_driven_retrain", source="validation_run", run_id="r2", model_version="2.2.0",
                           successes=215, trials=240, registered_value=0.90, alpha=0.05,
                           pccp=[PccpModification(id="PCCP-M2", modification_type="data_driven_retrain")])
    assert (minor.nmpa, minor.eu, minor.fda, minor.pccp_modification_id) == (
        "minor_change_qms", "not_significant", "within_pccp", "PCCP-M2")
    algorithm = decide_pathway("algorithm_change", source="trigger", run_id="r", model_version="2.1.0",
                               successes=215, trials=240, registered_value=0.90, alpha=0.05)
    assert (algorithm.nmpa, algorithm.eu) == ("change_registration", "significant_change")


def test_section_edits_compute_deadlines_and_pathway_and_refuse_what_may_not_change() -> None:
    record = update_section(_record(), "reportability", {"assessments": [
        {"jurisdiction": "NMPA", "event_class": "serious_injury", "rationale": "could cause serious injury"}]},
        actor="qa", at=AT, alpha=0.05)
    (assessment,) = record.reportability.assessments
    assert assessment.aware_at == AWARE and assessment.deadline == AWARE + timedelta(days=20)
    assert assessment.decision == "reportable" and assessment.assessed_by == "qa"
    record = update_section(record, "modification", {"modification_type": "threshold_recalibration"}, actor="qa",
                            at=AT, alpha=0.05)
    assert record.modification.pathway is not None and record.modification.pathway.comparison.source == "trigger"
    with pytest.raises(ConflictError, match="immutable"):
        update_section(record, "trigger", {"observed": 0.9}, actor="qa", at=AT, alpha=0.05)
    with pytest.raises(InputError, match="computed"):
        update_section(record, "modification", {"pathway": {}}, actor="qa", at=AT, alpha=0.05)
    with pytest.raises(InputError, match=r"risk.iec62304_class") as error:
        update_section(record, "risk", {"iec62304_class": "secret-value-D"}, actor="qa", at=AT, alpha=0.05)
    assert "secret-value-D" not in str(error.value)  # messages never echo the value given
    with pytest.raises(ConflictError, match="acceptance.primary_endpoint"):
        freeze_acceptance(record, actor="qa", at=AT)
    record = update_section(record, "acceptance", {"primary_endpoint": "lower bound >= 0.80",
                                                   "statistical_methods": "exact"}, actor="qa", at=AT, alpha=0.05)
    record = freeze_acceptance(record, actor="qa", at=AT)
    with pytest.raises(ConflictError, match="frozen"):
        update_section(record, "acceptance", {"regression_tests": "later"}, actor="qa", at=AT, alpha=0.05)


def test_signatures_are_bound_to_the_record_and_separate_duties() -> None:
    record = add_signature(_record(), user_id="bob", printed_name="Bob", meaning="reviewed", at=AT)
    assert record.approvals.signatures[0].record_sha256 == record_sha256(record)  # signatures are not hashed
    with pytest.raises(ConflictError, match="separation of duties"):
        add_signature(record, user_id="bob", printed_name="Bob", meaning="approved", at=AT)
    with pytest.raises(InputError, match="meaning"):
        add_signature(record, user_id="eve", printed_name="Eve", meaning="authored-by-me", at=AT)


def test_gates_name_the_missing_items_and_a_stale_approval_does_not_close() -> None:
    record = _record()
    missing = missing_for(record, "triaged", jurisdictions=("NMPA", "FDA"))
    assert "item 3 risk.hazard" in missing and "item 5 containment.effective_at" in missing
    assert "item 4 reportability.assessments: no assessment for FDA" in missing
    assert set(missing_for(record, "in_progress")) > set(missing_for(record, "triaged"))  # gates accumulate
    assert missing_for(record, "rejected") == []
    approved = add_signature(record, user_id="alice", printed_name="Alice", meaning="approved", at=AT)
    assert not any("signatures" in m for m in missing_for(approved, "closed"))
    changed = update_section(approved, "impact", {"labeling": "IFU 4.2"}, actor="qa", at=AT, alpha=0.05)
    assert any("earlier version of the record" in m for m in missing_for(changed, "closed"))
    dm = update_section(record, "data_management", {"annotator": "a", "reviewer": "a", "arbitrator": "b"},
                        actor="qa", at=AT, alpha=0.05)
    assert any("three different people" in m for m in missing_for(dm, "validating"))


def test_the_checklist_maps_all_twelve_items_to_fields_of_the_record() -> None:
    assert [n for n, _, _ in CHECKLIST] == list(range(1, 13))
    rows = checklist(_record())
    assert not rows[1]["empty"] and rows[1]["example"] == "sensitivity"  # item 2 filled at opening
    assert "risk.hazard" in rows[2]["empty"]
    gated = {path for paths in GATES.values() for _, path in paths}
    listed = {p for _, _, paths in CHECKLIST for p in paths}
    assert gated <= listed | {"modification.pathway"}
