"""A seeded synthetic safety-event log (complaints, adverse events, incidents, feedback, overrides) for the demo.

Each quarter of the scenario gets, per site, a few complaints, user feedback and radiologist overrides (more
overrides where the planted drift is, in ``drift_quarter``), and the drift quarter carries the events a
sensitivity drop in ``age >= 75 x severe emphysema`` would bring: a serious adverse event (a missed nodule,
delayed diagnosis) reported to the NMPA on time and to the FDA late, an incident still pending its NMPA
assessment, and a complaint decided not reportable. The rows follow ``schemas/safety_event_log.schema.json``;
the IMDRF codes have the terminology's shape and are illustrative, not a clinical coding.

>>> from monitor.synthetic import DemoScenario
>>> frame = generate_safety_events(DemoScenario(scale=0.001))
>>> sorted(frame["kind"].unique())[:2], bool(frame["event_id"].is_unique)
(['adverse_event', 'complaint'], True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitor.synthetic import population as pop
from monitor.synthetic.lung_nodule import DemoScenario

__all__ = ["SAFETY_EVENT_COLUMNS", "generate_safety_events"]

SAFETY_EVENT_COLUMNS = ["event_id", "device_id", "site_id", "received_at", "occurred_at", "kind", "seriousness",
                        "imdrf_codes", "model_version", "age", "emphysema_grade", "description",
                        "nmpa_decision", "nmpa_rationale", "nmpa_event_class", "nmpa_reported_at",
                        "fda_decision", "fda_rationale", "fda_event_class", "fda_reported_at"]
_ROUTINE = (  # kind, seriousness, codes, description
    ("complaint", "non_serious", "", "results arrived later than the reading list"),
    ("user_feedback", "non_serious", "", "request: show the nodule volume in the overlay"),
    ("override_discordance", "non_serious", "", "radiologist rejected an AI mark on a vessel"),
)


def _moment(start: pd.Timestamp, days: float) -> pd.Timestamp:
    return (start + pd.Timedelta(days=days)).tz_convert("Asia/Shanghai").floor("min")


def generate_safety_events(scenario: DemoScenario, *, device_id: str = "lung-nodule-ct",
                           model_version: str = "2.1.0") -> pd.DataFrame:
    """The scenario's safety-event log (received before its ``as_of``), one row per event, in received order."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=scenario.seed, spawn_key=(0x5AFE,)))
    rows: list[dict[str, object]] = []
    for quarter in scenario.quarters:
        start = _quarter_start(quarter)
        drift = quarter == scenario.drift_quarter
        for s, site in enumerate(pop.SITE_IDS):
            for kind, seriousness, codes, text in _ROUTINE:
                extra = 3 if drift and kind == "override_discordance" else 0
                for k in range(int(rng.poisson(1.5)) + extra):
                    aware = _moment(start, float(rng.uniform(1, 88)))
                    rows.append({"event_id": f"{quarter}-{site[-5:]}-{kind[:3].upper()}-{k + 1}", "site_id": site,
                                 "received_at": aware, "occurred_at": aware - pd.Timedelta(days=1), "kind": kind,
                                 "seriousness": seriousness, "imdrf_codes": codes, "description": text,
                                 **({"age": "78", "emphysema_grade": "severe"} if extra and k < extra else {})})
        if drift:
            rows += _drift_events(start, quarter)
    frame = pd.DataFrame(rows).reindex(columns=SAFETY_EVENT_COLUMNS)
    frame["device_id"], frame["model_version"] = device_id, model_version
    frame = frame.loc[frame["received_at"] <= scenario.as_of]
    return frame.sort_values(["received_at", "event_id"], kind="stable").reset_index(drop=True)


def _drift_events(start: pd.Timestamp, quarter: str) -> list[dict[str, object]]:
    """The events the planted drift brings (NMPA Decree No. 1 and 21 CFR 803 clocks: one met, one late, one
    pending, one decided not reportable)."""
    aware = _moment(start, 40)
    return [
        {"event_id": f"{quarter}-AE-1", "site_id": pop.SITE_IDS[1], "received_at": aware,
         "occurred_at": aware - pd.Timedelta(days=12), "kind": "adverse_event", "seriousness": "serious_injury",
         "imdrf_codes": "A0901;E0123", "age": "79", "emphysema_grade": "severe",
         "description": "nodule not marked by the AI, found at follow-up CT; diagnosis delayed",
         "nmpa_decision": "reportable", "nmpa_reported_at": aware + pd.Timedelta(days=15),
         "fda_decision": "reportable", "fda_reported_at": aware + pd.Timedelta(days=34)},
        {"event_id": f"{quarter}-INC-2", "site_id": pop.SITE_IDS[0], "received_at": aware + pd.Timedelta(days=30),
         "kind": "incident", "seriousness": "malfunction_could_lead", "imdrf_codes": "A0901", "age": "82",
         "emphysema_grade": "severe", "description": "cluster of missed nodules in severe emphysema reported by QA",
         "nmpa_decision": "pending", "fda_decision": "pending"},
        {"event_id": f"{quarter}-CMP-3", "site_id": pop.SITE_IDS[2], "received_at": aware + pd.Timedelta(days=5),
         "kind": "complaint", "seriousness": "non_serious", "imdrf_codes": "A0902",
         "description": "false-positive marks on emphysematous bullae",
         "nmpa_decision": "not_reportable", "nmpa_rationale": "no harm; false positives reviewed by the reader",
         "fda_decision": "not_reportable", "fda_rationale": "no death, serious injury or reportable malfunction"},
    ]


def _quarter_start(quarter: str) -> pd.Timestamp:
    """The first instant of a calendar quarter (``YYYYQn``) in the scenario's time zone (Asia/Shanghai)."""
    year, q = int(quarter[:4]), int(quarter[-1])
    return pd.Timestamp(f"{year}-{3 * q - 2:02d}-01", tz="Asia/Shanghai")
