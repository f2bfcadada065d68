"""Federated site summaries, on SQLite and PostgreSQL at the centre.

Each site of a synthetic deployment summarises its own logs (in a scratch database, as
``samd-monitor site summarize`` does); the centre verifies and stores the signed bundles. The merged
analysis must equal the database analysis of the pooled raw logs on every stratum, and the centre
must refuse what it cannot trust.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.scratch import scratch_database
from monitor.adapters.files.readers import open_log
from monitor.adapters.site_keys import key_id, load_public_key, load_signer, verify, write_key_pair
from monitor.domain.periods import Period, resolve_timezone
from monitor.domain.privacy import make_patient_hasher
from monitor.domain.site_summary import SiteSummary, count_cells, flag_small, parse_bundle, period_months
from monitor.errors import AuthenticationError, ConflictError, InputError, NotFoundError, PermissionDeniedError
from monitor.service.analyze import analyze_period
from monitor.service.devices import register_device
from monitor.service.federation import (
    SiteLogs,
    analyze_summaries,
    ingest_summary,
    merged_cells,
    register_site,
    sign_summary,
    summarize_site,
)
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.synthetic import DemoScenario, add_clinical_context, generate, write_csv

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")
DEVICE = CONFIG.device.id
SCENARIO = DemoScenario(seed=17, scale=0.01, quarters=("2025Q2", "2025Q3"))
SITE_KEY = "site-hashing-key-0123456789abcdef"  # known here so the test can look for the hashes


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _with_bad_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows ingestion rejects or recognises: out-of-range score, missing patient, duplicate, conflict."""
    extra = rows.head(4).copy()
    extra["prediction_id"] = [f"{extra['prediction_id'].iat[0]}-x", f"{extra['prediction_id'].iat[1]}-y",
                              extra["prediction_id"].iat[2], extra["prediction_id"].iat[3]]
    extra["score"] = [1.7, extra["score"].iat[1], extra["score"].iat[2], 0.0123]
    extra["patient_id"] = [extra["patient_id"].iat[0], None, extra["patient_id"].iat[2], extra["patient_id"].iat[3]]
    return pd.concat([rows, extra], ignore_index=True)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Per-site logs of a deployment (with a shadow model version, AI failures and bad rows), their signed
    bundles, the sites' public keys, and the pooled logs."""
    folder = tmp_path_factory.mktemp("federation")
    data = add_clinical_context(generate(SCENARIO), seed=4)
    site_of = dict(zip(data.predictions["prediction_id"], data.predictions["site_id"], strict=True))
    sites = sorted(data.predictions["site_id"].unique())
    clock = _Clock(datetime(2026, 2, 1, tzinfo=timezone.utc))
    parts, bundles, keys = [], {}, {}
    for i, site in enumerate(sites):
        rows = data.predictions.loc[data.predictions["site_id"] == site]
        rows = _with_bad_rows(rows) if i == 0 else rows
        parts.append(rows)
        predictions = write_csv(rows, folder / f"{site}-p.csv")
        truth = write_csv(data.ground_truth.loc[data.ground_truth["prediction_id"].map(site_of) == site],
                          folder / f"{site}-g.csv")
        files = write_key_pair(folder / "keys", site)
        logs = SiteLogs([open_log(predictions)], [open_log(truth)])
        with scratch_database() as scratch:
            summary = summarize_site(CONFIG, logs, site_id=site, period=None, scratch=scratch, clock=clock,
                                     actor="site", hash_patient=make_patient_hasher(SITE_KEY), min_cell_size=11)
        bundles[site] = json.dumps(sign_summary(summary, load_signer(files.private)).document()).encode("utf-8")
        keys[site] = load_public_key(files.public)
    pooled = pd.concat(parts, ignore_index=True)
    return {"data": data, "sites": sites, "bundles": bundles, "keys": keys, "pooled_rows": pooled,
            "predictions": write_csv(pooled, folder / "pooled-p.csv"),
            "ground_truth": write_csv(data.ground_truth, folder / "pooled-g.csv")}


