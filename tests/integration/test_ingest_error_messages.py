"""Ingest error messages and outcomes from issue 15 (rows 2, 8, 10, 11, 12), on SQLite and PostgreSQL:
no data value in any error or reason, the exact row of a non-UTF-8 row, a post none of whose records
can be read, timestamps outside the plausible range, and a rejected row sent again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from monitor.adapters.db.tables import ingestion_batches, rejected_rows
from monitor.adapters.files.readers import open_log
from monitor.entrypoints.api import create_api
from monitor.entrypoints.api.security import AuthFailureLimiter
from monitor.errors import InputError
from monitor.service import access
from monitor.service.access import create_token
from monitor.service.ingest import ingest_predictions

DEVICE = "lung-nodule-ct"
HEADER = "prediction_id,device_id,model_version,site_id,predicted_at,score,predicted_label,patient_id,age\n"
LINE = "{},lung-nodule-ct,2.1.0,SH-01,{},0.5,1,{},67\n"
SECRET = "MRN-7731-SECRET"


def ingest(app: Any, path: Path) -> Any:
    return ingest_predictions(app.open_log(path), source=str(path), uow=app.uow, hash_patient=app.patient_hasher(),
                              clock=app.clock, actor="pytest")


def count(app: Any, table: Any, *where: Any) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


@pytest.fixture
def client(app: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))  # cheap KDF: these tests are not about tokens
    token = create_token(app.uow, name="gw", role="device", device_id=DEVICE, clock=clock, actor="pytest")[1]
    api = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=10_000)), raise_server_exceptions=False)
    api.headers["Authorization"] = f"Bearer {token}"
    return api


def test_headerless_csv_error_names_columns_and_counts_never_quotes(app: Any, client: TestClient,
                                                                   tmp_path: Path) -> None:
    """Row 2: the first data row taken as the header is counted, not quoted (nor its patient id)."""
    path = tmp_path / "headerless.csv"
    path.write_text(LINE.format("H1", "2025-08-01T09:15:00+08:00", SECRET) * 2)
    with pytest.raises(InputError) as caught:
        ingest(app, path)
    message = str(caught.value)
    assert SECRET not in message and SECRET.lower() not in message and "H1" not in message.upper().split(":")[-1]
    assert "missing required column(s): prediction_id, device_id" in message
    assert "found 9 column(s), none of them a column of the predictions format; is the header row missing?" in message
    assert count(app, ingestion_batches) == 0
    # through the API (422 detail), and the header's duplicate check (two equal cells)
    body = LINE.format("H1", "2025-08-01T09:15:00+08:00", SECRET).encode()
    response = client.post(f"/v1/devices/{DEVICE}/predictions", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code in (415, 422) and SECRET not in response.text and SECRET.lower() not in response.text
    twice = tmp_path / "twice.csv"
    twice.write_text(f"{SECRET},{SECRET},x\n1,2,3\n")
    with pytest.raises(InputError) as caught:
        open_log(twice)
    assert SECRET.lower() not in str(caught.value).lower().replace(str(tmp_path).lower(), "")
    assert "1 other name(s); is the header row missing?" in str(caught.value)


def test_rejection_reasons_quote_no_value(app: Any, tmp_path: Path) -> None:
    """Row 2: every rejection reason names the column and the rule; the record id stays in record_id."""
    path = tmp_path / "bad.csv"
    path.write_text(HEADER
                    + f"B1,lung-nodule-ct,2.1.0,SH-01,{SECRET},0.5,1,P1,67\n"  # a patient id in a timestamp column
                    + f"B2,{SECRET},2.1.0,SH-01,2025-08-01T09:15:00Z,{SECRET},{SECRET},P2,{SECRET}\n"
                    + "B3,lung-nodule-ct,2.1.0,SH-01,2025-08-01T09:15,7,1,P3,67\n")
    summary = ingest(app, path)
    assert (summary.rejected, summary.accepted) == (3, 0)
    with app.uow() as unit:
        rows = unit.logs.rejections(batch_id=summary.batch_id)
    assert [r["record_id"] for r in rows] == ["B1", "B2", "B3"]
    for row in rows:
        assert SECRET not in row["reason"] and "B1" not in row["reason"] and "B2" not in row["reason"]
    assert rows[0]["reason"] == "predicted_at is not a valid ISO-8601 timestamp"
    assert rows[1]["reason"].split("; ")[0] == "device_id is not a registered device (run `samd-monitor device add CONFIG`)"
    assert "score is not a number" in rows[1]["reason"] and "age is not a number of years in 0..130" in rows[1]["reason"]
    # a re-send with different content: a conflict, named by the column, not the id
    again = tmp_path / "again.csv"
    good = LINE.format("C1", "2025-08-01T09:15:00+08:00", "P1")
    again.write_text(HEADER + good)
    ingest(app, again)
    again.write_text(HEADER + good.replace(",0.5,", ",0.6,"))
    with app.uow() as unit:
        conflict = unit.logs.rejections(batch_id=ingest(app, again).batch_id)[0]
    assert conflict["record_id"] == "C1" and "C1" not in conflict["reason"]
    _timestamps_outside_the_plausible_window(app, tmp_path)


def test_non_utf8_row_is_reported_at_its_exact_row(tmp_path: Path) -> None:
    """Row 8: a GBK row at data row 701 (after blank lines and a quoted multi-line value) is reported at 701,
    not where the decoder happened to be."""
    rows = [LINE.format(f"G{i}", "2025-08-01T09:15:00+08:00", f"P{i}") for i in range(1, 701)]
    rows[10] = rows[10].replace("2.1.0", '"2.1\n.0"')  # one record over two lines
    body = (HEADER + "\n" + "".join(rows[:300]) + "\n\n" + "".join(rows[300:])).encode("utf-8")
    path = tmp_path / "gbk.csv"
    path.write_bytes(body + LINE.format("G701", "2025-08-01T09:15:00+08:00", "病人").encode("gbk")
                     + "".join(rows[:50]).encode())
    with pytest.raises(InputError, match=r": data row 701 is not UTF-8 text \(re-export"):
        for _ in open_log(path).chunks(100):
            pass


def test_a_post_none_of_whose_records_can_be_read_is_recorded(client: TestClient, app: Any, tmp_path: Path) -> None:
    """Row 10: every record unreadable -> the batch is recorded, each record rejected with its own reason
    (API: JSON array and NDJSON; the file path the CLI takes: NDJSON)."""
    array = client.post(f"/v1/devices/{DEVICE}/predictions", json=[1, "two", [3], None])
    assert array.status_code == 200, array.text
    assert (array.json()["rows"], array.json()["rejected"], array.json()["reasons"]) == (4, 4, {"not_an_object": 4})
    lines = client.post(f"/v1/devices/{DEVICE}/predictions", content=b"{not json\n[1]\n",
                        headers={"Content-Type": "application/x-ndjson"})
    assert lines.status_code == 200 and (lines.json()["rows"], lines.json()["rejected"]) == (2, 2), lines.text
    path = tmp_path / "broken.ndjson"
    path.write_bytes(b"{not json\n42\n")
    summary = ingest(app, path)
    assert (summary.rows, summary.accepted, summary.rejected) == (2, 0, 2)
    assert count(app, rejected_rows) == 8
    path.write_bytes(b'{"foo": 1}\n')  # readable records lacking the columns: still an accurate 422-type error
    with pytest.raises(InputError, match="missing required column"):
        ingest(app, path)


WINDOW = [
    ("9999-12-31T00:00:00Z", "predicted_at_out_of_range"),
    ("1900-01-01T00:00:00+00:00", "predicted_at_out_of_range"),
    ("1600-01-01T00:00:00Z", "predicted_at_out_of_range"),
    ("1969-12-31T23:59:59Z", "predicted_at_out_of_range"),
    ("2200-01-01T00:00:00Z", "predicted_at_in_future"),
    ("9999-99-99T00:00:00Z", "invalid_predicted_at"),
]


def _timestamps_outside_the_plausible_window(app: Any, tmp_path: Path) -> None:
    """Row 11: year 9999 (beyond pandas) and years before 1970 get their own reason; 1970 itself is fine."""
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "".join(LINE.format(f"T{i}", moment, f"P{i}") for i, (moment, _) in enumerate(WINDOW))
                    + LINE.format("T-ok", "1970-01-01T00:00:00Z", "P-ok"))
    summary = ingest(app, path)
    assert summary.accepted == 1
    with app.uow() as unit:
        rows = unit.logs.rejections(batch_id=summary.batch_id)
    assert [r["reason_code"] for r in rows] == [code for _, code in WINDOW]
    for row, (moment, code) in zip(rows, WINDOW, strict=True):
        assert moment not in row["reason"]
        if code.endswith("out_of_range"):
            assert row["reason"] == "predicted_at is outside the supported range (1970-01-01 to one day after ingestion)"


def test_a_rejected_row_sent_again_is_not_quarantined_twice(client: TestClient, app: Any, tmp_path: Path) -> None:
    """Row 12: the same bad body posted twice (and the same bad file ingested twice) leaves one open quarantine
    entry per bad row; the second batch counts them as repeated rejections. A changed row is new."""
    records = [{"prediction_id": f"R{i}", "model_version": "2.1.0", "site_id": "SH-01",
                "predicted_at": "2025-08-01T09:15:00Z", "score": 3.5, "predicted_label": 1, "patient_id": f"P{i}"}
               for i in range(3)]
    body = [*records, "not an object"]
    first = client.post(f"/v1/devices/{DEVICE}/predictions", json=body).json()
    second = client.post(f"/v1/devices/{DEVICE}/predictions", json=body).json()
    assert (first["rejected"], first["repeated_rejections"]) == (4, 0)
    assert (second["rejected"], second["repeated_rejections"]) == (4, 4)
    assert count(app, rejected_rows, rejected_rows.c.status == "open") == 4
    records[0]["score"] = 4.5  # different content: a new entry
    third = client.post(f"/v1/devices/{DEVICE}/predictions", json=records).json()
    assert third["repeated_rejections"] == 2 and count(app, rejected_rows) == 5

    path = tmp_path / "bad.csv"
    path.write_text(HEADER + LINE.format("F1", "2025-08-01T09:15", "P1"))
    assert ingest(app, path).repeated_rejections == 0
    path.write_text(HEADER + LINE.format("F0", "2025-08-01T09:15:00Z", "P0") + LINE.format("F1", "2025-08-01T09:15", "P1"))
    assert ingest(app, path).repeated_rejections == 1  # recognised at another row number
    assert count(app, rejected_rows) == 6


def test_a_file_name_that_is_not_utf8_is_recorded_as_text(app: Any, tmp_path: Path) -> None:
    """A path whose bytes are not UTF-8 (Python carries them as surrogate escapes, PEP 383) is recorded, in
    the batch, its audit record and the summary, with U+FFFD: the database's text encoder refused it."""
    import os

    path = tmp_path / os.fsdecode(b"visit-\xff\xfe.csv")
    path.write_text(HEADER + LINE.format("U1", "2025-08-01T09:15:00+08:00", "P1"), encoding="utf-8")
    summary = ingest(app, path)
    assert summary.accepted == 1 and summary.source.endswith("visit-\ufffd\ufffd.csv")
    with app.engine.connect() as conn:
        recorded = conn.execute(select(ingestion_batches.c.source_name)
                                .where(ingestion_batches.c.batch_id == summary.batch_id)).scalar_one()
    assert recorded == summary.source
