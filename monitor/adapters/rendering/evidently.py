"""The Evidently data-drift report files (format ``evidently``): a standalone HTML page and its JSON.

The page is Evidently's own (``DataDriftPreset``, :func:`monitor.adapters.drift_evidently.evidently_drift_report`)
with a banner on top: the device, period and report revision, that the analysis' histogram drift decides
(:data:`monitor.service.evidently_report.DECIDING_METHOD`), what was sampled, and per feature the analysis'
verdict on every row next to Evidently's on the sample. The JSON (``samd-monitor/evidently-drift``) holds
the same comparison, the sample's description and Evidently's results (``Snapshot.dict()``).

Evidently is imported here, on the first report of this format only (it takes seconds to import).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from markupsafe import escape

from monitor.service.evidently_report import DECIDING_METHOD, DriftSample

__all__ = ["EVIDENTLY_SCHEMA", "render_evidently"]

EVIDENTLY_SCHEMA = "samd-monitor/evidently-drift"

_STYLE = ("font-family: system-ui, sans-serif; margin: 16px; padding: 12px 16px; border: 1px solid #c8c8c8; "
          "border-radius: 6px; background: #fafafa; color: #222; font-size: 14px")


def _number(value: Any) -> str:
    return "—" if value is None else f"{float(value):.4f}"


def _verdict(drifted: Any) -> str:
    return "no reference" if drifted is None else ("drifted" if drifted else "not drifted")


def _columns(sample: DriftSample, results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, kind in sample.kinds.items():
        ours = sample.ours[name]
        theirs = results.get(name)
        evidently = None if theirs is None else {"method": theirs.method, "value": theirs.value,
                                                 "threshold": theirs.threshold, "drifted": theirs.drifted}
        out.append({"feature": name, "kind": kind,
                    "ours": {k: ours.get(k) for k in ("method", "value", "threshold", "drifted", "reason",
                                                      "reference_n", "current_n")},
                    "evidently": evidently,
                    "same_verdict": None if evidently is None or ours.get("drifted") is None
                    else evidently["drifted"] == ours["drifted"]})
    return out


def _banner(sample: DriftSample, identity: dict[str, Any], columns: list[dict[str, Any]], note: str) -> str:
    s = sample.sample
    rows = "".join(
        f"<tr><td>{escape(c['feature'])}</td><td>{escape(c['ours']['method'] or '—')}</td>"
        f"<td>{_number(c['ours']['threshold'])}</td><td>{_number(c['ours']['value'])}</td>"
        f"<td>{escape(_verdict(c['ours']['drifted']))}</td>"
        f"<td>{_number(c['evidently']['value'] if c['evidently'] else None)}</td>"
        f"<td>{escape(_verdict(c['evidently']['drifted']) if c['evidently'] else '—')}</td></tr>"
        for c in columns)
    reference = ", ".join(s["reference_periods"]) or "none"
    return (
        f'<div id="samd-monitor-banner" style="{_STYLE}">'
        f"<h2 style=\"margin-top:0\">Evidently data-drift report · {escape(sample.device_id)} · "
        f"{escape(sample.period)}</h2>"
        f"<p>Report {escape(identity.get('report_id', ''))}, revision {escape(identity.get('revision', ''))} "
        f"(analysis run {escape(sample.run_id)}).</p>"
        f"<p><strong>{escape(DECIDING_METHOD)}</strong></p>"
        f"<p>Sample: at most {s['max_rows_per_side']:,} rows per side, stratified by site (proportional "
        f"allocation), seeded (seed {s['seed']}); period {s['current']['rows']:,} of "
        f"{s['current']['population']:,} rows, reference ({escape(reference)}) {s['reference']['rows']:,} of "
        f"{s['reference']['population']:,} rows, as of the data cut-off {escape(s['data_cutoff'])}. Each feature "
        f"is checked with the method and threshold that decided it in the analysis.</p>"
        f"{note}"
        "<table style=\"border-collapse:collapse\" cellpadding=\"4\"><thead><tr><th>feature</th><th>method</th>"
        "<th>threshold</th><th>ours (every row)</th><th>ours: verdict</th><th>Evidently (sample)</th>"
        "<th>Evidently: verdict</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>")


def render_evidently(sample: DriftSample, identity: dict[str, Any]) -> tuple[str, str]:
    """The HTML page and the JSON text of the Evidently drift report of ``sample``.

    Without rows on both sides (no preceding window with cases) Evidently cannot compare: the page
    says so and the JSON's ``evidently`` is null; Evidently is then not imported. A column without any
    value on a side is left out of Evidently's run (its ``evidently`` entry is null).
    """
    results: dict[str, Any] = {}
    snapshot, version, page = None, None, None
    # a column without any value on a side (e.g. an optional input nobody sent) cannot be compared: Evidently
    # refuses an empty column, so it is left out (its row reads "—", like ours without a reference)
    kinds = {name: kind for name, kind in sample.kinds.items()
             if sample.reference[name].notna().any() and sample.current[name].notna().any()} \
        if sample.comparable else {}
    if kinds:
        from monitor.adapters.drift_evidently import evidently_drift_report  # imports Evidently (seconds)

        report = evidently_drift_report(sample.reference, sample.current, kinds, methods=sample.methods,
                                        thresholds=sample.thresholds,
                                        page_id=hashlib.sha256(sample.run_id.encode()).hexdigest()[:32])
        results = {r.feature: r for r in report.results}
        snapshot, version, page = report.snapshot, report.version, report.html
    columns = _columns(sample, results)
    note = "" if page is not None else (
        "<p><strong>Not compared:</strong> the period or its preceding reference window has no cases, so "
        "Evidently has nothing to compare (the analysis reads 'no reference', never 'not drifted').</p>")
    banner = _banner(sample, identity, columns, note)
    if page is None:
        html = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"UTF-8\"><title>Evidently data drift · "
                f"{escape(sample.device_id)} · {escape(sample.period)}</title></head><body>{banner}</body></html>\n")
    else:
        at = page.find("<body>")
        html = page[:at + len("<body>")] + banner + page[at + len("<body>"):] if at >= 0 else banner + page
    document = {"schema": EVIDENTLY_SCHEMA, "schema_version": 1, "device_id": sample.device_id,
                "period": sample.period, "run_id": sample.run_id, "report_id": identity.get("report_id"),
                "revision": identity.get("revision"), "deciding_method": DECIDING_METHOD,
                "sample": sample.sample, "columns": columns, "evidently_version": version, "evidently": snapshot}
    text = json.dumps(_finite(document), indent=2, ensure_ascii=False, sort_keys=True, allow_nan=False) + "\n"
    return html, text


def _finite(value: Any) -> Any:
    """JSON types only, a non-finite number as null (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
