"""The bounded, stratified sample behind the Evidently drift report: how many rows each stratum gives.

The Evidently report (``docs/drift-evidently.md``) runs on per-row data, which at scale is millions of
rows a window. Each side (the period, its reference window) is therefore sampled to at most
:data:`SAMPLE_ROWS` rows, stratified by site with proportional allocation
(:func:`proportional_allocation`: every site keeps its share of the window, rounded by the largest
remainder, so the sample's site mix is the window's to within one row per site). Which rows of a site
are taken is a simple random sample without replacement drawn by NumPy's seeded generator
(:func:`sample_ranks`, :data:`SAMPLE_SEED`) among the site's rows in row-id order, so the same stored
data gives the same sample. The deciding drift statistics are computed on every row, never on this sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, TypeVar

import numpy as np

from monitor.domain.strata import AttributeSpec

__all__ = ["SAMPLE_ROWS", "SAMPLE_SEED", "feature_name", "proportional_allocation", "sample_ranks"]

#: The most rows drawn from each side (the period; its reference window).
SAMPLE_ROWS: Final[int] = 5_000
#: Seed of the generator that draws each stratum's rows (a fixed seed: the same data, the same sample).
SAMPLE_SEED: Final[int] = 20_250_101

K = TypeVar("K")


def feature_name(spec: AttributeSpec) -> str:
    """The drift feature of a stratification attribute: its raw column when numeric, its name when
    categorical (the ``feature`` of the analysis document's ``data_drift`` rows)."""
    return spec.source_column if spec.is_numeric else spec.name


def proportional_allocation(sizes: Mapping[K, int], total: int) -> dict[K, int]:
    """Rows to draw from each stratum: ``total`` split in proportion to ``sizes`` (largest remainder).

    Each stratum gets ``floor(total * size / N)`` rows, and the rows left over go one each to the strata
    with the largest remainders (ties: the larger stratum, then the key's order as given). When
    ``total`` is at least ``N`` every row is taken. The result sums to ``min(total, N)`` and never
    exceeds a stratum's size.

    Examples
    --------
    >>> proportional_allocation({"a": 600, "b": 300, "c": 100}, 100)
    {'a': 60, 'b': 30, 'c': 10}
    >>> proportional_allocation({"a": 5, "b": 5, "c": 1}, 4)
    {'a': 2, 'b': 2, 'c': 0}
    >>> proportional_allocation({"a": 3, "b": 2}, 10)
    {'a': 3, 'b': 2}
    """
    if total < 0 or any(n < 0 for n in sizes.values()):
        raise ValueError("sizes and total must be non-negative")
    population = sum(sizes.values())
    if total >= population:
        return dict(sizes)
    quotas = {key: total * n / population for key, n in sizes.items()}
    out = {key: math.floor(q) for key, q in quotas.items()}
    order = list(sizes)
    left = total - sum(out.values())
    by_remainder = sorted(order, key=lambda k: (-(quotas[k] - out[k]), -sizes[k], order.index(k)))
    for key in by_remainder[:left]:
        out[key] += 1
    return out


def sample_ranks(sizes: Mapping[K, int], quotas: Mapping[K, int], seed: int) -> dict[K, list[int]]:
    """The rows to take from each stratum: 1-based ranks among its ``sizes[key]`` rows (in the order the
    caller ranks them), ``quotas[key]`` of them drawn without replacement by ``numpy.random.default_rng(seed)``,
    strata in the order of ``sizes``; a stratum whose quota is its size is taken whole. Sorted ranks.

    Examples
    --------
    >>> ranks = sample_ranks({"a": 10, "b": 3}, {"a": 3, "b": 3}, seed=1)
    >>> len(ranks["a"]), ranks["b"], all(1 <= r <= 10 for r in ranks["a"])
    (3, [1, 2, 3], True)
    >>> ranks == sample_ranks({"a": 10, "b": 3}, {"a": 3, "b": 3}, seed=1)  # seeded: reproducible
    True
    """
    rng = np.random.default_rng(seed)
    out: dict[K, list[int]] = {}
    for key, size in sizes.items():
        quota = int(quotas.get(key, 0))
        if quota >= size:
            out[key] = list(range(1, size + 1))
        elif quota > 0:
            out[key] = sorted(int(r) + 1 for r in rng.choice(size, size=quota, replace=False))
    return out
