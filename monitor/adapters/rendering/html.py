"""Render the periodic report to HTML with the Jinja2 template ``reports/report.html.j2``.

:func:`report_context` turns the report content (``monitor.service.report``) and the revision's
identity into the template's view: grouped tables, figures and the messages of the chosen language.
"""

from __future__ import annotations

import base64
import functools
import math
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)
from markupsafe import Markup

from monitor.adapters.rendering import charts
from monitor.adapters.rendering.lesion_charts import froc_figure
from monitor.adapters.rendering.i18n import catalog, inline_translator, translator
from monitor.adapters.rendering.normalise import (
    OUTCOMES,
    alarm_chart,
    decision_families,
    drift_comparisons,
    ewma_chart,
    result_row,
)
from monitor.errors import ReportError
from monitor.resources import resource_path

__all__ = ["CORE_SECTIONS", "TEMPLATE_DIR", "render_html", "report_context"]

TEMPLATE_DIR = resource_path("reports")
CORE_SECTIONS = frozenset({
    "schema", "schema_version", "run_id", "created_at", "actor", "software_version", "config_hash",
    "input_fingerprint", "device", "period", "data_cutoff", "rules", "sources", "completeness", "sites", "counts",
    "results", "findings", "summary", "reference_window", "discrimination", "reference_comparison",
    "stratum_vs_rest", "maturity", "verification", "time_to_intervention", "sequential", "data_drift",
    "early_warning", "sequential_alarms", "label_arrival", "clustering",
    "lesions",  # its own block (058_lesions)
    "comparator",  # its own block (085_comparator)
    "review",  # its own block (056_review)
})
MAX_FOREST_ROWS = 24
MAX_TREND_CHARTS = 4


def _pct(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f}%"


def _pvalue(value: float | None) -> str:
    if value is None:
        return "–"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:,.{digits}f}"


