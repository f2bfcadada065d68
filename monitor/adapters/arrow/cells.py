"""Confusion-cell tables computed in process by Apache Arrow from Parquet logs in a data lake.

The same cell table as :mod:`monitor.adapters.spark.cells` (model version x stratum labels ->
``tp, fp, fn, tn``), with the same counting rules (docs/arrow-engine.md), computed with
``pyarrow.dataset`` and ``pyarrow.compute`` plus numpy on one machine, without a JVM. Both logs are
streamed in record batches; what stays in memory is compact:

1. ground truth: per kept row its id and ``2 * confirmed_at + label`` (whose maximum per id is the
   latest time with its label; the maximum of its ``XOR 1`` tells whether another label ties at that
   time); the rows are grouped by a 64-bit hash of the id (SplitMix64 over the id's bytes) and reduced
   to one label per id, kept as the ids sorted by hash;
2. predictions: each batch is validated, cut to the period and reduced to a cell id (model version,
   stratum labels, call), a time and a score; its ids are looked up among the labelled ids by hash;
3. repeated ids are resolved on the rows whose id occurs more than once, then the rows are counted per
   cell with ``numpy.bincount``.

Hashes only narrow the search: wherever two rows are matched by hash their id strings are compared,
so results are exact; a collision between different ids (about 3 in a million runs at 10 million ids)
is detected and the pass is redone with another seed.

Rules, the Spark engine's (see its module docstring):

* a prediction row counts when its required fields are present and valid (score in [0, 1],
  predicted label 0/1, a timestamp), it belongs to the device, and
  ``period start <= predicted_at < period end`` and ``predicted_at <= cutoff``;
* prediction ids repeated with identical content count once; ids repeated with different content are
  excluded and reported (``conflicting_prediction_id``);
* a ground-truth row counts when its label is 0/1 and ``confirmed_at <= cutoff``; the label confirmed
  last wins; ties with different labels are excluded and reported (``ambiguous_ground_truth``);
* stratum labels follow :meth:`monitor.domain.strata.AttributeSpec.bin_label` (left-closed bins,
  missing or empty values ``unknown``, ages above 89 coded 90).

Reference: Apache Arrow columnar format and compute functions (https://arrow.apache.org/docs/,
"Columnar Format" specification); the counting rules are samd-monitor's own (docs/spark.md).
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from monitor.domain.strata import MISSING_LABEL, AttributeSpec
from monitor.errors import InputError

__all__ = ["ArrowCells", "arrow_confusion_cells", "describe"]

COUNT_COLUMNS = ("tp", "fp", "fn", "tn")
AGE_TOP_CODE = 90.0
#: Rows per record batch read from the prediction and ground-truth logs.
BATCH_ROWS = 500_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ID = "prediction_id"


@dataclass
class ArrowCells:
    """The cell table and what the Arrow pass excluded, with reasons."""

    cells: pd.DataFrame
    predictions_read: int
    predictions_counted: int
    excluded: dict[str, int] = field(default_factory=dict)


class _Codebook:
    """Global integer codes of the text values of one key column (model version or a stratum)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.values: list[str] = []

    def code(self, value: str) -> int:
        """The code of ``value``, assigned on first sight."""
        found = self.codes.get(value)
        if found is None:
            found = self.codes[value] = len(self.values)
            self.values.append(value)
        return found

    def encode(self, text: pa.Array, missing: str | None = None) -> np.ndarray:
        """Codes (int64) of a text or dictionary array; nulls and empty text become ``missing``'s code (nulls
        must not occur without it)."""
        encoded = text if pa.types.is_dictionary(text.type) else pc.dictionary_encode(text)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        values = _text(encoded.dictionary).to_pylist()
        if missing is None:
            lookup = [self.code(v) for v in values]
        else:
            lookup = [self.code(missing if v is None or v == "" else v) for v in values] + [self.code(missing)]
        indices = encoded.indices if missing is None else pc.fill_null(encoded.indices, len(lookup) - 1)
        return np.asarray(lookup, dtype=np.int64)[indices.to_numpy(zero_copy_only=False)]


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch of a tz-aware moment, exactly."""
    return (moment.astimezone(timezone.utc) - _EPOCH) // timedelta(microseconds=1)


def _floor_div(values: pa.Array, divisor: int) -> pa.Array:
    """Integer division rounding down (like Spark's ``floor(ns / 1000)``), nulls kept."""
    array = values.cast(pa.int64())
    raw = pc.fill_null(array, 0).to_numpy(zero_copy_only=False) // divisor
    return pa.array(raw, type=pa.int64(), mask=pc.is_null(array).to_numpy(zero_copy_only=False))


def _timestamps(values: pa.Array, column: str) -> pa.Array:
    """UTC microseconds (int64, nulls for missing or unparsable values) of a timestamp column.

    Parquet timestamps of any unit (without a zone: UTC, like Spark's UTC session), integers as
    nanoseconds since the epoch (Spark's ``nanosAsLong`` reading), dates at midnight UTC, and ISO-8601
    strings (with an offset, or UTC without one).
    """
    kind = values.type
    if pa.types.is_timestamp(kind):
        raw = values.cast(pa.int64())
        scale = {"s": -1_000_000, "ms": -1_000, "us": 1, "ns": 1_000}[kind.unit]
        return pc.multiply(raw, -scale) if scale < 0 else (raw if scale == 1 else _floor_div(raw, scale))
    if pa.types.is_integer(kind):
        return _floor_div(values, 1_000)
    if pa.types.is_date(kind):
        return _timestamps(values.cast(pa.timestamp("s")), column)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            return _timestamps(pc.cast(values, pa.timestamp("us", tz="UTC")), column)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            parsed = pd.to_datetime(pd.Series(values.to_pylist(), dtype=object), utc=True, errors="coerce",
                                    format="ISO8601")
            return _timestamps(pa.array(parsed, type=pa.timestamp("ns", tz="UTC")), column)
    raise InputError(f"column {column!r} has type {kind}, not a timestamp")


def _numbers(values: pa.Array) -> pa.Array:
    """Float64 values; text that is not a number becomes null (Spark's ``cast('double')``)."""
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        parsed = pd.to_numeric(pd.Series(values.to_pylist(), dtype=object), errors="coerce")
        return pa.array(parsed.to_numpy(dtype=float), type=pa.float64(), from_pandas=True)
    if pa.types.is_null(kind):
        return pa.nulls(len(values), pa.float64())
    return values.cast(pa.float64())


def _binary(values: pa.Array) -> pa.Array:
    """0/1 as int8; anything else (other numbers, other text, nulls) null, like ingestion's rule."""
    kind = values.type
    if pa.types.is_boolean(kind):
        return values.cast(pa.int8())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_trim_whitespace(values)
        one = pc.is_in(text, value_set=pa.array(["1", "1.0"]))
        zero = pc.is_in(text, value_set=pa.array(["0", "0.0"]))
        return pc.if_else(one, pa.scalar(1, pa.int8()), pc.if_else(zero, pa.scalar(0, pa.int8()),
                                                                     pa.scalar(None, pa.int8())))
    number = _numbers(values)
    good = pc.or_(pc.equal(number, 0.0), pc.equal(number, 1.0))
    return pc.if_else(good, pc.cast(number, pa.int8(), safe=False), pa.scalar(None, pa.int8()))


def _text(values: pa.Array) -> pa.Array:
    """Values as text (Spark's ``cast('string')``)."""
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_dictionary(values.type):
        return _text(values.dictionary_decode())
    return values.cast(pa.string())


def _datasets(paths: Sequence[str], what: str, dictionary_columns: Sequence[str] = ()) -> list[ds.Dataset]:
    """One Parquet dataset per input (file, folder, local glob, or a URI pyarrow's file systems open);
    ``dictionary_columns`` (text with few values) are read as dictionaries, without materialising each value."""
    found: list[ds.Dataset] = []
    for entry in paths:
        # Pre-buffering whole column chunks saves round trips to object stores but costs memory on local files.
        parquet = ds.ParquetFileFormat(
            read_options=ds.ParquetReadOptions(dictionary_columns=list(dictionary_columns)),
            default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer="://" in entry))
        sources: str | list[str] = entry
        if "://" not in entry and any(c in entry for c in "*?["):
            sources = sorted(glob.glob(entry))
            if not sources:
                raise InputError(f"no {what} log matches {entry!r}")
        try:
            found.append(ds.dataset(sources, format=parquet))
        except (OSError, pa.ArrowInvalid, ValueError) as exc:
            raise InputError(f"Arrow cannot read the {what} logs {entry!r}: {str(exc).splitlines()[0]}") from exc
    return found


