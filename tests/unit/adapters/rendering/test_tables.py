"""The CSV and XLSX annexes: formula-injection payloads neutralised, numbers kept numeric, stable bytes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from monitor.adapters.rendering.tables import (
    RESULT_COLUMNS,
    annex_rows,
    neutralise,
    to_csv,
    to_xlsx,
)

PAYLOADS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
CREATED = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)


def _content(sites: list[str]) -> dict:
    counts, results = [], []
    for i, site in enumerate(sites):
        stratum = f"site={site}"
        counts.append({"model_version": "2.1.0", "stratum": stratum, "level": 1, "attributes": {"site": site},
                       "tp": 40 + i, "fp": 5, "fn": 10, "tn": 45})
        results.append({"model_version": "2.1.0", "stratum": stratum, "level": 1, "attributes": {"site": site},
                        "metric": "sensitivity", "successes": 40 + i, "trials": 50 + i, "estimate": (40 + i) / (50 + i),
                        "ci_low": 0.66, "ci_high": 0.89, "claim": 0.9, "margin": 0.02, "performance_goal": 0.88,
                        "p_value": 0.01, "q_value": 0.04, "holm_p": None, "confirmatory": False,
                        "status": "flagged", "additional_needed": None, "minimal_detectable_drop": -0.05})
    findings = [{"ticket_id": "=cmd|' /C calc'!A0", "model_version": "2.1.0", "stratum": results[0]["stratum"],
                 "metric": "sensitivity", "successes": 40, "trials": 50, "estimate": 0.8, "ci_low": 0.66,
                 "ci_high": 0.89, "claim": 0.9, "performance_goal": 0.88, "p_value": 0.01, "q_value": 0.04}]
    return {"analysis": {"counts": counts, "results": results, "findings": findings,
                         "sites": [{"site_id": site, "predictions": 10 + i} for i, site in enumerate(sites)]}}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_neutralise_prefixes_formula_text_and_leaves_numbers(payload: str) -> None:
    assert neutralise(payload) == "'" + payload
    assert neutralise(-0.5) == -0.5 and neutralise("site-a") == "site-a"


def test_csv_cells_cannot_start_a_formula_but_negative_numbers_stay_numbers() -> None:
    tables = annex_rows(_content(PAYLOADS))
    text = to_csv(*tables["stratified_results"])
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["stratum"] for r in rows] == [f"site={p}" for p in PAYLOADS]  # not at the start: unchanged
    findings = list(csv.DictReader(io.StringIO(to_csv(*tables["findings"]), newline="")))
    assert findings[0]["ticket_id"] == "'=cmd|' /C calc'!A0"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), value
        assert row["minimal_detectable_drop"] == "-0.05" and float(row["estimate"]) > 0
    assert list(rows[0]) == list(RESULT_COLUMNS)
    assert rows[0]["n"] == "100" and rows[0]["positives"] == "50" and rows[0]["low_n"] == "false"


def test_csv_neutralises_payloads_at_the_start_of_a_cell() -> None:
    content = _content(["x"])
    content["analysis"]["results"][0]["stratum"] = "=1+1"
    content["analysis"]["results"][0]["model_version"] = "@evil"
    rows = list(csv.DictReader(io.StringIO(to_csv(*annex_rows(content)["stratified_results"]), newline="")))
    assert rows[0]["stratum"] == "'=1+1" and rows[0]["model_version"] == "'@evil"


def test_xlsx_keeps_numbers_numeric_and_text_never_a_formula(tmp_path) -> None:  # type: ignore[no-untyped-def]
    content = _content(["a"])
    content["analysis"]["results"][0]["stratum"] = "=HYPERLINK(\"http://evil\")"
    content["analysis"]["results"][0]["model_version"] = "-1+2"
    data = to_xlsx(annex_rows(content), created=CREATED)
    path = tmp_path / "annex.xlsx"
    path.write_bytes(data)
    sheet = load_workbook(path)["stratified_results"]
    header = [c.value for c in sheet[1]]
    row = {h: c for h, c in zip(header, sheet[2], strict=True)}
    assert row["stratum"].value == "'=HYPERLINK(\"http://evil\")" and row["stratum"].data_type == "s"
    assert row["model_version"].value == "'-1+2"
    assert row["estimate"].data_type == "n" and row["trials"].value == 50
    assert row["minimal_detectable_drop"].value == -0.05
    assert load_workbook(path).properties.created == CREATED.replace(tzinfo=None)


def test_csv_bytes_are_stable() -> None:
    first = to_csv(*annex_rows(_content(["a", "b"]))["stratified_results"])
    assert first == to_csv(*annex_rows(_content(["a", "b"]))["stratified_results"])


def test_site_ids_with_formula_payloads_are_neutralised_in_csv_and_xlsx(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tables = annex_rows(_content(PAYLOADS))
    rows = list(csv.DictReader(io.StringIO(to_csv(*tables["sites"]), newline="")))
    assert [r["site_id"] for r in rows] == ["'" + p for p in PAYLOADS]
    assert [r["predictions"] for r in rows] == [str(10 + i) for i in range(len(PAYLOADS))]
    path = tmp_path / "annex.xlsx"
    path.write_bytes(to_xlsx(tables, created=CREATED))
    sheet = load_workbook(path)["sites"]
    # XML text normalises a carriage return to a line feed; the apostrophe still leads
    assert [c.value for c in sheet["A"][1:]] == ["'" + p.replace("\r", "\n") for p in PAYLOADS]
    assert all(c.data_type == "s" for c in sheet["A"][1:])
    assert [c.value for c in sheet["B"][1:]] == [10 + i for i in range(len(PAYLOADS))]


def test_xlsx_carries_no_wall_clock_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """docs/reports.md "Determinism": the document properties and every ZIP entry are dated ``generated_at``
    (given with an offset here: stored as UTC), so the same tables give the same bytes."""
    import zipfile
    from datetime import timedelta, timezone

    created = datetime(2026, 2, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    data = to_xlsx(annex_rows(_content(["a", "b"])), created=created)
    assert data == to_xlsx(annex_rows(_content(["a", "b"])), created=created)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 2, 1, 8, 0, 0)}
    path = tmp_path / "annex.xlsx"
    path.write_bytes(data)
    properties = load_workbook(path).properties
    assert properties.created == properties.modified == datetime(2026, 2, 1, 8, 0)
