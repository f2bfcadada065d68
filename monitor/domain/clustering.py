"""Patients counted once where it matters: the design effect of every monitored stratum-metric.

A patient seen several times in a period contributes several cases to a stratum, and those cases tend
to agree; the binomial variance of the stratum's proportion then understates its uncertainty. For each
monitored stratum (the whole population, each single attribute, each monitored pair: the strata of
:func:`monitor.domain.evaluation.stratum_counts`) and metric, the cluster-robust variance with patients
as clusters and its design effect are computed (:mod:`monitor.stats.clustered`) from two inputs:

* the period's **confusion cells** (counts per model version and full combination of stratum labels),
  which give the binomial part;
* the **repeated-patient cells**: the confusion counts per patient, model version and full combination
  of labels of the patients with two or more confirmed cases in the window, which give the rest.

A patient whose cases fall in different cells (the age band changed between two scans) contributes, to
each marginal stratum, the cases inside it: a patient's counts are summed over the cells of a stratum
before its terms are taken, so the sums are exact for every stratum the evaluation reports.

The design effects enter the decision rule through :class:`monitor.domain.evidence.Adjustments`
(the effective number of trials is the count over the design effect, truncated at 1).

References
----------
Liang KY, Zeger SL. Biometrika 1986;73:13-22. Rao JNK, Scott AJ. Biometrics 1992;48:577-585.
Obuchowski NA. Statistics in Medicine 1998;17:1495-1507.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.evaluation import stratum_counts
from monitor.domain.evidence import EvidenceKey
from monitor.domain.grouping import monitored_groupings
from monitor.domain.strata import StratumDefinition
from monitor.stats.cells import COUNT_COLUMNS
from monitor.stats.clustered import clustered_variance, repeat_terms
from monitor.stats.metrics import METRIC_NAMES, metric_fraction

__all__ = ["StratumClustering", "design_effects", "stratum_clustering"]

_TERMS = ("a", "b", "c", "e")


@dataclass(frozen=True)
class StratumClustering:
    """The patients of one stratum and the design effect of each metric (``None`` where undefined: no
    trial, one patient, or an estimate of 0 or 1)."""

    model_version: str
    stratum: StratumDefinition
    cases: int
    patients: int
    patients_with_several_cases: int
    design_effects: dict[str, float | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The row of the analysis document's ``clustering`` section."""
        return {"model_version": self.model_version, "stratum": self.stratum.key, "level": self.stratum.level,
                "attributes": self.stratum.as_dict(), "cases": self.cases, "patients": self.patients,
                "patients_with_several_cases": self.patients_with_several_cases,
                "design_effects": dict(self.design_effects)}


def _patient_sums(repeated: pd.DataFrame, grouping: tuple[str, ...]) -> pd.DataFrame:
    """Per model version and stratum of ``grouping``: the :func:`repeat_terms` sums of every metric
    (columns ``<metric>_a`` ...), the extra cases of repeated patients (``extra``: cases minus one per
    patient) and the number of patients with several cases in the stratum (``several``)."""
    keys = ["model_version", *grouping]
    per_patient = repeated.groupby([*keys, "patient"], sort=False, observed=True)[list(COUNT_COLUMNS)].sum()
    counts = [per_patient[c].to_numpy() for c in COUNT_COLUMNS]
    columns: dict[str, np.ndarray] = {}
    for metric in METRIC_NAMES:
        y, n = metric_fraction(metric, *counts)
        terms = repeat_terms(y, n)
        columns |= {f"{metric}_{t}": terms[:, i] for i, t in enumerate(_TERMS)}
    cases = sum(counts)
    columns |= {"extra": np.maximum(cases - 1, 0), "several": (cases >= 2).astype(np.int64)}
    frame = pd.DataFrame(columns, index=per_patient.index).reset_index()
    return frame.groupby(keys, sort=False, observed=True)[list(columns)].sum()


def _sums_by_stratum(repeated: pd.DataFrame, config: DeviceConfig) -> dict[tuple[str, str], pd.Series]:
    """``{(model version, stratum key): sums of _patient_sums}`` over every monitored grouping."""
    found: dict[tuple[str, str], pd.Series] = {}
    if repeated.empty:
        return found
    for grouping in monitored_groupings(config):
        for index, row in _patient_sums(repeated, grouping).iterrows():
            keys = index if isinstance(index, tuple) else (index,)
            stratum = StratumDefinition.of(dict(zip(grouping, keys[1:], strict=True)))
            found[(str(keys[0]), stratum.key)] = row
    return found


def stratum_clustering(cells: pd.DataFrame, repeated: pd.DataFrame, config: DeviceConfig) -> list[StratumClustering]:
    """The clustering of every monitored stratum, in the evaluation's order.

    ``cells``: ``model_version``, one column per attribute, ``tp, fp, fn, tn`` (the confusion cells the
    claims are evaluated on). ``repeated``: the same columns and ``patient`` (any patient number), one
    row per patient and cell, for (at least) every patient with two or more cases; a patient with a single
    case may be included or not, the result is the same. Every case of ``repeated`` must be counted in
    ``cells``.
    """
    names = [a.name for a in config.strata.attributes]
    labels = {"model_version": "category", **{n: "category" for n in names}}  # grouped once per grouping: coded once
    sums = _sums_by_stratum(repeated.astype({k: str for k in labels}).astype(labels), config)
    rows = []
    for sc in stratum_counts(cells, config):
        found = sums.get((sc.model_version, sc.stratum.key))
        deffs: dict[str, float | None] = {}
        for metric in METRIC_NAMES:
            y, n = metric_fraction(metric, sc.tp, sc.fp, sc.fn, sc.tn)
            terms = [0.0 if found is None else float(found[f"{metric}_{t}"]) for t in _TERMS]
            deff = float(clustered_variance(y, n, *terms)[1])
            deffs[metric] = deff if math.isfinite(deff) else None
        cases = sc.tp + sc.fp + sc.fn + sc.tn
        extra, several = (0, 0) if found is None else (int(found["extra"]), int(found["several"]))
        rows.append(StratumClustering(sc.model_version, sc.stratum, cases, cases - extra, several, deffs))
    return rows


def design_effects(rows: list[StratumClustering]) -> dict[EvidenceKey, float]:
    """``{(model version, stratum key, metric): design effect}`` of every defined design effect, for
    :attr:`monitor.domain.evidence.Adjustments.design_effects`."""
    return {(r.model_version, r.stratum.key, metric): deff
            for r in rows for metric, deff in r.design_effects.items() if deff is not None}