def _batches(datasets: Sequence[ds.Dataset], required: set[str], optional: Sequence[str], device_id: str,
             what: str) -> Iterator[pa.Table]:
    """The device's rows, ``required`` and present ``optional`` columns, in record batches."""
    for dataset in datasets:
        names = set(dataset.schema.names)
        missing = sorted(required - names)
        if missing:
            raise InputError(f"{what} logs lack required column(s): {', '.join(missing)}")
        columns = sorted(required) + [c for c in dict.fromkeys(optional) if c in names and c not in required]
        device = ds.field("device_id")
        if not pa.types.is_string(dataset.schema.field("device_id").type):
            device = device.cast(pa.string())
        # Few batches in flight: memory stays bounded by the batch size, not by the files' size.
        scanner = dataset.scanner(columns=columns, filter=device == device_id, batch_size=BATCH_ROWS,
                                  batch_readahead=int(__import__("os").environ.get("RA","0")), fragment_readahead=1, use_threads=__import__("os").environ.get("T")=="1")
        for batch in scanner.to_batches():
            if batch.num_rows:
                yield pa.Table.from_batches([batch])


class _Collision(Exception):
    """Two different ids share a 64-bit hash (about 3 in a million at 10 million ids): retry with another seed."""


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_SHORT = 64  # ids up to this many bytes are hashed vectorised; longer ones one by one