def _register_all(app: Any, federation: dict[str, Any]) -> None:
    for site, public in federation["keys"].items():
        register_site(site, public, key_id=key_id(public), devices=[DEVICE], replace=False, uow=app.uow,
                      clock=app.clock, actor="admin")


def test_merged_bundles_analyse_exactly_like_the_pooled_raw_logs(app: Any, federation: dict[str, Any]) -> None:
    from tests.unit.test_schemas import assert_valid

    summary = ingest_predictions(app.open_log(federation["predictions"]), source="pooled-p.csv", uow=app.uow,
                                 hash_patient=app.patient_hasher(), clock=app.clock, actor="t")
    ingest_ground_truth(app.open_log(federation["ground_truth"]), source="pooled-g.csv", uow=app.uow,
                        clock=app.clock, actor="t")
    _register_all(app, federation)
    for data in federation["bundles"].values():
        assert ingest_summary(data, uow=app.uow, clock=app.clock, actor="qa", verify=verify).status == "stored"
    cutoff = app.clock()

    # the sites rejected exactly what the pooled ingestion rejected, for the same reasons
    at_sites: Counter[str] = Counter()
    for data in federation["bundles"].values():
        for item in json.loads(data)["payload"]["intake"]["predictions"]:
            at_sites.update(item["reasons"])
    assert at_sites == summary.reasons == Counter(
        {"score_out_of_range": 1, "missing_patient_id": 1, "conflicting_duplicate": 1})

    tz = resolve_timezone(CONFIG.monitoring.timezone)
    for label in ("2025Q3", "2025-05", "2025", "2024Q4"):
        period = Period.parse(label)
        start, end = period.bounds_utc(tz)
        with app.uow() as unit:
            expected = unit.results.confusion_cells(DEVICE, start=start, end=end, cutoff=cutoff,
                                                    attributes=CONFIG.strata.attributes)
            completeness = unit.results.completeness(DEVICE, start=start, end=end, cutoff=cutoff)
            merged = merged_cells(unit, CONFIG, period_months(period), cutoff=cutoff)
        pd.testing.assert_frame_equal(merged.cells, expected, check_dtype=False)
        totals = merged.federation["totals"]
        for key in ("predictions", "with_ground_truth", "awaiting_ground_truth"):
            assert totals[key] == sum(c[key] for c in completeness), (label, key)
    assert len(expected) == 0 and len(merged.cells) == 0  # 2024Q4: no data on either side

    pooled = analyze_period(DEVICE, Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="qa",
                            cutoff=cutoff).document
    federated = analyze_summaries(DEVICE, Period.parse("2025Q3"), uow=app.uow, cutoff=cutoff)
    assert {c["model_version"] for c in pooled["counts"]} == {"2.1.0", "2.2.0-shadow"}
    assert federated["counts"] == pooled["counts"]
    # The same stratum-metrics with the same confirmed counts. The pooled analysis decides on evidence the
    # sites do not send (final labels, patient design effects: docs/federated.md), so its estimates and
    # outcomes may differ where that evidence is adjusted; where it is not, they are identical.
    raw = ("model_version", "stratum", "metric", "successes", "trials", "claim", "margin", "family", "family_size")
    assert [{k: r[k] for k in raw} for r in federated["results"]] == [{k: r[k] for k in raw} for r in pooled["results"]]
    tests = ("estimate", "ci_low", "ci_high", "p_value", "p_shortfall", "p_conformity")
    plain = [(f, p) for f, p in zip(federated["results"], pooled["results"], strict=True)
             if not p["basis"] and not p["provisional"]]
    assert plain and all({k: f[k] for k in tests} == {k: p[k] for k in tests} for f, p in plain)
    # (adjusted p-values and outcomes also depend on the family's other members, which may be adjusted)
    assert federated["engine"] == "summaries" and len(federated["inputs"]["bundles"]) == len(federation["sites"])
    assert [s["site_id"] for s in federated["federation"]["sites"]] == federation["sites"]
    assert federated["federation"]["missing"] == [] and federated["federation"]["left_out"] == []
    assert_valid("lake_analysis", json.loads(json.dumps(federated)))


