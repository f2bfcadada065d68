"""The typed result of an analysis for notebooks: the document, its findings, a stratum table, HTML."""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from monitor.entrypoints.python_api.analysis import _Inputs

__all__ = ["AnalysisResult", "Finding"]

#: The leading columns of :meth:`AnalysisResult.to_frame` (the others follow in the document's order).
FRAME_COLUMNS = ("model_version", "stratum", "level", "metric", "status", "successes", "trials", "estimate",
                 "ci_low", "ci_high", "claim", "margin", "performance_goal", "p_value", "q_value", "family",
                 "provisional")


@dataclass(frozen=True)
class Finding:
    """One finding of an analysis run.

    ``kind`` is ``performance`` (a claimed metric of a stratum shown below its performance goal, the
    pre-specified decision rule; the service opens or updates a ticket for it) or ``cusum_alarm`` (a CUSUM
    chart of the stratum-metric alarmed in the period: a signal). Estimates, intervals and claims are those
    of the analysis document; ``evidence`` holds every field the document gives the finding.
    """

    kind: Literal["performance", "cusum_alarm"]
    model_version: str
    stratum: str
    metric: str
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    claim: float | None = None
    trials: int | None = None
    q_value: float | None = None
    family: str | None = None
    provisional: bool = False
    ticket_id: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __str__(self) -> str:
        if self.kind == "cusum_alarm":
            first = self.evidence.get("first_alarm") or {}
            return (f"CUSUM alarm: {self.metric} in {self.stratum} (model {self.model_version})"
                    + (f", first alarm on {first['known_on']}" if first.get("known_on") else ""))
        q = f", q={self.q_value:.2g}" if self.q_value is not None else ""
        return (f"{self.metric} below claim in {self.stratum} (model {self.model_version}): "
                f"{_num(self.estimate)} [{_num(self.ci_low)}, {_num(self.ci_high)}] vs claim {_num(self.claim)}"
                f" (n={self.trials}{q})")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _findings(document: dict[str, Any]) -> list[Finding]:
    found = [Finding(kind="performance", model_version=f["model_version"], stratum=f["stratum"], metric=f["metric"],
                     estimate=f.get("estimate"), ci_low=f.get("ci_low"), ci_high=f.get("ci_high"),
                     claim=f.get("claim"), trials=f.get("trials"), q_value=f.get("q_value"), family=f.get("family"),
                     provisional=bool(f.get("provisional")), ticket_id=f.get("ticket_id"), evidence=dict(f))
             for f in document.get("findings", [])]
    found += [Finding(kind="cusum_alarm", model_version=a["model_version"], stratum=a["stratum"], metric=a["metric"],
                      ticket_id=a.get("ticket_id"), evidence=dict(a))
              for a in document.get("sequential_alarms", [])]
    return found


