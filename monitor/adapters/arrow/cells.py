"""Confusion-cell tables computed in process by Apache Arrow from Parquet logs in a data lake.

The same cell table as :mod:`monitor.adapters.spark.cells` (model version x stratum labels ->
``tp, fp, fn, tn``), with the same counting rules (docs/arrow-engine.md), computed with
``pyarrow.dataset`` and ``pyarrow.compute`` plus numpy on one machine, without a JVM. Both logs are
read a few row groups at a time and processed in batches; what stays in memory is compact:

1. ground truth: per kept row its id, a 64-bit hash of the id (SplitMix64 over its bytes) and
   ``2 * confirmed_at + label`` (whose maximum per id is the latest time with its label; the maximum of
   its ``XOR 1`` tells whether another label ties at that time); the rows are sorted by hash once and
   reduced to one label per id. Kept, in hash order: the top 32 bits of each id's hash, its label and the
   id itself, without the ids' common prefix and, when all have the same length, without offsets
   (:class:`_IdStore`); about 12 bytes an id for ids like ``LN-0000000123``;
2. predictions: each batch is validated, cut to the period and reduced to a cell id (model version,
   stratum labels, call), a time and a score; its ids are looked up among the labelled ids by hash. A
   labelled id keeps the content (cell id, time, score) of its first row and a state, 21 bytes an id;
   later rows of the id are compared with it as they come. Rows of ids without a label are kept (id,
   hash, content) and grouped by hash at the end;
3. the labelled ids counted once are tallied per cell with ``numpy.bincount``.

Hashes only narrow the search: wherever two ids are matched by hash their strings are compared, so
results are exact; a collision between different ids grouped by hash (ground-truth rows, unlabelled
predictions; about 3 in a million runs at 10 million ids) is detected and the pass is redone with
another seed.

Rules, the Spark engine's (see its module docstring):

* a prediction row counts when its required fields are present and valid (score in [0, 1],
  predicted label 0/1, a timestamp), it belongs to the device, and
  ``period start <= predicted_at < period end`` and ``predicted_at <= cutoff``;
* prediction ids repeated with identical content count once; ids repeated with different content are
  excluded and reported (``conflicting_prediction_id``);
* a ground-truth row counts when its label is 0/1 and ``confirmed_at <= cutoff``; the label confirmed
  last wins; ties with different labels are excluded and reported (``ambiguous_ground_truth``);
* stratum labels follow the domain's rule (:class:`monitor.domain.binning.BinningRule`: left-closed
  bins, missing or empty values ``unknown``, ages of 90 and above top-coded to 90), its numeric part
  evaluated by the rule's own numpy kernel (:meth:`~monitor.domain.binning.BinningRule.bin_index`).

Reference: Apache Arrow columnar format and compute functions (https://arrow.apache.org/docs/,
"Columnar Format" specification); the counting rules are samd-monitor's own (docs/spark.md).
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from monitor.domain.strata import AttributeSpec
from monitor.errors import InputError

__all__ = ["ArrowCellEngine", "ArrowCells", "arrow_confusion_cells", "describe"]

COUNT_COLUMNS = ("tp", "fp", "fn", "tn")
#: Rows per batch processed; row groups are read in runs of at least this many rows.
BATCH_ROWS = 250_000
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
    """The device's rows, ``required`` and present ``optional`` columns, in batches of up to ``BATCH_ROWS`` rows.

    Row groups are read one run at a time (up to ``BATCH_ROWS`` rows, at least one row group), skipping those
    whose statistics rule the device out: pyarrow's dataset scanner decodes row groups ahead of a slow
    consumer (hundreds of MB, whatever its read-ahead settings), so memory stays bounded here by the larger
    of a row group and a batch.
    """
    for dataset in datasets:
        names = set(dataset.schema.names)
        missing = sorted(required - names)
        if missing:
            raise InputError(f"{what} logs lack required column(s): {', '.join(missing)}")
        columns = sorted(required) + [c for c in dict.fromkeys(optional) if c in names and c not in required]
        device = ds.field("device_id")
        if not pa.types.is_string(dataset.schema.field("device_id").type):
            device = device.cast(pa.string())
        wanted = device == device_id
        for fragment in dataset.get_fragments(filter=wanted):
            groups = fragment.subset(filter=wanted, schema=dataset.schema).row_groups
            run: list[int] = []
            rows = 0
            for index, group in enumerate(groups):
                run.append(group.id)
                rows += group.num_rows
                if rows < BATCH_ROWS and index + 1 < len(groups):
                    continue
                table = fragment.subset(row_group_ids=run).to_table(schema=dataset.schema, columns=columns,
                                                                   batch_size=BATCH_ROWS)
                run, rows = [], 0
                for start in range(0, table.num_rows, BATCH_ROWS):
                    batch = table.slice(start, BATCH_ROWS)
                    mine = pc.equal(_text(batch.column("device_id").combine_chunks()), device_id)
                    if not pc.all(mine).as_py():
                        batch = batch.filter(mine)
                    if batch.num_rows:
                        yield batch
                    del batch, mine
                    pa.default_memory_pool().release_unused()
                del table
                pa.default_memory_pool().release_unused()


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
    """64-bit hashes of the (non-null) strings ``ids``: the length, then each 8-byte word of the bytes (the last
    zero-padded), folded with SplitMix64. Equal strings hash equal, whatever else is in their batch; callers
    compare the strings of equal hashes."""
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
        for k in range(words):  # each id folds its own words only: its hash must not depend on its batch
            within = short_lengths > 8 * k
            mixed = _mix(hashes ^ folded[:, k])
            hashes = mixed if within.all() else np.where(within, mixed, hashes)
    for i in np.flatnonzero(long):  # rare: fold every 8-byte word of a long id
        value = hashes[i]
        chunk = bytes(data[offsets[i]:offsets[i + 1]])
        for k in range(0, len(chunk), 8):
            word = np.frombuffer(chunk[k:k + 8].ljust(8, b"\0"), dtype="<u8")
            value = _mix(np.asarray([value ^ word[0]], dtype=np.uint64))[0]
        hashes[i] = value
    return hashes


def _check_equal(ids: pa.Array, left: np.ndarray, right: np.ndarray) -> None:
    """Raise :class:`_Collision` unless ``ids[left] == ids[right]`` row by row (same hash, same id)."""
    if len(left) and not pc.all(pc.equal(ids.take(pa.array(left)), ids.take(pa.array(right)))).as_py():
        raise _Collision


_HIGH = 1 if sys.byteorder == "little" else 0  # the uint32 holding the top half of a uint64


def _offsets(ids: pa.Array) -> np.ndarray:
    """The ``len(ids) + 1`` int32 offsets of a string or binary array (a view)."""
    return np.frombuffer(ids.buffers()[1], dtype=np.int32)[ids.offset:ids.offset + len(ids) + 1]


def _bytes(ids: pa.Array, width: int) -> np.ndarray:
    """The bytes of the strings ``ids``, each ``width`` bytes long, as a ``(len(ids), width)`` matrix (a view)."""
    if not len(ids) or not width:
        return np.zeros((len(ids), width), dtype=np.uint8)
    start = int(_offsets(ids)[0])
    return np.frombuffer(ids.buffers()[2], dtype=np.uint8, count=len(ids) * width, offset=start).reshape(-1, width)


class _IdStore:
    """Distinct ids, compactly: their longest common prefix once, then the rest of each id, as fixed-size NumPy
    items when all have the same length (no offsets), else as an Arrow string array. Comparisons are exact."""

    def __init__(self, prefix: str, rest: np.ndarray | pa.Array) -> None:
        self.prefix, self.skip, self.rest = prefix, len(prefix.encode()), rest

    def __len__(self) -> int:
        return len(self.rest)

    @classmethod
    def gather(cls, chunks: list[pa.Array], pick: np.ndarray, rows: np.ndarray, groups: np.ndarray) -> _IdStore:
        """The ids at rows ``pick`` of ``chunks`` (read as one array), emptying ``chunks``; raises
        :class:`_Collision` unless the id at each of ``rows`` is the one at ``pick[groups]``."""
        chunks[:] = [chunk for chunk in chunks if len(chunk)]
        bounds = [pc.min_max(chunk).as_py() for chunk in chunks]
        prefix = os.path.commonprefix([min(b["min"] for b in bounds), max(b["max"] for b in bounds)])
        skip = len(prefix.encode())
        lengths = [pc.min_max(pc.binary_length(chunk)).as_py() for chunk in chunks]
        shortest, longest = min(b["min"] for b in lengths), max(b["max"] for b in lengths)
        rest: np.ndarray | pa.Array
        if shortest == longest > skip:
            every = np.empty(sum(len(chunk) for chunk in chunks), dtype=np.dtype((np.void, longest - skip)))
            matrix = every.view(np.uint8).reshape(len(every), -1)
            start = 0
            chunks.reverse()
            while chunks:
                chunk = chunks.pop()
                matrix[start:start + len(chunk)] = _bytes(chunk, longest)[:, skip:]
                start += len(chunk)
            rest = np.take(every, pick)
            same = bool((np.take(every, rows) == np.take(rest, groups)).all())
        else:
            joined = pa.concat_arrays(chunks)
            chunks.clear()
            every = pc.utf8_slice_codeunits(joined, len(prefix))  # binary_slice overflows (apache/arrow#51222)
            del joined
            rest = every.take(pa.array(pick))
            same = not len(rows) or pc.all(pc.equal(every.take(pa.array(rows)),
                                                    rest.take(pa.array(groups)))).as_py()
        if not same:
            raise _Collision
        return cls(prefix, rest)

    def equal(self, positions: np.ndarray, ids: pa.Array, rows: np.ndarray) -> np.ndarray:
        """Whether each of the strings ``ids[rows]`` is the stored id at the same place of ``positions``."""
        if not isinstance(self.rest, np.ndarray):
            text = ids.take(pa.array(rows))
            same = pc.and_(pc.starts_with(text, pattern=self.prefix),
                           pc.equal(pc.utf8_slice_codeunits(text, len(self.prefix)),
                                    self.rest.take(pa.array(positions))))
            return same.to_numpy(zero_copy_only=False)
        size = self.skip + self.rest.dtype.itemsize
        offsets = _offsets(ids)
        fits = np.flatnonzero(offsets[rows + 1] - offsets[rows] == size)
        found = np.zeros(len(rows), dtype=bool)
        if len(fits):
            if offsets[-1] - offsets[0] == size * len(ids) and (np.diff(offsets) == size).all():  # one view
                whole = _bytes(ids, size).view(np.dtype((np.void, size))).reshape(-1)
                got = np.take(whole, rows[fits]).view(np.uint8).reshape(len(fits), size)
            else:
                got = _bytes(ids.take(pa.array(rows[fits])), size)
            found[fits] = ((got[:, :self.skip] == np.frombuffer(self.prefix.encode(), dtype=np.uint8)).all(axis=1)
                           & (np.ascontiguousarray(got[:, self.skip:]).view(self.rest.dtype).reshape(-1)
                              == np.take(self.rest, positions[fits])))
        return found


@dataclass
class _Truth:
    """The latest labels, in the order of the ids' 64-bit hashes: the top 32 bits of each hash, the ids, their
    labels (-1: tied) and the count of tied ids."""

    tops: np.ndarray
    ids: _IdStore
    labels: np.ndarray
    tied: int

    def find(self, ids: pa.Array, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``ids`` that are labelled and their positions among the labelled ids, equal positions next
        to each other; exact (the strings of ids whose hashes share their top 32 bits are compared)."""
        order = np.argsort(hashes)  # sorted queries walk the sorted hashes (and ids) in one direction
        top = hashes.view(np.uint32)[_HIGH::2][order]
        first = np.searchsorted(self.tops, top)
        # Ids sharing the top bits sit side by side: a row is compared with each in turn until one is equal.
        found: list[np.ndarray] = []
        keys: list[np.ndarray] = []
        pending = np.arange(len(order))
        turn = 0
        while True:
            candidate = first[pending] + turn
            inside = candidate < len(self.tops)
            pending, candidate = pending[inside], candidate[inside]
            match = self.tops[candidate] == top[pending]
            pending, candidate = pending[match], candidate[match]
            if not len(pending):
                break
            equal = self.ids.equal(candidate, ids, order[pending])
            found.append(pending[equal])
            keys.append(candidate[equal])
            pending = pending[~equal]
            turn += 1
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        # The rows of one id are next to each other in hash order and are all found in the same turn.
        return order[np.concatenate(found)], np.concatenate(keys)


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
        text = _text(batch.column(_ID).combine_chunks()).filter(keep)  # a copy: slices hold the whole row group
        del batch, label, confirmed, keep  # before the next batch is read
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
        return _Truth(np.zeros(0, np.uint32), _IdStore("", pa.array([], pa.string())), np.zeros(0, np.int8), tied)
    # Sort the rows by hash once; keep the top bits of each distinct hash, one row and the reduced label of each
    # group, then the ids of those rows. Each temporary is dropped as soon as it is used (at 10 million rows
    # every array is 10 to 80 MB); rows are numbered in int64 and groups selected by mask, as NumPy would copy
    # int32 indices to int64 on every use.
    stamp = _concatenate(stamps)
    pa.default_memory_pool().release_unused()  # the stamps were Arrow buffers
    hash_all = _concatenate(hashes)
    order = np.argsort(hash_all)
    hash_all.sort()
    first = np.ones(len(order), dtype=bool)
    first[1:] = hash_all[1:] != hash_all[:-1]
    tops = hash_all.view(np.uint32)[_HIGH::2][first]  # their top 32 bits
    del hash_all
    repeats = np.flatnonzero(~first)  # the k-th repeat at i belongs to the (i - k - 1)-th group
    rows, groups = order[repeats], repeats - np.arange(1, len(repeats) + 1)
    del repeats
    stamp = stamp[order]
    pick = order[first]
    del order
    starts = np.flatnonzero(first)
    del first
    labels = _low_bits(np.maximum.reduceat(stamp, starts))
    np.bitwise_xor(stamp, 1, out=stamp)
    tie = labels != 1 - _low_bits(np.maximum.reduceat(stamp, starts))
    del stamp, starts
    labels[tie] = -1
    store = _IdStore.gather(ids, pick, rows, groups)
    pa.default_memory_pool().release_unused()
    return _Truth(tops, store, labels, tied + int(tie.sum()))