def test_bundles_hold_no_patient_level_data(federation: dict[str, Any]) -> None:
    from tests.unit.test_schemas import assert_valid

    rows = federation["pooled_rows"]
    hashed = make_patient_hasher(SITE_KEY)
    identifiers = {str(v) for v in (*rows["patient_id"].dropna(), *rows["prediction_id"], *rows["study_uid"].dropna())}
    identifiers |= {hashed(str(p)) for p in rows["patient_id"].dropna()}
    assert_valid("site_summary", json.loads(federation["bundles"][federation["sites"][0]]))  # ~1 s per bundle
    for site, data in federation["bundles"].items():
        text = data.decode("utf-8")
        assert not set(re.findall(r"[A-Za-z0-9._-]+", text)) & identifiers  # no identifier as a token
        for shape in (r"P\d{8}", r"LN-\d{4}Q\d-\d+", r"1\.2\.826\.0\.1"):  # the generator's id shapes
            assert not re.search(shape, text), shape
        payload = json.loads(text)["payload"]
        allowed = {payload["config_hash"], json.loads(text)["signature"]["key_id"],
                   *(i["sha256"] for items in payload["intake"].values() for i in items)}
        assert set(re.findall(r"[0-9a-f]{64}", text)) <= allowed, site
        assert not {"patient_id", "prediction_id", "study_uid", "age", "score"} & set(re.findall(r'"(\w+)":', text))


def _bundle(signer: Any, *, site: str, made: datetime, cases: list[tuple], period: str = "2025Q3",
            device: str = DEVICE, config_hash: str | None = None) -> bytes:
    """A bundle built directly from a few cases (month, model version, labels, call, label)."""
    names = [a.name for a in CONFIG.strata.attributes]
    frame = pd.DataFrame(cases, columns=["month", "model_version", *names, "predicted_label", "label"])
    cells = count_cells(frame, names)
    cells["small"] = flag_small(cells, 11).to_numpy()
    months = period_months(Period.parse(period))
    summary = SiteSummary(device_id=device, site_id=site, config_hash=config_hash or CONFIG.config_hash(),
                          timezone=CONFIG.monitoring.timezone, period=period, first_month=months[0],
                          last_month=months[-1], created_at=made, software_version="test", attributes=tuple(names),
                          min_cell_size=11, cells=cells, intake={"predictions": [], "ground_truth": [],
                                                                 "retractions": []}, excluded={})
    return json.dumps(sign_summary(summary, signer).document()).encode("utf-8")


def _case(month: str, label: float = 1.0, call: int = 1) -> tuple:
    return (month, "2.1.0", ">=75", "F", "severe", "GE", call, label)


