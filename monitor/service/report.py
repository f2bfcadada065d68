"""The periodic report of a device and period: content, revisions and files.

The **content** (the JSON report, ``schemas/report.schema.json``) is built from stored data only: the
analysis run it is given, or else the newest run of the period (for an annual roll-up, the newest run
of each quarter), the tickets of its findings, the ingestion batches and rejections behind it, and the
change log against the previous period's run, all read through the one read side
(:mod:`monitor.service.queries`, ``unit.queries``) that the API and the dashboard use. It carries no
wall-clock time and no identity of the revision, so the same stored data, configuration and software
give byte-identical JSON and CSV.

Every generation is a new **revision** (``report_revisions``: revision = previous max + 1 for the
device and period, status ``draft``, the SHA-256 of the JSON content and the audit-chain head); its
files (HTML and PDF per language, JSON, CSV, XLSX) are rows of ``reports`` with their SHA-256, and
the generation is audited. The revision's identity (id, revision, status) is printed in the HTML/PDF
control block and footer.

Besides its core parts (typed by :class:`monitor.domain.report_content.ReportContent`), the content carries
``sections``: one entry per registered content section (:mod:`monitor.service.report_sections`), each a typed
model built from stored data. :func:`content_model` composes the two; the content is checked with it before it is
written, and ``schemas/report.schema.json`` is generated from it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, create_model

from monitor import __version__
from monitor.domain.evaluation import TESTED_STATUSES, family_summary
from monitor.domain.periods import Period
from monitor.domain.report_content import REPORT_SCHEMA_VERSION, ReportContent, validated
from monitor.domain.rollup import rollup_results
from monitor.domain.signatures import check_reason
from monitor.errors import InputError, NotFoundError, ReportError
from monitor.service import queries
from monitor.service.evidently_report import DriftSample, drift_sample
from monitor.service.ports import Clock, UnitOfWorkFactory
from monitor.service.read_models import Run
from monitor.service.report_sections import ReportSource, build_sections, registry

__all__ = ["REPORT_FORMATS", "REPORT_LANGUAGES", "REPORT_SCHEMA_VERSION", "PdfJob", "ReportFiles", "ReportRenderer",
           "ReportStore", "build_content", "content_json", "content_model", "write_report"]

REPORT_FORMATS = ("html", "pdf", "json", "csv", "xlsx", "evidently")
#: The ``reports.format`` recorded for a file key (other keys: the part before ``:``).
RECORDED_FORMATS = {"evidently:html": "evidently-html", "evidently:json": "evidently-json"}
REPORT_LANGUAGES = ("en", "zh-CN", "both")
ROLLUP_NAMESPACE = uuid.UUID("6f1c2a52-9a53-4c1e-8f7e-2f0d7c4b9a11")
#: Decision fields a roll-up finding carries over from its recomputed result (analysis.schema.json, finding).
ROLLUP_FINDING_FIELDS = ("log10_p_value", "p_shortfall", "log10_p_shortfall", "log10_q_value", "family", "family_size",
                         "family_level", "effective_successes", "effective_trials", "basis", "design_effect",
                         "expected_share", "provisional")


class PdfJob(Protocol):
    """PDFs being laid out in the background (``monitor.adapters.rendering.pdf.PdfLayout``): ``result()``
    waits for them, in the order of their pages; leaving the ``with`` block stops what was not collected."""

    def result(self) -> list[bytes]: ...
    def __enter__(self) -> PdfJob: ...
    def __exit__(self, *exc: object) -> None: ...


class ReportRenderer(Protocol):
    """Turns report content into documents (``monitor.adapters.rendering.report.ReportRenderer``)."""

    def html(self, content: dict[str, Any], identity: dict[str, Any], language: str) -> str: ...
    def pdf(self, html: str) -> bytes: ...
    def pdfs(self, htmls: Sequence[str]) -> PdfJob: ...
    def csv(self, content: dict[str, Any]) -> dict[str, str]: ...
    def xlsx(self, content: dict[str, Any], created: datetime) -> bytes: ...
    def evidently(self, sample: DriftSample, identity: dict[str, Any]) -> tuple[str, str]: ...


@dataclass(frozen=True)
class ReportFiles:
    """One generated revision: its id and number, and the files written with their SHA-256.

    ``files`` and ``sha256`` are keyed ``json``, ``xlsx``, ``html:<language>``, ``pdf:<language>`` and
    ``csv:<table>``, ``evidently:html`` and ``evidently:json`` (the Evidently drift report,
    :mod:`monitor.service.evidently_report`; recorded with format ``evidently-html`` / ``evidently-json``).
    """

    report_id: str
    run_id: str
    revision: int
    content_sha256: str
    files: dict[str, Path]
    sha256: dict[str, str]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def content_json(content: dict[str, Any]) -> str:
    """The canonical JSON text of a report content (keys sorted, UTF-8, two-space indent)."""
    return json.dumps(_jsonable(content), indent=2, ensure_ascii=False, sort_keys=True, allow_nan=False) + "\n"


# --- content ---------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def content_model() -> type[ReportContent]:
    """:class:`ReportContent` with ``sections``: one field per registered content section, its model or null."""
    fields: dict[str, Any] = {s.key: (s.model | None, Field(description=(s.model.__doc__ or s.key).strip()))
                              for s in registry()}
    sections: type[BaseModel] = create_model(
        "ReportSections", __config__=ConfigDict(frozen=True, extra="forbid"), __doc__=(
            "One entry per registered content section (monitor.service.report_sections): its content, or null where "
            "the section does not apply."), **fields)
    return create_model("ReportContent", __base__=ReportContent, __doc__=ReportContent.__doc__,
                        sections=(sections, Field(description=(
                            "The report's content sections (monitor.service.report_sections), each built from stored "
                            "data; null where a section does not apply."))))


def _provenance(unit: Any, document: dict[str, Any]) -> dict[str, Any]:
    used: dict[int, int] = {}
    for s in document["sources"]:
        used[s["batch_id"]] = used.get(s["batch_id"], 0) + s["rows"]
    batches = [{"batch_id": b.batch_id, "kind": b.kind, "source": b.source_name, "source_format": b.source_format,
                "sha256": b.source_sha256, "rows_total": b.rows_total, "accepted": b.accepted,
                "duplicates": b.duplicates, "rejected": b.rejected, "finished_at": b.finished_at,
                "rows_used": used[b.batch_id]}
               for b in unit.queries.batches_by_id(sorted(used))]
    return {"batches": batches,
            "rejected_by_reason": [r.model_dump() for r in unit.queries.rejections_by_reason(sorted(used))]}


def _usage(document: dict[str, Any]) -> dict[str, Any]:
    total = document["completeness"]["total"]
    failures = sum(int(r.get("failures", 0)) for r in document.get("failure_rate", []) or []
                   if isinstance(r, dict) and r.get("level") == 0)
    return {"studies": total["predictions"], "with_ground_truth": total["with_ground_truth"],
            "awaiting_ground_truth": total["awaiting_ground_truth"], "ai_failures": failures,
            "estimated_uses": total["predictions"] + failures,
            "uses_method": "ai_results_plus_failures",
            "sites": len(document["sites"])}


def _finding_tickets(unit: Any, device_id: str, document: dict[str, Any]) -> list[dict[str, Any]]:
    named = {f["ticket_id"] for f in document["findings"] if f.get("ticket_id")}
    named |= {a["ticket_id"] for a in document.get("sequential_alarms") or [] if a.get("ticket_id")}
    return [t.as_document() for t in queries.device_tickets(unit, device_id) if t.ticket_id in named]


def _change_log(unit: Any, device_id: str, run: Run, document: dict[str, Any]) -> dict[str, Any]:
    baseline = unit.queries.previous_run(device_id, run.period_start)
    if baseline is None:
        return {"baseline": None, "new_model_versions": [], "retired_model_versions": [], "config_changed": False,
                "tickets_opened": [], "tickets_changed": []}
    before = {c["model_version"] for c in baseline.document["completeness"]["by_model_version"]}
    now = {c["model_version"] for c in document["completeness"]["by_model_version"]}
    revision = unit.queries.latest_revision_of_run(baseline.run_id)
    since, until = baseline.created_at, run.created_at
    opened, changed = [], []
    for t in queries.device_tickets(unit, device_id):
        if since < t.created_at <= until:
            opened.append({"ticket_id": t.ticket_id, "model_version": t.model_version,
                           "stratum": t.stratum, "metric": t.metric, "created_at": t.created_at})
        moves = [m for m in t.transitions if since < m.at <= until and m.from_status]
        if moves:
            changed.append({"ticket_id": t.ticket_id, "status": moves[-1].to_status, "at": moves[-1].at})
    return {
        "baseline": {"run_id": baseline.run_id, "period": baseline.period,
                     "config_hash": baseline.config_hash, "created_at": baseline.created_at,
                     "report_id": revision.report_id if revision else None,
                     "revision": revision.revision if revision else None},
        "new_model_versions": sorted(now - before), "retired_model_versions": sorted(before - now),
        "config_changed": baseline.config_hash != document["config_hash"],
        "tickets_opened": opened, "tickets_changed": changed,
    }


def _quarters(year: Period) -> list[Period]:
    return [Period.parse(f"{year.start_local.year}Q{q}") for q in range(1, 5)]


def _sum_rows(rows: Sequence[Sequence[dict[str, Any]]], key: Sequence[str], fields: Sequence[str]
              ) -> list[dict[str, Any]]:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for part in rows:
        for r in part:
            into = out.setdefault(tuple(r[k] for k in key), {k: r[k] for k in key} | {f: 0 for f in fields})
            for f in fields:
                into[f] += r[f]
    return list(out.values())


def _rollup_document(unit: Any, device_id: str, year: Period) -> tuple[dict[str, Any], dict[str, Any]]:
    """An analysis-shaped document for ``year`` from the newest stored run of each of its quarters."""
    runs = []
    for quarter in _quarters(year):
        try:
            runs.append(unit.queries.latest_run(device_id, quarter.label))
        except NotFoundError:  # a quarter without a run is not part of the roll-up
            continue
    if not runs:
        raise InputError(f"no quarterly analysis of device {device_id!r} in {year.label} to roll up: "
                         f"analyse its quarters first (samd-monitor analyze --period {year.label}Q1 ...)")
    config = unit.devices.get(device_id)
    counts, results = rollup_results([[s.model_dump() for s in unit.queries.results_of_runs([r.run_id])] for r in runs],
                                     config)
    last = runs[-1].document
    docs = [r.document for r in runs]
    results_d = [r.as_dict() for r in results]
    tickets = {(t.model_version, t.stratum, t.metric): t.ticket_id  # newest ticket per stratum-metric
               for t in queries.device_tickets(unit, device_id)}
    findings = [{"finding_id": str(uuid.uuid5(ROLLUP_NAMESPACE, f"{year.label}|{r['model_version']}|{r['stratum']}|"
                                                                  f"{r['metric']}|{runs[-1].run_id}")),
                 "ticket_id": tickets.get((r["model_version"], r["stratum"], r["metric"])),
                 **{k: r[k] for k in ("model_version", "stratum", "metric", "attributes", "successes", "trials",
                                      "estimate", "ci_low", "ci_high", "claim", "margin", "performance_goal",
                                      "p_value", "q_value", "minimal_detectable_drop")},
                 **{k: r[k] for k in ROLLUP_FINDING_FIELDS if k in r}}
                for r in results_d if r["status"] == "flagged" and not r.get("provisional")]
    decided = family_summary(config, results_d)
    by_version = _sum_rows([d["completeness"]["by_model_version"] for d in docs], ["model_version"],
                           ["predictions", "with_ground_truth", "awaiting_ground_truth", "positives", "negatives"])
    fields = ("predictions", "with_ground_truth", "awaiting_ground_truth", "positives", "negatives")
    document = {k: v for k, v in last.items() if k in ("schema", "schema_version", "software_version", "device",
                                                           "rules", "config_hash", "actor")} | {
        "run_id": runs[-1].run_id, "created_at": last["created_at"], "data_cutoff": last["data_cutoff"],
        "input_fingerprint": hashlib.sha256("".join(d["input_fingerprint"] for d in docs).encode()).hexdigest(),
        "period": {"label": year.label, "kind": "year", "timezone": last["period"]["timezone"],
                   "first_day": docs[0]["period"]["first_day"], "last_day": last["period"]["last_day"],
                   "start_utc": docs[0]["period"]["start_utc"], "end_utc": last["period"]["end_utc"]},
        "sources": sorted(_sum_rows([d["sources"] for d in docs], ["kind", "batch_id", "sha256", "source"], ["rows"]),
                          key=lambda s: (s["kind"], s["batch_id"])),
        "completeness": {"by_model_version": sorted(by_version, key=lambda c: c["model_version"]),
                         "total": {f: sum(c[f] for c in by_version) for f in fields}},
        "sites": sorted(_sum_rows([d["sites"] for d in docs], ["site_id"], ["predictions"]),
                        key=lambda s: s["site_id"]),
        "counts": [c.as_dict() for c in counts], "results": results_d, "findings": findings,
        "summary": {"strata": len({(c.model_version, c.stratum.key) for c in counts}),
                    "tests": sum(1 for r in results_d if r["status"] in TESTED_STATUSES), "flagged": len(findings),
                    "insufficient": sum(1 for r in results_d if r["status"] == "insufficient"),
                    "families": decided["families"], "outcomes": decided["outcomes"]},
        "reference_window": {"periods": [], "start_utc": docs[0]["period"]["start_utc"],
                             "end_utc": docs[0]["period"]["start_utc"]},
        "discrimination": [], "reference_comparison": [], "stratum_vs_rest": [], "time_to_intervention": [],
        "maturity": [m for m in last["maturity"] if m["level"] == 0],
        "verification": [v for v in last["verification"] if v["level"] == 0],
        "sequential": {"cusum": [], "ewma": last["sequential"]["ewma"]},
        "data_drift": [], "early_warning": [],
        "sequential_alarms": [a for d in docs for a in d.get("sequential_alarms", [])],
    }
    rollup = {"periods": [r.period for r in runs], "runs": [r.run_id for r in runs],
              "method": "sum of stored quarterly stratum_results counts; intervals, tests and adjustments recomputed"}
    return document, rollup


def build_content(unit: Any, device_id: str, period_label: str, *, rollup: bool = False, run_id: str | None = None
                  ) -> tuple[dict[str, Any], Run]:
    """The report content of a device and period, and the stored run it presents.

    ``run_id`` names the run to present (it must be of this device and period); without it, the
    period's newest run.
    """
    period = Period.parse(period_label)
    if rollup:
        if run_id is not None:
            raise InputError("a roll-up presents the newest run of each quarter: it takes no run id")
        if period.kind != "year":
            raise InputError(f"--rollup needs a year period (e.g. 2025), not {period.label}")
        document, rollup_info = _rollup_document(unit, device_id, period)
        run = unit.queries.run(document["run_id"]).model_copy(
            update={"period_start": unit.queries.latest_run(device_id, rollup_info["periods"][0]).period_start})
    else:
        run = queries.period_run(unit, device_id, period.label, run_id)
        document, rollup_info = run.document, None
    content = {
        "schema": "samd-monitor/report", "schema_version": REPORT_SCHEMA_VERSION,
        "device_id": device_id, "period": period.label, "run_id": run.run_id,
        "generated_at": document["created_at"], "software_version": __version__,
        "analysis": document, "tickets": _finding_tickets(unit, device_id, document),
        "provenance": _provenance(unit, document), "usage": _usage(document),
        "change_log": _change_log(unit, device_id, run, document), "rollup": rollup_info,
    }
    source = ReportSource(unit=unit, config=unit.devices.get(device_id), document=document, run=run, period=period,
                          core=_jsonable(content), rollup=rollup)
    content = _jsonable(content | {"sections": build_sections(source)})
    validated(content, content_model())  # a defect of the builders stops here (IntegrityError), before any file
    return content, run


# --- files ------------------------------------------------------------------------------------------

def _write(path: Path, data: bytes) -> str:
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror}") from exc
    return hashlib.sha256(data).hexdigest()


def _check(formats: Sequence[str], languages: Sequence[str]) -> None:
    unknown = [f for f in formats if f not in REPORT_FORMATS]
    if unknown or not formats:
        raise InputError(f"unknown report format(s) {', '.join(unknown) or '(none)'}: use {', '.join(REPORT_FORMATS)}")
    wrong = [lang for lang in languages if lang not in REPORT_LANGUAGES]
    if wrong or not languages:
        raise InputError(f"unknown report language(s) {', '.join(wrong) or '(none)'}: "
                         f"use {', '.join(REPORT_LANGUAGES)}")


#: How a caller names the reason of a new revision (the CLI option; the API's body field has the same name).
REASON_OPTION = "--reason (HTTP API: the body field 'reason')"


def write_report(device_id: str, period_label: str, *, formats: Sequence[str], out_dir: Path,
                 uow: UnitOfWorkFactory, clock: Clock, actor: str, renderer: ReportRenderer,
                 languages: Sequence[str] = ("en",), rollup: bool = False, run_id: str | None = None,
                 reason: str | None = None) -> ReportFiles:
    """Generate a new draft revision of the report of ``device_id`` for ``period_label`` into ``out_dir``.

    A revision after the first supersedes the newest earlier one and needs ``reason`` (refused before
    anything is rendered, :func:`monitor.domain.signatures.check_reason`); the ``report.supersede`` audit
    record carries the reason and both report ids (21 CFR 11.10(e)).

    ``formats`` among html, pdf, json, csv, xlsx, evidently; ``languages`` among en, zh-CN, both (for html
    and pdf). ``evidently`` adds the Evidently data-drift report of the run (HTML and JSON, on a bounded
    stratified sample; our histogram drift decides); a roll-up has no drift section and gets none.
    ``run_id`` names the analysis run to report (it must be of this device and period; the scheduler
    passes the run it has just made, so a concurrent ad-hoc analysis cannot take its place); without
    it, the period's newest run. ``rollup`` builds a year's report from its stored quarterly runs.
    """
    formats, languages = list(dict.fromkeys(formats)), list(dict.fromkeys(languages))
    _check(formats, languages)
    with uow() as unit:
        content, run = build_content(unit, device_id, period_label, rollup=rollup, run_id=run_id)
        period = content["period"]
        text = content_json(content)
        content_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        unit.reports.lock_period(device_id, period)  # a concurrent generation waits: no shared _rN files
        generated = clock()
        revision = unit.reports.next_revision(device_id, period)
        reason = check_reason(reason, revision=revision, option=REASON_OPTION)
        previous = unit.revisions.latest(device_id, period) if revision > 1 else None
        report_id = str(uuid.uuid4())
        audit_head = unit.audit.head()
        identity = {"report_id": report_id, "revision": revision, "status": "draft", "languages": languages,
                    "audit_head": audit_head, "content_sha256": content_sha, "signatures": []}
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            out_dir = out_dir.resolve()  # recorded paths stay valid whatever the working directory later
        except OSError as exc:
            raise ReportError(f"cannot create output folder {out_dir}: {exc.strerror}") from exc
        stem = f"{device_id}_{period}_r{revision}"
        outputs: list[tuple[str, str | None, Path, bytes]] = []
        if "json" in formats:
            outputs.append(("json", None, out_dir / f"{stem}.json", text.encode("utf-8")))
        if "csv" in formats:
            for name, csv_text in renderer.csv(content).items():
                outputs.append((f"csv:{name}", None, out_dir / f"{stem}_{name}.csv", csv_text.encode("utf-8")))
        if "xlsx" in formats:
            created = datetime.fromisoformat(content["generated_at"])
            outputs.append(("xlsx", None, out_dir / f"{stem}.xlsx", renderer.xlsx(content, created)))
        pages = {language: renderer.html(content, identity, language)
                 for language in (languages if {"html", "pdf"} & set(formats) else [])}
        # The PDFs are laid out in the background while the Evidently page is made (both take seconds).
        with renderer.pdfs(list(pages.values()) if "pdf" in formats else []) as layout:
            sample = drift_sample(unit, content["analysis"]) if "evidently" in formats and not rollup else None
            evidently = renderer.evidently(sample, identity) if sample is not None else None
            pdfs = dict(zip(pages, layout.result())) if "pdf" in formats else {}
        for language, html in pages.items():
            if "html" in formats:
                outputs.append((f"html:{language}", language, out_dir / f"{stem}.{language}.html", html.encode("utf-8")))
            if "pdf" in formats:
                outputs.append((f"pdf:{language}", language, out_dir / f"{stem}.{language}.pdf", pdfs[language]))
        if evidently is not None:
            page, evidently_json = evidently
            outputs.append(("evidently:html", None, out_dir / f"{stem}_evidently.html", page.encode("utf-8")))
            outputs.append(("evidently:json", None, out_dir / f"{stem}_evidently.json",
                            evidently_json.encode("utf-8")))
        files, digests = {}, {}
        for key, language, path, data in outputs:
            files[key], digests[key] = path, _write(path, data)
            unit.reports.add(report_id=report_id, run_id=run.run_id, device_id=device_id, period=period,
                             format=RECORDED_FORMATS.get(key, key.split(":")[0]), path=str(path),
                             sha256=digests[key], at=generated, actor=actor, language=language)
        unit.reports.add_revision(report_id=report_id, device_id=device_id, period=period, run_id=run.run_id,
                                  revision=revision, languages=",".join(languages), content_sha256=content_sha,
                                  audit_head=audit_head, at=generated, actor=actor)
        unit.audit.append(at=generated, actor=actor, action="report.generate", entity="report", entity_id=report_id,
                          details={"run_id": run.run_id, "device_id": device_id, "period": period,
                                   "revision": revision, "content_sha256": content_sha, "rollup": rollup,
                                   "supersedes": previous["report_id"] if previous else None, "reason": reason or None,
                                   "files": {k: {"path": str(v), "sha256": digests[k]} for k, v in files.items()}})
        if previous is not None:  # a new revision always supersedes the newest earlier one, with its reason
            unit.revisions.supersede(previous["report_id"], by=report_id)
            unit.audit.append(at=generated, actor=actor, action="report.supersede", entity="report",
                              entity_id=previous["report_id"],
                              details={"reason": reason, "old_report_id": previous["report_id"],
                                       "new_report_id": report_id, "superseded_by": report_id,
                                       "old": {"status": previous["status"], "revision": previous["revision"]},
                                       "new": {"status": "superseded"}})
    return ReportFiles(report_id, run.run_id, revision, content_sha, files, digests)



class ReportStore(Protocol):
    """Reads and writes report files (``monitor.adapters.files.report_store.LocalReportStore``)."""

    def read(self, path: Path) -> bytes: ...
    def write(self, path: Path, data: bytes) -> str: ...  # atomic; returns the SHA-256 of ``data``