def _mix(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom number generators",
    OOPSLA 2014), element-wise on uint64."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _hash_ids(ids: pa.Array, seed: int) -> np.ndarray:
    """64-bit hashes of the (non-null) strings ``ids``: the bytes, zero-padded to 8-byte words, folded with
    SplitMix64 after the length. Equal strings hash equal; callers compare the strings of equal hashes."""
    ids = ids.cast(pa.string())
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    buffers = ids.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[ids.offset:ids.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    hashes = _mix(np.full(n, seed, dtype=np.uint64) ^ lengths.astype(np.uint64))
    long = lengths > _SHORT
    short_lengths = np.where(long, 0, lengths)
    width = int(short_lengths.max())
    if width:
        words = (width + 7) // 8
        padded = np.zeros((n, words * 8), dtype=np.uint8)
        if not long.any() and (lengths == width).all():  # fixed-width ids: one copy
            padded[:, :width] = data[offsets[0]:offsets[-1]].reshape(n, width)
        else:
            before = np.cumsum(short_lengths) - short_lengths
            step = np.arange(int(short_lengths.sum()), dtype=np.int64)
            source = step + np.repeat(offsets[:-1] - before, short_lengths)
            target = step + np.repeat(np.arange(n, dtype=np.int64) * (words * 8) - before, short_lengths)
            padded.reshape(-1)[target] = data[source]
            del before, step, source, target
        folded = padded.view("<u8")
        for k in range(words):
            hashes = _mix(hashes ^ folded[:, k])
    for i in np.flatnonzero(long):  # rare: fold every 8-byte word of a long id
        value = hashes[i]
        chunk = bytes(data[offsets[i]:offsets[i + 1]])
        for k in range(0, len(chunk), 8):
            word = np.frombuffer(chunk[k:k + 8].ljust(8, b"\0"), dtype="<u8")
            value = _mix(np.asarray([value ^ word[0]], dtype=np.uint64))[0]
        hashes[i] = value
    return hashes


def _check_equal(ids: pa.Array | pa.ChunkedArray, left: np.ndarray, right: np.ndarray) -> None:
    """Raise :class:`_Collision` unless ``ids[left] == ids[right]`` row by row (same hash, same id)."""
    if len(left) and not pc.all(pc.equal(ids.take(pa.array(left)), ids.take(pa.array(right)))).as_py():
        raise _Collision


@dataclass
class _Truth:
    """The latest labels: ids sorted by hash, their hashes, labels (-1: tied) and the count of tied ids."""

    hashes: np.ndarray
    ids: pa.Array
    labels: np.ndarray
    tied: int

    def find(self, ids: pa.Array, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``ids`` that are labelled and their positions among the labelled ids, ordered by position;
        exact (the strings of equal hashes are compared)."""
        if not len(self.hashes):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        order = np.argsort(hashes)  # sorted queries walk the sorted hashes (and ids) in one direction
        position = np.minimum(np.searchsorted(self.hashes, hashes[order]), len(self.hashes) - 1)
        found = self.hashes[position] == hashes[order]
        rows, keys = order[found], position[found]
        if len(rows) and not pc.all(pc.equal(ids.take(pa.array(rows)), self.ids.take(pa.array(keys)))).as_py():
            raise _Collision
        return rows, keys


def _latest_labels(datasets: Sequence[ds.Dataset], device_id: str, cutoff: int, seed: int) -> _Truth:
    """The label confirmed last by ``cutoff`` of every prediction id (ties with different labels: -1)."""
    ids: list[pa.Array] = []
    stamps: list[np.ndarray] = []
    hashes: list[np.ndarray] = []
    nameless: list[np.ndarray] = []
    for batch in _batches(datasets, {_ID, "device_id", "label", "confirmed_at"}, (), device_id, "ground-truth"):
        label = _binary(batch.column("label").combine_chunks())
        confirmed = _timestamps(batch.column("confirmed_at").combine_chunks(), "confirmed_at")
        keep = pc.fill_null(pc.and_(pc.is_valid(label), pc.less_equal(confirmed, cutoff)), False)
        # 2t + label: its maximum is the latest time with the larger label at it; the maximum of
        # 2t + (1 - label), i.e. of (2t + label) XOR 1, has the smaller one. They differ when labels tie.
        stamp = pc.add(pc.multiply(confirmed.filter(keep), 2), label.filter(keep).cast(pa.int64()))
        text = _text(batch.column(_ID).combine_chunks()).filter(keep).cast(pa.string())
        named = pc.is_valid(text)
        if not pc.all(named).as_py():
            nameless.append(stamp.filter(pc.invert(named)).to_numpy(zero_copy_only=False))
            text, stamp = text.filter(named), stamp.filter(named)
        ids.append(text)
        stamps.append(stamp.to_numpy(zero_copy_only=False))
        hashes.append(_hash_ids(text, seed))
    tied = 0
    if nameless:  # rows without an id form one group, as in Spark (they never match a prediction)
        rest = np.concatenate(nameless)
        tied += int((rest.max() & 1) != 1 - ((rest ^ 1).max() & 1))
    if not ids:
        return _Truth(np.zeros(0, np.uint64), pa.array([], pa.string()), np.zeros(0, np.int8), tied)
    every = pa.chunked_array(ids, type=pa.string())
    del ids
    hash_all = np.concatenate(hashes)
    del hashes
    order = np.argsort(hash_all, kind="stable")
    hash_all = hash_all[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = hash_all[1:] != hash_all[:-1]
    repeats = np.flatnonzero(~first)
    _check_equal(every, order[repeats - 1], order[repeats])
    del repeats
    starts = np.flatnonzero(first)
    del first
    unique_hashes = hash_all[starts]
    del hash_all
    stamp = np.concatenate(stamps)
    del stamps
    stamp = stamp[order]
    pick = order[starts]
    del order
    high = np.maximum.reduceat(stamp, starts)
    np.bitwise_xor(stamp, 1, out=stamp)
    low = np.maximum.reduceat(stamp, starts)
    del stamp, starts
    label = high & 1
    tie = label != 1 - (low & 1)
    del high, low
    unique = every.take(pa.array(pick)).combine_chunks()
    return _Truth(unique_hashes, unique, np.where(tie, -1, label).astype(np.int8), tied + int(tie.sum()))


def _stratum_codes(batch: pa.Table, spec: AttributeSpec, book: _Codebook) -> np.ndarray:
    """Codes of the stratum labels of ``spec`` for the rows of ``batch``."""
    name = spec.source_column
    if name not in batch.column_names:
        return np.full(batch.num_rows, book.code(MISSING_LABEL), dtype=np.int64)
    raw = batch.column(name).combine_chunks()
    if not spec.is_numeric:
        return book.encode(raw, missing=MISSING_LABEL)
    assert spec.bins is not None
    value = _numbers(raw).to_numpy(zero_copy_only=False)
    if name == "age":
        value = np.where(value > 89, AGE_TOP_CODE, value)
    labels = spec.labels()
    lookup = np.asarray([book.code(label) for label in labels] + [book.code(MISSING_LABEL)], dtype=np.int64)
    index = np.searchsorted(np.asarray(spec.bins, dtype=float), value, side="right")
    index[np.isnan(value)] = len(labels)
    return lookup[index]


class _Cells:
    """Global integer ids of cells: (model version code, stratum label codes..., call)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[int, ...], int] = {}
        self.keys: list[tuple[int, ...]] = []

    def encode(self, codes: Sequence[np.ndarray], radices: Sequence[int]) -> np.ndarray:
        """The cell id (int32) of each row, from per-key codes below ``radices``."""
        if float(np.prod([float(r) for r in radices])) < 2.0 ** 62:
            packed = np.zeros(len(codes[0]), dtype=np.int64)
            for code, radix in zip(codes, radices, strict=True):
                packed = packed * radix + code
            encoded = pc.dictionary_encode(pa.array(packed))
            combos = []
            for value in encoded.dictionary.to_pylist():
                digits = []
                for radix in reversed(radices):
                    value, digit = divmod(value, radix)
                    digits.append(digit)
                combos.append(tuple(reversed(digits)))
            indices = encoded.indices.to_numpy(zero_copy_only=False)
        else:  # pragma: no cover - only with astronomically many distinct labels in one batch
            unique, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
            combos, indices = [tuple(int(v) for v in row) for row in unique], inverse.reshape(-1)
        lookup = np.asarray([self._id(combo) for combo in combos], dtype=np.int32)
        return lookup[indices]

    def _id(self, combo: tuple[int, ...]) -> int:
        found = self.ids.get(combo)
        if found is None:
            found = self.ids[combo] = len(self.keys)
            self.keys.append(combo)
        return found


def arrow_confusion_cells(
    *, predictions: Sequence[str], ground_truth: Sequence[str], device_id: str, start: datetime, end: datetime,
    cutoff: datetime, attributes: Sequence[AttributeSpec],
) -> ArrowCells:
    """Cell table of ``device_id`` over ``[start, end)`` with labels confirmed by ``cutoff``.

    ``predictions`` and ``ground_truth`` are Parquet files, folders, local globs or URIs that
    ``pyarrow.dataset`` opens. The result has the columns ``model_version``, one per attribute, and
    ``tp, fp, fn, tn``, sorted like the SQL path's, equal to :func:`spark_confusion_cells`'s.
    """
    for when in (start, end, cutoff):
        if when.tzinfo is None:
            raise InputError("period bounds and the cut-off need a UTC offset")
    for seed in range(1, 6):
        try:
            return _count(predictions, ground_truth, device_id, _micros(start), _micros(end), _micros(cutoff),
                          attributes, seed)
        except _Collision:  # pragma: no cover - about 3 in a million runs at 10 million ids
            continue
    raise InputError("prediction ids keep colliding under five hash seeds; please report this")  # pragma: no cover


def _count(predictions: Sequence[str], ground_truth: Sequence[str], device_id: str, low: int, high: int,
           last: int, attributes: Sequence[AttributeSpec], seed: int) -> ArrowCells:
    """One counting pass with hash ``seed`` (see :func:`arrow_confusion_cells`)."""
    categorical = [spec.source_column for spec in attributes if not spec.is_numeric]
    pred_sets = _datasets(predictions, "prediction", ["model_version", *categorical])
    truth_sets = _datasets(ground_truth, "ground-truth")
    truth = _latest_labels(truth_sets, device_id, last, seed)
    tied = truth.tied

    versions = _Codebook()
    books = {spec.name: _Codebook() for spec in attributes}
    cells = _Cells()
    keys = ["model_version", *books]
    required = {_ID, "device_id", "model_version", "predicted_at", "score", "predicted_label"}
    read = invalid = 0
    rows = _Rows(truth, seed)
    for batch in _batches(pred_sets, required, [s.source_column for s in attributes], device_id, "prediction"):
        read += batch.num_rows
        ids = _text(batch.column(_ID).combine_chunks())
        version = batch.column("model_version").combine_chunks()
        at = _timestamps(batch.column("predicted_at").combine_chunks(), "predicted_at")
        score = _numbers(batch.column("score").combine_chunks())
        call = _binary(batch.column("predicted_label").combine_chunks())
        valid = pc.and_(pc.and_(pc.and_(pc.is_valid(ids), pc.is_valid(version)), pc.and_(pc.is_valid(at),
                        pc.is_valid(call))), pc.and_(pc.and_(pc.invert(pc.is_nan(score)),
                        pc.greater_equal(score, 0.0)), pc.less_equal(score, 1.0)))
        valid = pc.fill_null(valid, False)
        invalid += batch.num_rows - int(pc.sum(valid).as_py() or 0)
        keep = pc.and_(valid, pc.fill_null(pc.and_(pc.and_(pc.greater_equal(at, low), pc.less(at, high)),
                                                   pc.less_equal(at, last)), False))
        if not pc.any(keep).as_py():
            continue
        kept = batch.filter(keep)
        codes = [versions.encode(version.filter(keep))]
        codes += [_stratum_codes(kept, spec, books[spec.name]) for spec in attributes]
        codes.append(call.filter(keep).to_numpy(zero_copy_only=False).astype(np.int64))
        radices = [len(versions.values), *(len(book.values) for book in books.values()), 2]
        # + 0.0 turns -0.0 into 0.0: Spark's grouping treats them as one value.
        rows.add(ids.filter(keep).cast(pa.string()), cells.encode(codes, radices),
                 at.filter(keep).to_numpy(zero_copy_only=False),
                 pc.add(score.filter(keep), 0.0).to_numpy(zero_copy_only=False))
        del batch, kept, codes

    excluded: dict[str, int] = {}
    if invalid:
        excluded["invalid_prediction_row"] = invalid
    if tied:
        excluded["ambiguous_ground_truth"] = tied
    key, cell, counted, conflicts = rows.resolve()
    del rows
    if conflicts:
        excluded["conflicting_prediction_id"] = conflicts
    label = truth.labels[key].astype(np.int64)
    settled = label >= 0
    counts = np.bincount(cell[settled].astype(np.int64) * 2 + label[settled], minlength=2 * len(cells.keys))
    # (model version, labels) -> [tp, fp, fn, tn], for the cells with at least one labelled prediction.
    table: dict[tuple[str, ...], list[int]] = {}
    for index, combo in enumerate(cells.keys):
        negative, positive = int(counts[2 * index]), int(counts[2 * index + 1])
        if negative + positive == 0:
            continue
        group = (versions.values[combo[0]], *(book.values[c] for book, c in zip(books.values(), combo[1:-1],
                                                                                strict=True)))
        entry = table.setdefault(group, [0, 0, 0, 0])
        if combo[-1] == 1:
            entry[0] += positive
            entry[1] += negative
        else:
            entry[2] += positive
            entry[3] += negative
    frame = pd.DataFrame([(*group, *entry) for group, entry in table.items()], columns=[*keys, *COUNT_COLUMNS])
    frame = frame.astype({c: object for c in keys} | {c: "int64" for c in COUNT_COLUMNS})
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    return ArrowCells(cells=frame, predictions_read=read, predictions_counted=counted, excluded=excluded)


_UNSEEN, _SEEN, _CONFLICTING = 0, 1, 2


class _Rows:
    """The counted prediction rows: one content (cell id, time, score) per prediction id.

    A labelled id keeps, at its position among the labelled ids, the content of its first row and a state
    (unseen, seen, conflicting): 21 bytes per labelled id, whatever the number of rows; each later row is
    compared with it as it comes. Rows of unlabelled ids are kept (the text and hash of the id, cell id,
    time and score) and grouped by hash at the end (the strings of equal hashes are compared).
    """

    def __init__(self, truth: _Truth, seed: int) -> None:
        self.truth, self.seed = truth, seed
        size = len(truth.hashes)
        self.state = np.zeros(size, dtype=np.int8)
        self.cell = np.empty(size, dtype=np.int32)
        self.at = np.empty(size, dtype=np.int64)
        self.score = np.empty(size, dtype=np.float64)
        self.unlabelled: list[pa.Array] = []
        self.unlabelled_hashes: list[np.ndarray] = []
        self.unlabelled_columns: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, ids: pa.Array, cell: np.ndarray, at: np.ndarray, score: np.ndarray) -> None:
        """Add one batch's rows (id, cell id, time in microseconds, score)."""
        hashes = _hash_ids(ids, self.seed)
        rows, keys = self.truth.find(ids, hashes)
        self._merge(keys, cell[rows], at[rows], score[rows])
        if len(rows) < len(ids):
            missing = np.ones(len(ids), dtype=bool)
            missing[rows] = False
            self.unlabelled.append(ids.filter(pa.array(missing)))
            self.unlabelled_hashes.append(hashes[missing])
            self.unlabelled_columns.append((cell[missing], at[missing], score[missing]))

    def _merge(self, keys: np.ndarray, cell: np.ndarray, at: np.ndarray, score: np.ndarray) -> None:
        """Fold rows ordered by key into the labelled ids' contents and states."""
        if not len(keys):
            return
        starts, bad = _first_contents(keys, cell, at, score)
        keys, cell, at, score = keys[starts], cell[starts], at[starts], score[starts]
        state = self.state[keys]
        seen = state == _SEEN
        known = keys[seen]
        bad[seen] |= (self.cell[known] != cell[seen]) | (self.at[known] != at[seen]) | (self.score[known] != score[seen])
        new = keys[state == _UNSEEN]
        unseen = state == _UNSEEN
        self.cell[new], self.at[new], self.score[new] = cell[unseen], at[unseen], score[unseen]
        self.state[keys] = np.where(bad | (state == _CONFLICTING), _CONFLICTING, _SEEN)

    def _unlabelled_counts(self) -> tuple[int, int]:
        """Unlabelled ids counted (one content) and conflicting (several); exact."""
        hashes = np.concatenate(self.unlabelled_hashes)
        order = np.argsort(hashes)
        hashes = hashes[order]
        repeats = np.flatnonzero(hashes[1:] == hashes[:-1]) + 1
        _check_equal(pa.concat_arrays(self.unlabelled), order[repeats - 1], order[repeats])
        cell, at, score = (np.concatenate([c[i] for c in self.unlabelled_columns])[order] for i in (0, 1, 2))
        _, bad = _first_contents(hashes, cell, at, score)
        conflicts = int(np.count_nonzero(bad))
        return len(bad) - conflicts, conflicts

    def resolve(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """The labelled ids counted (their positions among the labelled ids) and their cell ids, the number of
        ids counted and the number of conflicting ids: ids repeated with identical (cell, time, score) count
        once, ids repeated with different contents not at all."""
        keys = np.flatnonzero(self.state == _SEEN)
        counted, conflicts = len(keys), int(np.count_nonzero(self.state == _CONFLICTING))
        if self.unlabelled:
            more, others = self._unlabelled_counts()
            counted, conflicts = counted + more, conflicts + others
        return keys, self.cell[keys], counted, conflicts


def _first_contents(keys: np.ndarray, cell: np.ndarray, at: np.ndarray, score: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """For rows ordered by key: the first row of each key, and whether a later row of that key has other
    contents (cell, time, score)."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    if len(starts) == len(keys):
        return starts, np.zeros(len(starts), dtype=bool)
    lead = starts[np.cumsum(first) - 1]
    differs = (cell != cell[lead]) | (at != at[lead]) | (score != score[lead])
    return starts, np.logical_or.reduceat(differs, starts)


def describe(result: ArrowCells) -> dict[str, Any]:
    """Plain-data summary of an Arrow pass for JSON output."""
    return {"predictions_read": result.predictions_read, "predictions_counted": result.predictions_counted,
            "excluded": dict(sorted(result.excluded.items())), "cells": len(result.cells)}