def test_refusals_duplicates_supersession_and_key_rotation(app: Any, tmp_path: Path) -> None:
    site_a, site_b, other = (load_signer(write_key_pair(tmp_path, n).private) for n in ("a", "b", "other"))
    ingest = lambda data: ingest_summary(data, uow=app.uow, clock=app.clock, actor="qa", verify=verify)  # noqa: E731
    t0 = datetime(2025, 10, 5, tzinfo=timezone.utc)
    first = _bundle(site_a, site="site-a", made=t0, cases=[_case("2025-07"), _case("2025-08")])

    with pytest.raises(AuthenticationError, match="site 'site-a' is not registered"):
        ingest(first)
    register = lambda site, signer, devices=(DEVICE,), replace=False: register_site(  # noqa: E731
        site, signer.public_key, key_id=signer.key_id, devices=list(devices), replace=replace, uow=app.uow,
        clock=app.clock, actor="admin")
    register("site-a", site_a)
    register("site-b", site_b)
    with pytest.raises(ConflictError, match="already registered for site 'site-a'"):
        register("site-c", site_a)
    with pytest.raises(NotFoundError, match="device 'ghost' is not registered"):
        register("site-a", site_a, devices=["ghost"])

    assert ingest(first).status == "stored"
    assert ingest(first).status == "duplicate"
    document = json.loads(first)
    unsigned = dict(document, signature=None)
    with pytest.raises(AuthenticationError, match="is not signed"):
        ingest(json.dumps(unsigned).encode())
    document["payload"]["cells"][0]["tp"] += 1
    with pytest.raises(AuthenticationError, match="signature does not verify"):
        ingest(json.dumps(document).encode())
    with pytest.raises(AuthenticationError, match="a key that is not the site's"):
        ingest(_bundle(other, site="site-a", made=t0, cases=[_case("2025-07")]))
    with pytest.raises(AuthenticationError, match="a key that is not the site's"):
        ingest(_bundle(site_b, site="site-a", made=t0, cases=[_case("2025-07")]))
    with pytest.raises(NotFoundError, match="device 'ghost', which is not registered"):
        ingest(_bundle(site_a, site="site-a", made=t0, cases=[_case("2025-07")], device="ghost"))
    second = CONFIG.model_copy(update={"device": CONFIG.device.model_copy(update={"id": "other-ct"})})
    register_device(second, uow=app.uow, clock=app.clock, actor="admin", source="test")
    with pytest.raises(PermissionDeniedError, match="not registered for device 'other-ct'"):
        ingest(_bundle(site_a, site="site-a", made=t0, cases=[_case("2025-07")], device="other-ct",
                       config_hash=second.config_hash()))
    with pytest.raises(InputError, match="was made in the future"):
        ingest(_bundle(site_a, site="site-a", made=datetime(2099, 1, 1, tzinfo=timezone.utc), cases=[_case("2025-07")]))
    with pytest.raises(ConflictError, match="made with device configuration 000000000000"):
        ingest(_bundle(site_a, site="site-a", made=t0, cases=[_case("2025-07")], config_hash="0" * 64))

    # a newer bundle supersedes the older one for the months both cover; an older one arriving late counts nowhere
    august = _bundle(site_a, site="site-a", made=t0 + timedelta(days=1), period="2025-08",
                     cases=[_case("2025-08", label=0.0), _case("2025-08", label=float("nan"))])
    receipt = ingest(august)
    assert receipt.status == "stored" and receipt.supersedes == [_id(first)]
    late = _bundle(site_a, site="site-a", made=t0 - timedelta(days=1), cases=[_case("2025-09")] * 3)
    receipt = ingest(late)
    assert receipt.supersedes == [] and receipt.superseded_by == sorted([_id(first), _id(august)])
    from_b = _bundle(site_b, site="site-b", made=t0, cases=[_case("2025-07", call=0)])
    ingest(from_b)
    federated = analyze_summaries(DEVICE, Period.parse("2025Q3"), uow=app.uow, cutoff=app.clock())
    overall = [c for c in federated["counts"] if c["level"] == 0]
    assert overall == [{"model_version": "2.1.0", "stratum": "overall", "level": 0, "attributes": {},
                        "tp": 1, "fp": 1, "fn": 1, "tn": 0}]  # a: July tp (first), August fp (august); b: July fn
    assert federated["federation"]["left_out"] == [{"bundle_id": _id(late), "site_id": "site-a",
                                                    "reason": "superseded"}]
    assert federated["federation"]["totals"]["awaiting_ground_truth"] == 1
    sites = {s["site_id"]: s for s in federated["federation"]["sites"]}
    assert {b["bundle_id"]: b["months"] for b in sites["site-a"]["bundles"]} == {
        _id(first): ["2025-07", "2025-09"], _id(august): ["2025-08"]}
    with app.uow() as unit:
        assert len(unit.summaries.bundles(DEVICE)) == 4  # every bundle stays stored
        audit = unit.audit.records(50, action="summary.")
        assert {r["entity_id"] for r in audit} == {_id(first), _id(august), _id(late), _id(from_b)}

    # key rotation: the old key stops working, its bundles keep counting
    with pytest.raises(ConflictError, match="use --replace-key"):
        register("site-a", other)
    outcome = register("site-a", other, replace=True)
    assert outcome["replaced_key_id"] == site_a.key_id
    with pytest.raises(AuthenticationError, match="signed with a replaced key"):
        ingest(_bundle(site_a, site="site-a", made=t0 + timedelta(days=9), cases=[_case("2025-07")]))
    assert ingest(_bundle(other, site="site-a", made=t0 + timedelta(days=9), period="2025-09",
                          cases=[_case("2025-09")])).status == "stored"
    with pytest.raises(ConflictError, match="a replaced key cannot come back"):
        register("site-a", site_a, replace=True)
    assert register("site-a", other, devices=["other-ct"])["devices"] == ["lung-nodule-ct", "other-ct"]
    with app.uow() as unit:
        actions = [r["action"] for r in unit.audit.records(50, action="site.")]
    assert sorted(actions) == ["site.devices", "site.register", "site.register", "site.register"]

    # a new device configuration makes the stored bundles stale: they no longer count
    changed = CONFIG.model_copy(update={"operating_threshold": 0.6})
    register_device(changed, uow=app.uow, clock=app.clock, actor="admin", source="test")
    stale = analyze_summaries(DEVICE, Period.parse("2025Q3"), uow=app.uow, cutoff=app.clock())
    assert stale["counts"] == [] and {r["reason"] for r in stale["federation"]["left_out"]} == {"other_configuration"}
    assert [m["site_id"] for m in stale["federation"]["missing"]] == ["site-a", "site-b"]


