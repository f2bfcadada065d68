"""CSV and Parquet log readers: headers, chunking, row numbers and text rendering (no database)."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitor.adapters.files.readers import open_log
from monitor.errors import InputError

HEADER = "prediction_id,score,predicted_at"


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_bytes(text.encode("utf-8"))
    else:
        path.write_bytes(text)
    return path


def collect(path: Path, chunk_rows: int = 50_000, **kwargs: str) -> list[tuple[int, pd.DataFrame]]:
    return list(open_log(path, **kwargs).chunks(chunk_rows))


# CSV ---------------------------------------------------------------------------------------------
def test_csv_header_checksum_and_text_values(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", " Prediction_ID ,SCORE,predicted_at\nP1,0.5,2025-08-01T09:00:00+08:00\nP2,,x\n")
    log = open_log(path)
    assert (log.format, log.columns) == ("csv", ("prediction_id", "score", "predicted_at"))
    assert log.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert log.count_rows() is None
    [(first_row, chunk)] = collect(path)
    assert first_row == 1
    assert list(chunk.columns) == ["prediction_id", "score", "predicted_at"]
    assert chunk.to_dict("records") == [
        {"prediction_id": "P1", "score": "0.5", "predicted_at": "2025-08-01T09:00:00+08:00"},
        {"prediction_id": "P2", "score": None, "predicted_at": "x"},
    ]


def test_csv_chunks_are_numbered_by_data_row(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", HEADER + "\n" + "".join(f"P{i},0.{i},t\n" for i in range(1, 8)))
    chunks = collect(path, chunk_rows=3)
    assert [first for first, _ in chunks] == [1, 4, 7]
    assert [c["prediction_id"].tolist() for _, c in chunks] == [["P1", "P2", "P3"], ["P4", "P5", "P6"], ["P7"]]


def test_csv_short_rows_give_missing_values(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", HEADER + "\nP1\nP2,0.2,t\n")
    [(_, chunk)] = collect(path)
    assert chunk["prediction_id"].tolist() == ["P1", "P2"]
    assert chunk["score"].isna().tolist() == [True, False]


def test_csv_bom_quoted_newline_and_header_only(tmp_path: Path) -> None:
    bom = write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + (HEADER + "\nP1,0.5,t\n").encode())
    assert open_log(bom).columns == ("prediction_id", "score", "predicted_at")
    assert collect(bom)[0][1]["prediction_id"].tolist() == ["P1"]
    quoted = write(tmp_path / "quoted.csv", HEADER + '\nP1,0.5,"line one\nline two"\nP2,0.6,t\n')
    [(_, chunk)] = collect(quoted)
    assert chunk["predicted_at"].tolist() == ["line one\nline two", "t"]
    header_only = write(tmp_path / "header.csv", HEADER + "\n")
    assert sum(len(chunk) for _, chunk in collect(header_only)) == 0


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty (expected a header row)"),
    (b"\n\n", "the file is empty (expected a header row)"),
    (b"prediction_id;score;predicted_at\nP1;0.5;t\n", "the header is separated by ';'"),
    (b"prediction_id\tscore\tpredicted_at\nP1\t0.5\tt\n", "the header is separated by '\\t'"),
    (b"prediction_id,Score,score\nP1,1,2\n", "duplicate column name(s) in the header: score"),
    (b"prediction_id,sc\xffore\n", "the file is not UTF-8 text"),
])
def test_csv_unusable_header(tmp_path: Path, content: bytes, message: str) -> None:
    path = write(tmp_path / "bad.csv", content)
    with pytest.raises(InputError) as caught:
        open_log(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_open_log_refuses_missing_or_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_log(tmp_path / "absent.csv")
    odd = write(tmp_path / "log.dat", HEADER + "\nP1,0.5,t\n")
    with pytest.raises(InputError, match="unknown log format"):
        open_log(odd)
    assert collect(odd, format="csv")[0][1]["prediction_id"].tolist() == ["P1"]


@pytest.mark.parametrize("bad_row", [1, 2, 4, 5, 7])
@pytest.mark.parametrize("chunk_rows", [1, 3, 50_000])
def test_csv_row_with_more_fields_than_the_header_is_an_input_error(tmp_path: Path, bad_row: int,
                                                                      chunk_rows: int) -> None:
    # Whatever its position relative to chunk boundaries (pandas' chunked parser used to drop the extra
    # field of a chunk's first row, and to shift every column when the first data row had one extra field).
    lines = [f"P{i},0.{i},t" for i in range(1, 8)]
    lines[bad_row - 1] = f"P{bad_row},0.5,United, Imaging"
    path = write(tmp_path / "log.csv", HEADER + "\n" + "\n".join(lines) + "\n")
    with pytest.raises(InputError) as caught:
        collect(path, chunk_rows=chunk_rows)
    assert str(caught.value) == (f"{path}: malformed CSV at data row {bad_row}: 4 fields but the header has 3 "
                                 "(quote values that contain a comma)")


def test_csv_blank_lines_crlf_and_short_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", HEADER + "\r\nP1,0.1,t\r\n\r\n   \r\nP2\r\n,,\r\nP3,0.3,t")
    [(_, chunk)] = collect(path)
    assert chunk.values.tolist() == [["P1", "0.1", "t"], ["P2", None, None], [None, None, None], ["P3", "0.3", "t"]]


def test_csv_nul_byte_is_an_input_error(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", (HEADER + "\nP1,0.5,t\nP\x002,0.5,t\n").encode())
    with pytest.raises(InputError, match="contains NUL bytes"):
        collect(path)


def test_csv_non_utf8_byte_after_the_first_chunks(tmp_path: Path) -> None:
    # The header is fine; the bad byte is beyond the parser's first read, so chunks come out first.
    rows = "".join(f"P{i},0.5,{'t' * 200}\n" for i in range(1500))
    path = write(tmp_path / "log.csv", (HEADER + "\n" + rows).encode() + b"P\xff,0.5,t\n")
    log = open_log(path)
    seen = []
    with pytest.raises(InputError, match="is not UTF-8 text"):
        for first_row, _chunk in log.chunks(100):
            seen.append(first_row)
    assert seen and seen[0] == 1


# Parquet -----------------------------------------------------------------------------------------
def test_parquet_typed_values_are_rendered_as_csv_text(tmp_path: Path) -> None:
    table = pa.table({
        "Prediction_ID": ["P1", "P2", None],
        "predicted_at": pa.array(pd.to_datetime(["2025-08-01T09:15:00+08:00", "2025-08-02T00:00:00+08:00", None],
                                                utc=True).tz_convert("Asia/Shanghai")),
        "naive_at": pa.array(pd.to_datetime(["2025-08-01T09:15:00", None, "2025-08-03T00:00:00"])),
        "day": pa.array([date(2025, 8, 1), None, date(2025, 8, 3)]),
        "score": [0.7, 1.0, None],
        "predicted_label": pa.array([1, 0, 1], pa.int64()),
        "flag": [True, False, None],
        "age": [67.0, None, 80.5],
    })
    path = tmp_path / "log.parquet"
    pq.write_table(table, path)
    log = open_log(path)
    assert log.format == "parquet" and log.count_rows() == 3
    assert log.columns == ("prediction_id", "predicted_at", "naive_at", "day", "score", "predicted_label", "flag",
                           "age")
    [(first_row, chunk)] = collect(path)
    assert first_row == 1
    assert chunk.to_dict("records") == [
        {"prediction_id": "P1", "predicted_at": "2025-08-01T09:15:00+08:00", "naive_at": "2025-08-01T09:15:00",
         "day": "2025-08-01", "score": "0.7", "predicted_label": "1", "flag": "1", "age": "67"},
        {"prediction_id": "P2", "predicted_at": "2025-08-02T00:00:00+08:00", "naive_at": None, "day": None,
         "score": "1", "predicted_label": "0", "flag": "0", "age": None},
        {"prediction_id": None, "predicted_at": None, "naive_at": "2025-08-03T00:00:00", "day": "2025-08-03",
         "score": None, "predicted_label": "1", "flag": None, "age": "80.5"},
    ]


def test_parquet_chunks_are_numbered_by_data_row(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"prediction_id": [f"P{i}" for i in range(1, 8)]}), path)
    chunks = collect(path, chunk_rows=3)
    assert [first for first, _ in chunks] == [1, 4, 7]
    assert [c["prediction_id"].tolist() for _, c in chunks] == [["P1", "P2", "P3"], ["P4", "P5", "P6"], ["P7"]]


def test_unreadable_parquet_is_an_input_error(tmp_path: Path) -> None:
    path = write(tmp_path / "log.parquet", b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        open_log(path)


def test_parquet_duplicate_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table([pa.array(["P1"]), pa.array([0.5]), pa.array([0.6])],
                            names=["prediction_id", "score", "SCORE"]), path)
    with pytest.raises(InputError, match="duplicate column name"):
        open_log(path)