class AnalysisResult:
    """An analysis of one device and period (the analysis document, ``schemas/analysis.schema.json``).

    Made by :meth:`Monitor.run` / :func:`analyze` (frames analysed in memory: nothing stored),
    :func:`analyze_stored` (a new run stored in a database) or :func:`load_analysis` (a stored run).
    """

    def __init__(self, document: dict[str, Any], *, content: dict[str, Any], stored_in: str | None,
                 rejections: pd.DataFrame | None = None, batches: list[dict[str, Any]] | None = None,
                 inputs: _Inputs | None = None) -> None:
        self._document = document
        self._content = content
        self._inputs = inputs
        self.stored_in = stored_in
        """The database URL (password hidden) holding the run; ``None`` for an in-memory analysis."""
        self.rejections = rejections if rejections is not None else _no_rejections()
        """Rejected rows of the analysed frames (as ``samd-monitor quarantine list`` reports them: row number,
        prediction id, reason code and reason; never the row's values)."""
        self.batches = batches or []
        """What became of the rows of each analysed frame (the service's batch summary, as a dict)."""

    # --- the document --------------------------------------------------------------------------------
    @property
    def document(self) -> dict[str, Any]:
        """The analysis document (``schemas/analysis.schema.json``): the source of every number."""
        return self._document

    @property
    def run_id(self) -> str:
        return str(self._document["run_id"])

    @property
    def device_id(self) -> str:
        return str(self._document["device"]["id"])

    @property
    def period(self) -> str:
        return str(self._document["period"]["label"])

    @property
    def summary(self) -> dict[str, Any]:
        """Strata, tests, flagged and insufficient counts, and the decision families' outcomes."""
        return dict(self._document["summary"])

    @property
    def findings(self) -> list[Finding]:
        """Performance findings (claims shown unmet), then CUSUM alarms."""
        return _findings(self._document)

    @property
    def flagged(self) -> list[Finding]:
        """The performance findings only (each a stratum-metric shown below its performance goal)."""
        return [f for f in self.findings if f.kind == "performance"]

    def to_frame(self) -> pd.DataFrame:
        """One row per model version, stratum and metric: counts, estimate, interval, claim, test and outcome
        (``status``: flagged, conforming, inconclusive, insufficient or not_tested)."""
        frame = pd.DataFrame(self._document.get("results", []))
        if frame.empty:
            return pd.DataFrame(columns=list(FRAME_COLUMNS))
        leading = [c for c in FRAME_COLUMNS if c in frame.columns]
        return frame[leading + [c for c in frame.columns if c not in leading]]

    def to_dict(self) -> dict[str, Any]:
        """The analysis document (a copy, JSON-ready)."""
        return json.loads(json.dumps(self._document, default=str))

    # --- HTML ----------------------------------------------------------------------------------------
    def to_html(self, language: str = "en") -> str:
        """The full report page of this run (the report's HTML, ``en``, ``zh-CN`` or ``both``), marked as a
        preview: it is not a report revision (``samd-monitor report`` makes those)."""
        from monitor.adapters.rendering.report import ReportRenderer
        from monitor.service.report import content_json

        identity = {"report_id": "preview (not a report revision)", "revision": 0, "status": "draft",
                    "languages": [language], "audit_head": "-",
                    "content_sha256": hashlib.sha256(content_json(self._content).encode("utf-8")).hexdigest(),
                    "signatures": []}
        return ReportRenderer().html(self._content, identity, language)

    def _repr_html_(self) -> str:
        """A compact summary for notebooks: counts, decisions and findings (``to_html()`` gives the report)."""
        doc = self._document
        total = doc["completeness"]["total"]
        summary = doc["summary"]
        e = html.escape
        rows = "".join(
            f"<tr><td>{e(f.kind)}</td><td>{e(f.model_version)}</td><td>{e(f.stratum)}</td><td>{e(f.metric)}</td>"
            f"<td>{_num(f.estimate)}</td><td>{_num(f.ci_low)} – {_num(f.ci_high)}</td><td>{_num(f.claim)}</td>"
            f"<td>{'' if f.q_value is None else f'{f.q_value:.2g}'}</td></tr>" for f in self.findings)
        table = ("<table><thead><tr><th>kind</th><th>model</th><th>stratum</th><th>metric</th><th>estimate</th>"
                 f"<th>interval</th><th>claim</th><th>q</th></tr></thead><tbody>{rows}</tbody></table>"
                 if rows else "<p>No findings.</p>")
        where = f"stored in {e(self.stored_in)}" if self.stored_in else "in memory, not stored"
        rejected = len(self.rejections)
        return (f"<div class='samd-monitor-analysis'><h4>{e(doc['device']['name'])} ({e(self.device_id)}), "
                f"{e(self.period)}</h4>"
                f"<p>run {e(self.run_id)} ({where}), data cut-off {e(doc['data_cutoff'])}<br>"
                f"{total['predictions']:,} predictions, {total['with_ground_truth']:,} with ground truth"
                + (f", {rejected:,} rejected rows (see <code>.rejections</code>)" if rejected else "")
                + f"<br>{summary['strata']} strata, {summary['tests']} tests: <b>{summary['flagged']} flagged</b>, "
                f"{summary['insufficient']} with insufficient evidence</p>{table}"
                "<p><small><code>.to_frame()</code>: every stratum and metric; <code>.to_html()</code>: "
                "the report page</small></p></div>")

    def __repr__(self) -> str:
        return (f"<AnalysisResult {self.device_id} {self.period}: {self.summary['tests']} tests, "
                f"{self.summary['flagged']} flagged, run {self.run_id}"
                f"{'' if self.stored_in else ' (in memory)'}>")

    # --- storing -------------------------------------------------------------------------------------
    def save(self, database_url: str | None = None, *, migrate: bool = False,
             actor: str | None = None) -> AnalysisResult:
        """Store this analysis in a database (default: ``MONITOR_DATABASE_URL``), in the service's tables.

        The frames go through the same ingest service (rows already stored are duplicates and change
        nothing), the configuration is registered (a new version only when it changed), and the analysis
        runs there for the same period: the stored run, audit entries and tickets are those
        ``samd-monitor ingest`` and ``analyze`` would make. Returns the stored run, whose numbers equal this
        result's when the database held no other rows of the device for the period. Patient identifiers are
        hashed with ``MONITOR_PATIENT_ID_KEY`` (required). ``migrate=True`` first brings the database
        schema to this version (``samd-monitor db upgrade``). ``actor``: the named user acting (default
        ``MONITOR_USER``), an enabled user of that database (else :class:`~monitor.errors.InputError`).
        """
        from monitor.entrypoints.python_api.analysis import save_inputs
        from monitor.errors import ConflictError

        if self._inputs is None:
            raise ConflictError(f"analysis run {self.run_id} is stored already ({self.stored_in}); "
                                "save() stores analyses of frames")
        return save_inputs(self._inputs, database_url, migrate=migrate, actor=actor)


def _no_rejections() -> pd.DataFrame:
    return pd.DataFrame({"kind": pd.Series(dtype=object), "row_number": pd.Series(dtype="int64"),
                         "prediction_id": pd.Series(dtype=object), "code": pd.Series(dtype=object),
                         "reason": pd.Series(dtype=object)})