def _id(data: bytes) -> str:
    return parse_bundle(data).bundle_id


def test_a_site_counts_only_its_own_cases_of_the_period(tmp_path: Path) -> None:
    """Other sites' rows, months outside the period and retracted results are left out and counted."""
    data = generate(DemoScenario(seed=3, scale=0.002, quarters=("2025Q2", "2025Q3")))
    predictions = data.predictions.copy()
    own = predictions["site_id"] == predictions["site_id"].iat[0]
    site = predictions["site_id"].iat[0]
    p_file = write_csv(predictions, tmp_path / "p.csv")
    g_file = write_csv(data.ground_truth, tmp_path / "g.csv")
    retracted = predictions.loc[own].tail(2)
    r_file = tmp_path / "r.csv"
    pd.DataFrame({"device_id": DEVICE, "prediction_id": retracted["prediction_id"],
                  "retracted_at": "2025-12-01T00:00:00+08:00", "reason": "field safety notice"}).to_csv(r_file,
                                                                                                         index=False)
    logs = SiteLogs([open_log(p_file)], [open_log(g_file)], [open_log(r_file)])
    work = tmp_path / "work"
    work.mkdir()
    with scratch_database(work) as scratch:  # a file-backed scratch database, deleted afterwards
        summary = summarize_site(CONFIG, logs, site_id=site, period=Period.parse("2025Q3"), scratch=scratch,
                                 clock=_Clock(datetime(2026, 2, 1, tzinfo=timezone.utc)), actor="site",
                                 hash_patient=make_patient_hasher(SITE_KEY), min_cell_size=3)
    start, end = (pd.Timestamp(b) for b in Period.parse("2025Q3").bounds_utc(resolve_timezone("Asia/Shanghai")))
    in_q3 = predictions["predicted_at"].between(start, end, inclusive="left")
    kept = predictions.loc[own & in_q3 & ~predictions["prediction_id"].isin(retracted["prediction_id"])]
    assert summary.excluded == {"other_site": int((~own & in_q3).sum()), "outside_period": int((~in_q3).sum()),
                                "retracted": 2} and bool(retracted["predicted_at"].between(start, end).all())
    cells = summary.cells
    assert int(cells[["tp", "fp", "fn", "tn", "pending"]].to_numpy().sum()) == len(kept)
    labelled = kept["prediction_id"].isin(data.ground_truth["prediction_id"])
    assert int(cells["pending"].sum()) == int((~labelled).sum())
    assert summary.period == "2025Q3" and summary.months == ["2025-07", "2025-08", "2025-09"]
    assert cells["small"].tolist() == (cells[["tp", "fp", "fn", "tn", "pending"]].sum(axis=1) < 3).tolist()
    assert summary.intake["retractions"][0]["accepted"] == 2
    assert list(work.iterdir()) == []
