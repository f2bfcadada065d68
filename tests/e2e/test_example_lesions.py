"""The lesion-level lung-nodule example through the CLI (issue 17 items 2 and 9), on both engines: device add, ingest
predictions, ground truth, lesion findings and reference lesions, analyze, report (HTML and JSON). The section equals
an independent recount; the planted drop at one site is flagged (lesion_sensitivity) and the null variant is not."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from monitor.synthetic.lesions import DEVICE_ID, LesionScenario, generate

EXAMPLE = Path(__file__).parents[2] / "examples" / "lung-nodule-lesions.yaml"
PLANTED = "site=site-c"


@pytest.fixture
def env(database_url: str, named_user: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
        "MONITOR_USER": named_user}


def _run(cli, env: dict[str, str], folder: Path, scenario: LesionScenario) -> tuple[dict, Path, object]:  # type: ignore[no-untyped-def]
    logs = generate(scenario)
    paths = logs.write(folder / "logs")
    assert cli("device", "add", str(EXAMPLE), env=env).returncode == 0
    for command, path in (("predictions", paths["predictions"]), ("ground-truth", paths["ground_truth"]),
                          ("lesions", paths["findings"]), ("reference-lesions", paths["references"])):
        done = cli("ingest", command, str(path), "--json", env=env)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["rejected"] == 0 and summary["accepted"] > 0, summary
    again = json.loads(cli("ingest", "lesions", str(paths["findings"]), "--json", env=env).stdout)
    assert (again["accepted"], again["duplicates"]) == (0, len(logs.findings))
    analysis = cli("analyze", "--device", DEVICE_ID, "--period", "2025Q3", "--json", env=env)
    assert analysis.returncode == 0, analysis.stderr
    out_dir = folder / "reports"
    report = cli("report", "--device", DEVICE_ID, "--period", "2025Q3", "--out-dir", str(out_dir),
                 "--format", "html,json", "--language", "en", env=env)
    assert report.returncode == 0, report.stderr
    return json.loads(analysis.stdout), out_dir, logs


def _recount(logs, site: str | None) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    """Independent recount at 0.5: lesions, hits (a finding >= 0.5 within the lesion's radius, each lesion and
    finding used once, highest score first), FPs and scans."""
    scans = logs.predictions if site is None else logs.predictions.loc[logs.predictions["site_id"] == site]
    ids = set(scans["prediction_id"])
    refs = logs.references.loc[logs.references["prediction_id"].isin(ids)]
    found = logs.findings.loc[logs.findings["prediction_id"].isin(ids) & (logs.findings["score"] >= 0.5)]
    hits = fps = 0
    for scan, group in found.sort_values("score", ascending=False, kind="stable").groupby("prediction_id"):
        free = refs.loc[refs["prediction_id"] == scan].to_dict("records")
        for f in group.sort_values(["score", "lesion_id"], ascending=[False, True]).to_dict("records"):
            near = [(math.dist((f["centre_x_mm"], f["centre_y_mm"], f["centre_z_mm"]),
                               (r["centre_x_mm"], r["centre_y_mm"], r["centre_z_mm"])), r["lesion_id"], r)
                    for r in free]
            near = sorted((d, i, r) for d, i, r in near if d <= r["diameter_mm"] / 2)
            if near:
                hits += 1
                free.remove(near[0][2])
            else:
                fps += 1
    return len(refs), hits, fps, len(scans)


def _row(document: dict, stratum: str) -> dict:
    return next(r for r in document["lesions"]["rows"] if r["stratum"] == stratum)


def test_lesion_example_section_equals_an_independent_recount_and_flags_the_planted_drop(cli, env: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    document, out_dir, logs = _run(cli, env, tmp_path, LesionScenario())
    section = document["lesions"]
    assert section["scans_pending"] == 0 and section["positive_scans_without_lesions"] == 0
    for site, stratum in ((None, "overall"), ("site-c", PLANTED), ("site-a", "site=site-a")):
        lesions, hits, fps, scans = _recount(logs, site)
        row = _row(document, stratum)
        assert (row["lesions"], row["true_positives"], row["false_positives"], row["scans"]) == (lesions, hits, fps,
                                                                                                 scans)
        assert row["lesion_sensitivity"]["estimate"] == pytest.approx(hits / lesions)
        assert row["fp_per_scan"]["estimate"] == pytest.approx(fps / scans)
        low, high = row["lesion_sensitivity"]["ci_low"], row["lesion_sensitivity"]["ci_high"]
        assert low < hits / lesions < high
    planted, overall = _row(document, PLANTED), _row(document, "overall")
    assert planted["lesion_sensitivity"]["ci_high"] < 0.85 < overall["lesion_sensitivity"]["estimate"]
    assert overall["froc"][-1]["threshold"] == pytest.approx(logs.findings["score"].min())
    html = next(out_dir.glob("*.en.html")).read_text(encoding="utf-8")
    stored = json.loads(next(out_dir.glob("*.json")).read_text(encoding="utf-8"))
    assert stored["analysis"]["lesions"] == section
    assert "Lesion-level detection" in html and "FROC" in html
    _check_planted_flag(cli, env, document)

    # the one read side (API, dashboard) gives the stored section's figures and the FROC curve
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.queries import device_outputs
    from monitor.settings import load_settings

    outputs = device_outputs(bootstrap(load_settings().with_database(env["MONITOR_DATABASE_URL"])).uow,
                             document["device"]["id"], document["period"]["label"])
    assert set(outputs.present()) == {"claims", "lesions", "froc"}
    read = outputs.lesions.set_index("stratum")
    assert read.loc[PLANTED, "lesion_sensitivity"] == planted["lesion_sensitivity"]["estimate"]
    assert len(outputs.froc) == len(overall["froc"])


def _check_planted_flag(cli, env: dict[str, str], document: dict) -> None:  # type: ignore[no-untyped-def]
    """The planted drop: lesion_sensitivity in site=site-c flagged with a ticket, and nothing else flagged."""
    flagged = [r for r in document["metric_claims"] if r["status"] == "flagged"]
    assert [(r["metric"], r["stratum"]) for r in flagged] == [("lesion_sensitivity", PLANTED)]
    assert flagged[0]["ticket_id"] and document["findings"] == []
    tickets = json.loads(cli("tickets", "list", "--json", env=env).stdout)
    assert [(t["metric"], t["stratum"]) for t in tickets] == [("lesion_sensitivity", PLANTED)]


def test_null_variant_opens_no_ticket(cli, env: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    document, _, _ = _run(cli, env, tmp_path, LesionScenario(drop_site=None))
    assert _row(document, PLANTED)["lesion_sensitivity"]["estimate"] > 0.85
    assert document["findings"] == []
    assert not [r for r in document.get("metric_claims", []) if r["status"] == "flagged"]
    assert json.loads(cli("tickets", "list", "--json", env=env).stdout) == []