def _concatenate(parts: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate(parts)``, emptying ``parts`` as it copies them (no second copy of the whole)."""
    joined = np.empty(sum(len(part) for part in parts), dtype=parts[0].dtype)
    start = 0
    parts.reverse()
    while parts:
        part = parts.pop()
        joined[start:start + len(part)] = part
        start += len(part)
    return joined


def _where(keep: pa.Array, *values: Any) -> list[Any]:
    """``values`` (arrays or tables) filtered by ``keep``; as they are, without a copy, if it keeps every row."""
    if pc.all(keep).as_py():
        return list(values)
    return [value.filter(keep) for value in values]


def _low_bits(values: np.ndarray) -> np.ndarray:
    """``values & 1`` as int8, computed in place."""
    np.bitwise_and(values, 1, out=values)
    return values.astype(np.int8)


def _stratum_codes(batch: pa.Table, spec: AttributeSpec, book: _Codebook) -> np.ndarray:
    """Codes of the stratum labels of ``spec`` for the rows of ``batch``: the domain's rule
    (:class:`monitor.domain.binning.BinningRule`) on Arrow values, read as numbers by :func:`_numbers`
    (Spark's ``cast('double')``) and binned by the rule's own numpy kernel, or dictionary-encoded as text
    with nulls and empty text ``unknown``."""
    rule = spec.rule
    if rule.column not in batch.column_names:
        return np.full(batch.num_rows, book.code(rule.missing), dtype=np.int64)
    raw = batch.column(rule.column).combine_chunks()
    if not rule.is_numeric:
        return book.encode(raw, missing=rule.missing)
    lookup = np.asarray([book.code(label) for label in (*rule.labels, rule.missing)], dtype=np.int64)
    return lookup[rule.bin_index(_numbers(raw).to_numpy(zero_copy_only=False))]


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
    stratum_columns = list(dict.fromkeys(spec.source_column for spec in attributes))
    for batch in _batches(pred_sets, required, stratum_columns, device_id, "prediction"):
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
        if pc.any(keep).as_py():
            strata = batch.select([c for c in stratum_columns if c in batch.column_names])
            ids, version, at, score, call, strata = _where(keep, ids, version, at, score, call, strata)
            codes = [versions.encode(version)]
            codes += [_stratum_codes(strata, spec, books[spec.name]) for spec in attributes]
            codes.append(call.to_numpy(zero_copy_only=False).astype(np.int64))
            radices = [len(versions.values), *(len(book.values) for book in books.values()), 2]
            # + 0.0 turns -0.0 into 0.0: Spark's grouping treats them as one value.
            rows.add(ids, cells.encode(codes, radices), at.to_numpy(zero_copy_only=False),
                     pc.add(score, 0.0).to_numpy(zero_copy_only=False))
            del strata, codes
        # Slices hold their whole row group: let go of this one before the next is read.
        del batch, ids, version, at, score, call, valid, keep

    excluded: dict[str, int] = {}
    if invalid:
        excluded["invalid_prediction_row"] = invalid
    if tied:
        excluded["ambiguous_ground_truth"] = tied
    counts, counted, conflicts = rows.resolve(len(cells.keys))
    del rows
    if conflicts:
        excluded["conflicting_prediction_id"] = conflicts
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
        size = len(truth.tops)
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
        """Fold rows (equal keys next to each other) into the labelled ids' contents and states."""
        if not len(keys):
            return
        starts, bad = _first_contents(keys, cell, at, score)
        keys, cell, at, score = keys[starts], cell[starts], at[starts], score[starts]
        state = self.state[keys]
        seen = state == _SEEN
        known = keys[seen]
        bad[seen] |= ((self.cell[known] != cell[seen]) | (self.at[known] != at[seen])
                      | (self.score[known] != score[seen]))
        unseen = state == _UNSEEN
        new = keys[unseen]
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

    def resolve(self, cells: int) -> tuple[np.ndarray, int, int]:
        """Counts of the settled labelled ids per ``2 * cell id + label`` (``2 * cells`` of them), the number of
        ids counted and the number of conflicting ids: ids repeated with identical (cell, time, score) count
        once, ids repeated with different contents not at all."""
        counts = np.zeros(2 * cells, dtype=np.int64)
        for start in range(0, len(self.state), BATCH_ROWS):  # in slices: no temporary as long as the ids'
            part = slice(start, start + BATCH_ROWS)
            label = self.truth.labels[part]
            use = (self.state[part] == _SEEN) & (label >= 0)
            counts += np.bincount(self.cell[part][use].astype(np.int64) * 2 + label[use], minlength=2 * cells)
        counted = int(np.count_nonzero(self.state == _SEEN))
        conflicts = int(np.count_nonzero(self.state == _CONFLICTING))
        if self.unlabelled:
            more, others = self._unlabelled_counts()
            counted, conflicts = counted + more, conflicts + others
        return counts, counted, conflicts


def _first_contents(keys: np.ndarray, cell: np.ndarray, at: np.ndarray, score: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """For rows with equal keys next to each other: the first row of each key, and whether another row of that
    key has other contents (cell, time, score)."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    if len(starts) == len(keys):
        return starts, np.zeros(len(starts), dtype=bool)
    lead = starts[np.cumsum(first) - 1]
    differs = (cell != cell[lead]) | (at != at[lead]) | (score != score[lead])
    return starts, np.logical_or.reduceat(differs, starts)


@dataclass
class ArrowCellEngine:
    """The Arrow engine behind the cell-engine port (:class:`monitor.service.cell_engines.CellEngine`).

    ``last`` keeps the bookkeeping (rows read, counted, excluded) of the latest count.
    """

    predictions: Sequence[str]
    ground_truth: Sequence[str]
    last: ArrowCells | None = None

    def confusion_cells(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                        attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """The lake's cells (see :func:`arrow_confusion_cells`)."""
        self.last = arrow_confusion_cells(predictions=self.predictions, ground_truth=self.ground_truth,
                                          device_id=device_id, start=start, end=end, cutoff=cutoff,
                                          attributes=attributes)
        return self.last.cells


def describe(result: ArrowCells) -> dict[str, Any]:
    """Plain-data summary of an Arrow pass for JSON output."""
    return {"predictions_read": result.predictions_read, "predictions_counted": result.predictions_counted,
            "excluded": dict(sorted(result.excluded.items())), "cells": len(result.cells)}
