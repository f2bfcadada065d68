"""The Arrow CSV reader gives exactly the chunks of the reference reader (Python's csv module), and hands
over to it for whatever it does not read the same way (issue 20: ingest near the storage floor)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from monitor.adapters.files import readers
from monitor.adapters.files.readers import _arrow_csv_chunks, _csv_chunks, _python_csv_chunks
from monitor.errors import InputError

HEADER = b"prediction_id,score,predicted_at,patient_id\r\n"
ROWS = b"".join(b"P%d,0.%d,2025-08-01T09:00:00+08:00,PAT-%d\r\n" % (i, i, i) for i in range(1, 12))

CASES = {
    "plain": HEADER + ROWS,
    "bom and bare CR": b"\xef\xbb\xbf" + HEADER.replace(b"\r\n", b"\r") + ROWS.replace(b"\r\n", b"\r"),
    "quoted values, newline inside": HEADER + b'"P1","0,5","a\nb",""\r\n"P""2",x,,"P\xc3\xa9"\r\n' + ROWS,
    "blank lines": HEADER + b"\r\n" + ROWS + b"\r\n\r\n",
    "whitespace line": HEADER + ROWS + b"   \r\n" + ROWS,
    "short row late": HEADER + ROWS + ROWS + b"P99\r\n" + ROWS,
    "empty values": HEADER + b",,,\r\n" + ROWS,
    "spaces kept": HEADER + b" P1 , 0.5 ,x, y \r\n",
    "quoted header": b'"prediction_id","score",predicted_at,patient_id\n' + ROWS,
    "duplicate header": b"prediction_id,score,score,patient_id\n" + ROWS,
    "no rows": HEADER,
}


def _frames(chunks: list[tuple[int, pd.DataFrame]]) -> list[tuple[int, list[str], list[list[object]]]]:
    return [(first, list(frame.columns), frame.to_numpy(dtype=object).tolist()) for first, frame in chunks]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("chunk_rows", [1, 4, 50_000])
def test_same_chunks_as_the_reference_reader(tmp_path: Path, name: str, chunk_rows: int, block_bytes: int) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(CASES[name])
    fast = list(_csv_chunks(path, chunk_rows))
    reference = list(_python_csv_chunks(path, chunk_rows))
    assert _frames(fast) == _frames(reference)
    for (_, a), (_, b) in zip(fast, reference, strict=True):
        assert all(type(x) is type(y) for x, y in zip(a.to_numpy().ravel(), b.to_numpy().ravel(), strict=True))


@pytest.fixture(params=[8 << 20, 64], ids=["one block", "small blocks"])
def block_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Arrow's block size: small blocks make it yield chunks before it meets the bad row."""
    monkeypatch.setattr(readers, "_ARROW_BLOCK_BYTES", request.param)
    return int(request.param)


@pytest.mark.parametrize("tail, message", [
    (b"P9,0.1,t,x,extra\n", "malformed CSV at data row 23: 5 fields"),
    (b"P9,0.1,t\x00,x\n", "NUL bytes"),
    (b"P9,0.1,t,\xff\xfe\n", "data row 23 is not UTF-8"),
])
def test_a_bad_row_after_good_chunks_gets_the_reference_message(tmp_path: Path, tail: bytes, message: str,
                                                                block_bytes: int) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(HEADER + ROWS + ROWS + tail + ROWS)
    outcomes = []
    for reader in (_csv_chunks, _python_csv_chunks):
        seen = []
        with pytest.raises(InputError, match=message) as caught:
            for first, frame in reader(path, 4):
                seen.append((first, len(frame)))
        assert "PAT-" not in str(caught.value) and "extra" not in str(caught.value)
        outcomes.append((seen, str(caught.value)))
    assert outcomes[0] == outcomes[1]  # the same chunks before the bad row (each once), the same message


def test_plain_files_take_the_arrow_path(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(CASES["plain"])
    assert sum(len(f) for _, f in _arrow_csv_chunks(path, 5)) == 11


def test_parquet_text_columns_are_taken_as_they_are(tmp_path: Path) -> None:
    """Parquet chunks equal the former rendering (``batch.to_pandas().apply(_as_text)``) for every column type."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "Prediction_ID": pa.array(["P1", None, "", "Pé"]),
        "big": pa.array(["a", "b", None, "d"], type=pa.large_string()),
        "site": pa.array(["s1", "s2", "s1", None]).dictionary_encode(),
        "n": pa.array([1, None, 3, 2**60]),
        "x": pa.array([0.5, None, 2.0, 1e-7]),
        "flag": pa.array([True, None, False, True]),
        "at": pa.array([dt.datetime(2025, 8, 1, 1, 15, tzinfo=dt.timezone.utc), None, None, None],
                       type=pa.timestamp("us", tz="UTC")),
        "day": pa.array([dt.date(2025, 8, 1), None, dt.date(2025, 8, 2), None]),
    })
    path = tmp_path / "log.parquet"
    pq.write_table(table, path, row_group_size=3)
    new = list(readers._parquet_chunks(path, 3))
    former = []
    first = 1
    for batch in pq.ParquetFile(path).iter_batches(batch_size=3):
        frame = batch.to_pandas()
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        former.append((first, frame.apply(readers._as_text).astype(object)))
        first += len(frame)
    assert _frames(new) == _frames(former)
