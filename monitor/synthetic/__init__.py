"""Seeded synthetic deployments for demos, tests and benchmarks.

:mod:`monitor.synthetic.lung_nodule` simulates a lung-nodule CT detector at five
Chinese hospitals over five quarters, with a sensitivity drop planted in the
``age >= 75`` x ``severe emphysema`` intersection in the last quarter.
:func:`add_clinical_context` optionally adds studies, clinician calls, segmentation volumes,
AI failures and a shadow model version (the default demo does not).

Examples
--------
>>> from monitor.synthetic import DemoScenario, generate
>>> data = generate(DemoScenario(scale=0.001))
>>> len(data.predictions), data.predictions["device_id"].iat[0]
(1500, 'lung-nodule-ct')
"""

from __future__ import annotations

from .clinical import STUDY_UID_ROOT, add_clinical_context
from .export import format_timestamps, write_csv, write_parquet
from .lung_nodule import (
    DEFAULT_CASES_PER_QUARTER,
    DRIFT_TARGET,
    GROUND_TRUTH_COLUMNS,
    OPERATING_THRESHOLD,
    PREDICTION_COLUMNS,
    STRATUM_ATTRIBUTES,
    TIMEZONE,
    DemoData,
    DemoScenario,
    drift_target_mask,
    generate,
    iter_prediction_chunks,
    quarter_bounds,
)
from .population import (
    AGE_BAND_EDGES,
    AGE_BAND_LABELS,
    EMPHYSEMA_GRADES,
    SCANNER_VENDORS,
    SENSITIVITY,
    SEXES,
    SITE_IDS,
    SPECIFICITY,
    age_band,
)

__all__ = [
    "AGE_BAND_EDGES",
    "AGE_BAND_LABELS",
    "DEFAULT_CASES_PER_QUARTER",
    "DRIFT_TARGET",
    "EMPHYSEMA_GRADES",
    "GROUND_TRUTH_COLUMNS",
    "OPERATING_THRESHOLD",
    "PREDICTION_COLUMNS",
    "SCANNER_VENDORS",
    "SENSITIVITY",
    "SEXES",
    "SITE_IDS",
    "SPECIFICITY",
    "STUDY_UID_ROOT",
    "STRATUM_ATTRIBUTES",
    "TIMEZONE",
    "DemoData",
    "DemoScenario",
    "add_clinical_context",
    "age_band",
    "drift_target_mask",
    "format_timestamps",
    "generate",
    "iter_prediction_chunks",
    "quarter_bounds",
    "write_csv",
    "write_parquet",
]