def _cell(value: Any) -> str:
    """A generic table cell: integers with separators, fractions to four decimals, lists joined."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _num(value, 4) if abs(value) < 1000 else _num(value, 1)
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)


@functools.lru_cache(maxsize=8)
def _environment(template_dir: Path) -> Environment:
    """The Jinja environment of ``template_dir``, one per process: its templates are compiled once (about
    1 s for the report's blocks), not once per rendered edition; an edited template is reloaded (Jinja
    checks the file's time)."""
    env = Environment(loader=FileSystemLoader(str(template_dir)), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pct"] = _pct
    env.filters["pvalue"] = _pvalue
    env.filters["num"] = _num
    env.filters["cellfmt"] = _cell
    return env


def section_templates(template_dir: Path = TEMPLATE_DIR) -> list[str]:
    """The report's section blocks, ``sections/NNN_<name>.html.j2``, in the order of their number.

    This is the section registry of the page: a new section is one such file (plus its catalog entries,
    ``sections/<name>.<language>.yaml``, and, for new content, one module of
    :mod:`monitor.service.report_sections`); nothing else names it."""
    return sorted(f"sections/{p.name}" for p in (template_dir / "sections").glob("[0-9][0-9][0-9]_*.html.j2"))


def render_html(context: dict[str, Any], *, template: str = "report.html.j2",
                template_dir: Path = TEMPLATE_DIR) -> str:
    """Render ``template`` with ``context``; template problems become :class:`ReportError`.

    Each section block is rendered on its own with ``no``, its number: the next number when the block
    renders to something, and the blocks that render empty (a section without content) are left out, so
    that the numbers stay consecutive. The frame gets the rendered blocks as ``sections``."""
    environment = _environment(template_dir)
    name = template
    try:
        blocks: list[Markup] = []
        for name in section_templates(template_dir) if template == "report.html.j2" else []:
            html = environment.get_template(name).render(**context, no=len(blocks) + 1)
            if html.strip():
                blocks.append(Markup(html.strip()))
        name = template
        return environment.get_template(template).render(**context, sections=blocks)
    except (TemplateError, KeyError, ValueError) as exc:
        raise ReportError(f"cannot render {name}: {exc}") from exc


# --- the view ---------------------------------------------------------------------------------------

def _label(language: str, key: str, **values: Any) -> str:
    if language == "both":
        return f"{catalog('en')[key].format(**values)} / {catalog('zh-CN')[key].format(**values)}"
    return catalog(language)[key].format(**values)


def _css_string(text: str) -> str:
    """A CSS string literal, safe inside ``<style>`` (no quote, backslash or angle bracket escapes it)."""
    clean = text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ").replace(">", "\\3e ")
    return '"' + clean + '"'


def _page_counter(language: str) -> str:
    parts = []
    for lang in (("en", "zh-CN") if language == "both" else (language,)):
        pattern = catalog(lang)["footer.pages"]
        before, rest = pattern.split("{page}", 1)
        middle, after = rest.split("{pages}", 1)
        parts.append(f'{_css_string(before)} counter(page) {_css_string(middle)} counter(pages) {_css_string(after)}')
    return ' "   " '.join(parts)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _forest(results: list[dict[str, Any]], language: str) -> str | None:
    """The forest plot of the rule's shortfalls, inconclusive and insufficient-evidence strata (the
    confirmatory ones first), at most ``MAX_FOREST_ROWS``; conformity shown and the old rule's rows
    are in the tables only."""
    shown = ("flagged", "inconclusive", "insufficient")
    rows = [result_row(r) for r in results if r["claim"] is not None and r["status"] in shown]
    rows.sort(key=lambda r: (shown.index(r["status"]), r["family"] != "confirmatory", -r["trials"], r["metric"],
                             r["stratum"], r["model_version"]))
    rows = rows[:MAX_FOREST_ROWS]
    if not rows:
        return None
    return _data_uri(charts.forest_plot(
        [r | {"label": f"{_label(language, 'metric.' + r['metric'])} · {r['stratum']} ({r['model_version']})"}
         for r in rows],
        title=_label(language, "performance.heading"), claim_label=_label(language, "common.claim"),
        goal_label=_label(language, "common.goal"),
        status_labels={s: _label(language, f"status.{s}") for s in charts.STATUS_COLOURS},
        provisional_label=_label(language, "decision.provisional_short")))


def _alarm_dates(chart: dict[str, Any], language: str) -> str:
    if chart["alarms"]:
        return ", ".join(a["known_on"] for a in chart["alarms"][:3]) + (" …" if len(chart["alarms"]) > 3 else "")
    if chart["legacy_first_case"]:
        return _label(language, "drift.legacy_first_alarm", case=chart["legacy_first_case"])
    return ""


#: At most this many CUSUM charts are drawn (the alarmed ones first, then the flagged strata's).
MAX_CUSUM_PANELS = 6


def _chart_title(language: str, chart: dict[str, Any]) -> str:
    return f"{_label(language, 'metric.' + chart['metric'])} · {chart['stratum']} ({chart['model_version']})"


def _cusum_legacy(document: dict[str, Any], language: str) -> str | None:
    """The earlier figure (each alarmed chart's peak relative to h), for documents without recorded paths."""
    alarms = [alarm_chart(a) for a in document.get("sequential_alarms") or []]
    if not alarms:
        return None
    rows = [a | {"label": _chart_title(language, a), "dates": _alarm_dates(a, language)} for a in alarms]
    return _data_uri(charts.cusum_ratio_chart(rows, title=_label(language, "drift.cusum_heading"),
                                              threshold_label=_label(language, "drift.h"),
                                              peak_label=_label(language, "drift.peak"),
                                              end_label=_label(language, "drift.end_statistic")))


def _cusum(document: dict[str, Any], language: str) -> dict[str, Any] | None:
    """The CUSUM figure: S_t against h over the period for each alarmed chart, then the charts of the flagged
    strata (sensitivity, specificity), at most ``MAX_CUSUM_PANELS``; with how many charts are not drawn
    (alarmed ones beyond the cap; the others did not alarm). A document without recorded paths (before
    issue 16) gets the earlier peak/h figure."""
    every = document["sequential"]["cusum"]
    key = {(c["model_version"], c["stratum"], c["metric"]): c for c in every}
    alarmed = [k for k in ((a["model_version"], a["stratum"], a["metric"])
                           for a in document.get("sequential_alarms") or []) if k in key]
    flagged = [k for k in ((f["model_version"], f["stratum"], f["metric"]) for f in document["findings"])
               if k in key and k not in alarmed]
    chosen = [k for k in dict.fromkeys([*alarmed, *flagged]) if charts.cusum_path_input(key[k])][:MAX_CUSUM_PANELS]
    if not chosen:
        legacy = _cusum_legacy(document, language)
        return None if legacy is None else {"png": legacy, "legacy": True}
    panels = [charts.cusum_path_input(key[k]) | {"title": _chart_title(language, key[k])} for k in chosen]
    labels = {"statistic": _label(language, "drift.cusum_path_statistic"), "h": _label(language, "drift.h"),
              "alarm": _label(language, "drift.cusum_path_alarm"),
              "day_peak": _label(language, "drift.cusum_path_day_peak")}
    png = charts.cusum_path_chart(panels, title=_label(language, "drift.cusum_heading"), labels=labels)
    alarmed_left = sum(1 for k in alarmed if k not in chosen)
    return {"png": _data_uri(png), "legacy": False, "drawn": len(chosen), "alarmed_drawn": len(chosen) - sum(
        1 for k in chosen if k not in alarmed), "alarmed_not_drawn": alarmed_left,
            "quiet_not_drawn": len(every) - len(chosen) - alarmed_left}


def _stratum_trends(content: dict[str, Any], language: str) -> dict[str, Any] | None:
    """The trend figure of the flagged and alarmed stratum-metrics over the stored periods (content section
    ``trends``), with their claim and goal; None when the section is empty or absent."""
    section = (content.get("sections") or {}).get("trends")
    series = [s for s in (section or {}).get("series") or [] if s["points"]]
    if not series:
        return None
    panels = [charts.stratum_trend_input(s) | {"title": _chart_title(language, s)} for s in series]
    labels = {"estimate": _label(language, "performance.trend_estimate"), "claim": _label(language, "common.claim"),
              "goal": _label(language, "common.goal"), "flagged": _label(language, "status.flagged")}
    png = charts.stratum_trend_chart(panels, title=_label(language, "performance.trend_heading"), labels=labels)
    return {"png": _data_uri(png), "drawn": len(series), "not_drawn": section.get("not_drawn", 0)}


def _trends(document: dict[str, Any], language: str) -> list[dict[str, Any]]:
    watched = {(f["model_version"], f["stratum"], f["metric"]) for f in document["findings"]}
    watched |= {(a["model_version"], a["stratum"], a["metric"]) for a in document.get("sequential_alarms") or []}
    ewma = [ewma_chart(e) for e in document["sequential"]["ewma"]]
    charts_ = [e for e in ewma if (e["model_version"], e["stratum"], e["metric"]) in watched]
    if not charts_:
        charts_ = [e for e in ewma if e["level"] == 0 and e["metric"] == "sensitivity"]
    out = []
    for e in [e for e in charts_ if len(e["periods"]) >= 2][:MAX_TREND_CHARTS]:
        metric = _label(language, "metric." + e["metric"])
        labels = {"band": _label(language, "drift.ewma_heading"), "rate": _label(language, "drift.rates"),
                  "ewma": "EWMA", "claim": _label(language, "common.claim"),
                  "reference": _label(language, f"drift.reference_source.{e['reference_source'] or 'claim'}"),
                  "outside": _label(language, "drift.outside_limits")}
        png = charts.trend_chart(e["periods"], rates=e["rates"], ewma=e["ewma"], lower=e["lower"], upper=e["upper"],
                                 claim=e["claim"], title=f"{metric} · {e['stratum']} ({e['model_version']})",
                                 labels=labels, reference=e["reference"],
                                 out_of_control=[*e["periods_below_lower_limit"], *e["periods_above_upper_limit"]])
        out.append({"png": _data_uri(png), "metric_label": metric, "stratum": e["stratum"],
                    "model_version": e["model_version"]})
    return out


#: Columns a generic table puts first, in this order; the others follow alphabetically.
LEADING_COLUMNS = ("name", "model_version", "stratum", "level", "metric", "feature", "site_id")


def _table(rows: list[Any], caption: str | None = None) -> dict[str, Any]:
    """A generic table of records: identifying columns first, then the others by name, so that the page
    does not depend on the order of the keys (the stored JSON sorts them, the in-memory content may not)."""
    if rows and all(isinstance(r, dict) for r in rows):
        names = {k for r in rows for k, v in r.items() if not isinstance(v, dict)}
        columns = [c for c in LEADING_COLUMNS if c in names] + sorted(names - set(LEADING_COLUMNS))
        return {"caption": caption, "columns": columns, "rows": [[r.get(c) for c in columns] for r in rows]}
    return {"caption": caption, "columns": ["value"], "rows": [[r] for r in rows]}


def _extra(key: str, value: Any) -> dict[str, Any]:
    """A generic section for a document key the template does not know: tables of its lists and scalars."""
    title_key = f"additional.{key}" if f"additional.{key}" in catalog("en") else None
    tables = []
    if isinstance(value, list):
        tables.append(_table(value))
    elif isinstance(value, dict):
        items = sorted(value.items())  # the page does not depend on the order of the keys
        scalars = [{"name": k, "value": v} for k, v in items if not isinstance(v, (list, dict))]
        if scalars:
            tables.append(_table(scalars))
        for k, v in items:
            if isinstance(v, list):
                tables.append(_table(v, caption=k))
            elif isinstance(v, dict):
                tables.append(_table([{"name": kk, "value": vv} for kk, vv in sorted(v.items())], caption=k))
    else:
        tables.append(_table([{"name": key, "value": value}]))
    return {"key": key, "title_key": title_key, "title": key.replace("_", " ").capitalize(), "tables": tables}


def _arrival(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The label-arrival section (maturity-aware evidence) for the report: its settings and the overall and
    single-stratum rows; None when the document has none (earlier documents, roll-ups)."""
    section = doc.get("label_arrival")
    if not section:
        return None
    rows = [r for r in section.get("strata") or [] if r.get("level", 0) <= 1]
    return {"horizon_days": section.get("horizon_days"), "min_expected_share": section.get("min_expected_share"),
            "provisional_sources": section.get("provisional_sources") or [], "rows": rows,
            "outcome_dependent": [d for d in section.get("distributions") or []
                                  if d.get("outcome_dependent_delay") and d.get("positives") and d.get("negatives")]}


#: A design effect at or above this is listed for an intersection too (overall and single strata always are).
DEFF_SHOWN = 1.1


def _clustering(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The patient-clustering section: overall and single strata, and the intersections whose design
    effect reaches ``DEFF_SHOWN`` for some metric; None when the document has none."""
    section = doc.get("clustering")
    if not section:
        return None
    rows = [r for r in section.get("strata") or []
            if r.get("level", 0) <= 1 or any((d or 0) >= DEFF_SHOWN for d in (r.get("design_effects") or {}).values())]
    metrics = [m for m in ("sensitivity", "specificity", "ppv", "npv")
               if any(m in (r.get("design_effects") or {}) for r in rows)]
    return {"repeated_patients": section.get("repeated_patients"), "metrics": metrics,
            "rows": [r | {"design_effects": {m: (r.get("design_effects") or {}).get(m) for m in metrics}}
                     for r in rows]}


def _decision(doc: dict[str, Any]) -> dict[str, Any]:
    """The rules block: whether the document carries the pre-specified rule (``new``), its families
    with their outcomes, and the pooled numbers the rule's text names."""
    families = decision_families(doc)
    rules = doc["rules"]
    return {"new": bool(families) or "decision_rule" in rules, "families": families, "outcomes": OUTCOMES,
            "alpha": rules.get("alpha"), "fdr": rules.get("fdr"),
            "provisional": sum(f["provisional"] for f in families),
            "recorded_rule": rules.get("decision_rule"), "legacy_rule": rules.get("flag_rule")}


def report_context(content: dict[str, Any], identity: dict[str, Any], language: str) -> dict[str, Any]:
    """The template's context for ``content`` (the report JSON) in ``language`` (en, zh-CN or both)."""
    t = translator(language)
    doc = content["analysis"]
    counts = {(c["model_version"], c["stratum"]): c for c in doc["counts"]}
    overall: dict[str, list[dict[str, Any]]] = {}
    stratified: dict[str, list[dict[str, Any]]] = {}
    for r in map(result_row, doc["results"]):
        c = counts.get((r["model_version"], r["stratum"]), {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
        row = r | {"n": c["tp"] + c["fp"] + c["fn"] + c["tn"], "positives": c["tp"] + c["fn"]}
        if r["level"] == 0:
            overall.setdefault(r["model_version"], []).append(row)
        elif r["claim"] is not None:
            stratified.setdefault(r["metric"], []).append(row)
    scanners: dict[str, int] = {}
    for c in doc["counts"]:
        if c["level"] == 1 and any("scanner" in name for name in c["attributes"]):
            scanners[c["stratum"]] = scanners.get(c["stratum"], 0) + c["tp"] + c["fp"] + c["fn"] + c["tn"]
    extras = [_extra(k, doc[k]) for k in sorted(doc) if k not in CORE_SECTIONS and doc[k] not in (None, [], {})]
    identity_text = _label("en" if language == "both" else language, "footer.identity",
                           report_id=identity["report_id"], revision=identity["revision"],
                           status=_label(language, f"status.{identity['status']}"))
    return {
        "t": t, "ti": inline_translator(language), "lang": language, "html_lang": "zh-CN" if language == "zh-CN" else "en",
        "content": content, "doc": doc, "identity": identity,
        "confidence_pct": f"{round(doc['rules']['confidence'] * 100)}%",
        "power_pct": f"{round(doc['rules']['power'] * 100)}%",
        "overall": sorted(overall.items()), "stratified": list(stratified.items()),
        "decision": _decision(doc), "findings": [result_row(f) | {"status": "flagged"} for f in doc["findings"]],
        "has_deff": any(isinstance(r.get("design_effect"), (int, float)) and r["design_effect"] != 1.0
                        for r in doc["results"]),
        "clustered": "clustering" in doc,
        "sequential_dated": any("order" in c for c in doc["sequential"]["cusum"])
        or any("reference_source" in e for e in doc["sequential"]["ewma"]),
        "alarms": [alarm_chart(a) for a in doc.get("sequential_alarms") or []],
        "cusum": [alarm_chart(c) for c in doc["sequential"]["cusum"]],
        "ewma": [ewma_chart(e) for e in doc["sequential"]["ewma"]],
        "drift": drift_comparisons(doc), "arrival": _arrival(doc), "clustering": _clustering(doc),
        "scanners": [{"label": k, "n": v} for k, v in scanners.items()],
        "extras": extras, "has_message": lambda key: key in catalog("en"),  # a catalog label when there is one
        "charts": {"forest": _forest(doc["results"], language), "cusum": _cusum(doc, language),
                   "trends": _trends(doc, language), "stratum_trends": _stratum_trends(content, language),
                   "froc": froc_figure(content, language)},
        "footer_left": Markup(_css_string(identity_text)), "footer_right": Markup(_page_counter(language)),
    }
