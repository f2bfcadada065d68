"""The vectorised steps of row validation against their value-by-value oracles.

Ingestion cleans text, parses timestamps, pseudonymises identifiers and hashes rows with Arrow kernels
over a whole chunk. Each step here is checked against the plain Python definition it replaces
(``str.strip``, pandas' ISO 8601 parser, ``hmac.new`` of RFC 2104, SHA-256 of the joined fields). The
row hashes of fixed rows are pinned: they are stored, and a re-sent file is recognised as a duplicate
only if its rows hash exactly as they did when first stored.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.adapters.config_file import load_device_config
from monitor.domain import logs
from monitor.domain.logs import validate_ground_truth, validate_predictions, validate_retractions
from monitor.domain.privacy import make_patient_hasher

ROOT = Path(__file__).resolve().parents[3]
DEVICES = {"lung-nodule-ct": load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")}
HASH = make_patient_hasher("unit-test-key-0123456789abcdef")
NOW = datetime(2026, 2, 1, tzinfo=timezone.utc)

_SPACES = "".join(logs._WHITESPACE) + "\u200b"  # U+200B is not whitespace for str.strip: it must stay
_texts = st.one_of(
    st.none(),
    st.sampled_from(["", "null", "NULL", "None", "NaN", "nan", "NA", "N/A", " null ", "0", "x"]),
    st.text(alphabet=st.one_of(st.sampled_from(_SPACES), st.characters(codec="utf-8")), max_size=12),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_texts, min_size=1, max_size=40))
def test_text_cleaning_equals_strip_and_blank_rules(values: list[str | None]) -> None:
    frame = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    expected = [logs._clean(v) for v in values]
    assert logs._text(frame, "c").tolist() == expected


def test_text_cleaning_of_non_text_values_takes_their_str() -> None:
    frame = pd.DataFrame({"c": pd.Series([1, 2.5, None, float("nan"), " a "], dtype=object)})
    assert logs._text(frame, "c").tolist() == ["1", "2.5", None, None, "a"]


_instants = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31))
_offsets = st.sampled_from(["Z", "+08:00", "-05:30", "+00:00", "+14:00", "-12:00", "+05:45"])
_fractions = st.sampled_from(["", ".5", ".123", ".123456"])


_plain_texts = st.tuples(_instants, _fractions, _offsets).map(lambda t: t[0].strftime("%Y-%m-%dT%H:%M:%S") + t[1] + t[2])
_odd_texts = st.sampled_from(["2025-02-30T09:15:00+08:00", "2025-08-01T09:15:00", "2025-08-01",
                              "2025-08-01T09:15+08:00", "2025-08-01 09:15:00+08:00", "yesterday", None,
                              "2025-08-01T09:15:00+0800", "2025-08-01T24:00:00Z"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_plain_texts, _plain_texts, _odd_texts), min_size=1, max_size=30))
def test_plain_timestamps_parse_as_pandas_does(texts: list[str | None]) -> None:
    values = pd.Series(texts, dtype=object)
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    plain = logs._plain_timestamps(values, parsed)
    oracle = pd.to_datetime(values[plain], format="ISO8601", utc=True)
    pd.testing.assert_series_equal(parsed[plain], oracle, check_names=False)
    assert parsed[~plain].isna().all()


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=16, max_size=80), st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_patient_hash_is_rfc2104_hmac_sha256(key: str, identifiers: list[str]) -> None:
    hasher = make_patient_hasher(key)
    for identifier in identifiers:
        assert hasher(identifier) == hmac.new(key.encode(), identifier.encode(), hashlib.sha256).hexdigest()


_fields = st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 5), st.floats(allow_nan=True))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4).flatmap(lambda width: st.lists(st.lists(_fields, min_size=width, max_size=width),
                                                          min_size=1, max_size=20)))
def test_row_hashes_are_sha256_of_the_joined_fields(rows: list[list[object]]) -> None:
    columns = [pd.Series([row[i] for row in rows], dtype=object) for i in range(len(rows[0]))]

    def text(v: object) -> str:
        return "" if v is None or (isinstance(v, float) and v != v) else v if isinstance(v, str) else str(v)

    expected = [hashlib.sha256("\x1f".join(text(v) for v in row).encode()).hexdigest() for row in rows]
    assert logs._row_hashes(*columns) == expected
    sliced = [c.iloc[1:] for c in columns]  # a slice of a chunk (Arrow offsets not at 0)
    assert logs._row_hashes(*sliced) == expected[1:]


def test_stored_row_hashes_do_not_change() -> None:
    """Pinned values (computed before the steps were vectorised): a change here would turn re-sent,
    identical rows into conflicts."""
    rows = [
        {"prediction_id": "P1", "device_id": "lung-nodule-ct", "model_version": "2.1.0", "site_id": "S1",
         "predicted_at": "2025-08-01T09:15:00+08:00", "score": "0.4", "predicted_label": "0",
         "patient_id": "PAT-1", "age": "95", "sex": "F", "emphysema_grade": "severe"},
        {"prediction_id": "P2", "device_id": "lung-nodule-ct", "model_version": "2.1.0", "site_id": "S1",
         "predicted_at": "2025-08-01T09:15:00.25Z", "score": "1e-3", "predicted_label": "1", "patient_id": "PAT-2",
         "age": None, "sex": None, "emphysema_grade": None, "study_uid": "1.2.3", "human_label": "1"},
        {"prediction_id": "P3", "device_id": "lung-nodule-ct", "model_version": "2.1.0", "site_id": "S1",
         "predicted_at": "2025-08-01T09:15:00-05:30", "score": None, "predicted_label": None, "patient_id": "PAT-3",
         "result_status": "failed", "failure_reason": "timeout"},
    ]
    checked = validate_predictions(pd.DataFrame(rows, dtype=object), first_row=1, devices=DEVICES,
                                   hash_patient=HASH, now=NOW)
    assert checked.accepted["row_hash"].tolist() == [
        "aa779a900945c97b29e3cc9cdcaa96ded4b16d823c6fd9b05d261afe7e8a1243",
        "8722b3afb3b0c3e6957345adc5e68252ed84b9bbb430c41deb8c89b2c3cdbbc8",
        "ab1c3dd28de788b92f0770b301379b9f6a3d90d8cd55f61ca7fffd44880eae9f"]
    assert checked.accepted["patient_hash"].tolist() == [
        "af140dafc7467a0ec656a1c01b32cd2947b8cc02bd8f50b81ad336d803653ea5",
        "f9e0d0035f79519b7fd18405de2ad73953b265ca6b41fba9f91a2e83ac0dec4d",
        "76d962dd719a7d265f17c402e143cfeb4b580d94cff3c7410f9600a5e515f65e"]
    truth = validate_ground_truth(pd.DataFrame([{
        "prediction_id": "P1", "device_id": "lung-nodule-ct", "label": "1", "confirmed_at": "2025-09-01T10:00:00+08:00",
        "source": "follow_up", "intervention_at": "2025-09-03T10:00:00Z"}], dtype=object),
        first_row=1, devices=DEVICES, now=NOW)
    assert truth.accepted["row_hash"].tolist() == ["2fe2bbdf04c3dc039a08c6ed9616c84e54edb556944ce4360bc8cf904947444e"]
    retraction = validate_retractions(pd.DataFrame([{
        "device_id": "lung-nodule-ct", "prediction_id": "P1", "retracted_at": "2025-10-01T00:00:00Z",
        "reason": "FSN-7"}], dtype=object), first_row=1, devices=DEVICES, now=NOW)
    assert retraction.accepted["row_hash"].tolist() == [
        "0e41cab291616fcab4fa7a28524a064edce65765f8d9fe5534f34d27a46b9596"]


def test_number_text_is_repr_of_the_float() -> None:
    values = pd.Series([0.1, None, float("nan"), 1e-5, 90], dtype=object)
    assert logs._number_text(values).tolist() == ["0.1", "", "", "1e-05", "90.0"]
    assert np.array_equal(logs._float_text(pd.Series([0.5, np.nan])).to_numpy(), np.array(["0.5", "nan"], dtype=object))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="0123456789.-_aZ\n٣ ", max_size=70)), min_size=1, max_size=30))
def test_whole_value_patterns_agree_with_python_re(values: list[str | None]) -> None:
    import re

    series = pd.Series(values, dtype=object)
    for pattern, limit in ((logs._UID_PATTERN, logs.MAX_UID_LENGTH), (logs._FAILURE_REASON_PATTERN, None)):
        expected = [v is not None and re.fullmatch(pattern, v) is not None and (limit is None or len(v) <= limit)
                    for v in values]
        got = logs._full_matches(series, pattern, limit)
        assert [bool(g) for g, v in zip(got, values) if v is not None] == [e for e, v in zip(expected, values)
                                                                           if v is not None]
