"""Section ``annexes`` (block 160_annexes): the analysis plan (decision rule, families, configuration hash and
version), the software versions, the run and input fingerprint, and the audited actions since the previous
report's analysis (the full change log beside content.change_log)."""

from __future__ import annotations

from datetime import datetime

from monitor import __version__
from monitor.domain.report_records import AnalysisPlan, Annexes, AuditActions, FamilyPlan
from monitor.service.report_sections import ContentSection, ReportSource

#: The most audit records an annex counts (a bound on the read; the counts say when it was reached).
MAX_RECORDS = 100_000


def _config_version(source: ReportSource) -> int | None:
    listing = getattr(source.unit.devices, "list", None)
    if listing is None:
        return None
    for row in listing():
        if row["device_id"] == source.config.device.id:
            return int(row["config_version"])
    return None


def _actions(source: ReportSource) -> list[AuditActions]:
    baseline = source.core["change_log"].get("baseline")
    audit = source.unit.audit
    if baseline is None or not hasattr(audit, "records"):
        return []
    since = datetime.fromisoformat(baseline["created_at"])
    until = datetime.fromisoformat(source.document["created_at"])
    counts: dict[str, int] = {}
    for r in audit.records(MAX_RECORDS, since=since, until=until):
        counts[r["action"]] = counts.get(r["action"], 0) + 1
    return [AuditActions(action=k, records=v) for k, v in sorted(counts.items())]


def build(source: ReportSource) -> Annexes:
    doc, rules = source.document, source.document["rules"]
    families = [FamilyPlan(model_version=version, family=name, size=int(spec["size"]), method=spec["method"],
                           level=float(spec["level"]), error_rate=spec["error_rate"])
                for version, fams in sorted((rules.get("families") or {}).items()) for name, spec in fams.items()]
    baseline = source.core["change_log"].get("baseline") or {}
    plan = AnalysisPlan(decision_rule=rules.get("decision_rule"), families=families, config_hash=doc["config_hash"],
                        current_config_hash=source.config.config_hash(), current_config_version=_config_version(source),
                        interval_method=rules["interval_method"], confidence=float(rules["confidence"]),
                        alpha=float(rules["alpha"]), fdr=float(rules["fdr"]))
    return Annexes(analysis_plan=plan, software_version=__version__, analysis_software_version=doc["software_version"],
                   run_id=doc["run_id"], input_fingerprint=doc["input_fingerprint"],
                   baseline_period=baseline.get("period"), baseline_run_id=baseline.get("run_id"),
                   audit_actions_since_baseline=_actions(source))


SECTION = ContentSection("annexes", Annexes, build)
