"""Seeded synthetic deployment of a chest-radiograph pneumothorax triage device read on four X-ray vendors, with
the reading radiologist's call logged (``human_label``), and one planted drop of the AI's accuracy (and so of its
agreement with the reader) on one vendor.

The device ``cxr-ptx`` (model ``2.1.0``) calls each radiograph pneumothorax (``predicted_label`` 1) or not; the
radiologist's own call is logged beside it. The device claims accuracy 0.974 and overall agreement with the reader
0.95 on every vendor (``examples/multi-scanner-agreement.yaml``, claims.metrics). In the stable state the AI is
right with probability :attr:`MultiScannerScenario.ai_accuracy` and the reader with ``reader_accuracy``,
independently given the truth. With ``planted`` set, the AI is right with ``planted_ai_accuracy`` on the
:data:`PLANTED_VENDOR` (a new detector whose images the model was not trained on): its accuracy and its agreement
with the reader drop there, the problem the claims are there to catch. ``planted=False`` is the null variant.

Every case gets an adjudicated reference (``label``) 5 to 20 days after the radiograph. Random numbers are drawn in
a fixed order whatever the parameters (common random numbers): planting changes only the AI calls of the planted
vendor's radiographs whose draw falls between the two accuracies.

Examples
--------
>>> data = generate(MultiScannerScenario(cases=400))
>>> len(data.predictions), sorted(data.predictions["scanner_vendor"].unique().tolist())
(400, ['Canon', 'Fujifilm', 'GE', 'Philips'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .lung_nodule import GROUND_TRUTH_COLUMNS, DemoData

__all__ = ["DEVICE_ID", "PLANTED_VENDOR", "PREDICTION_COLUMNS", "QUARTER", "TIMEZONE", "VENDORS",
           "MultiScannerScenario", "generate"]

DEVICE_ID = "cxr-ptx"
TIMEZONE = "Asia/Shanghai"
QUARTER = "2025Q3"
#: vendor -> (share of the radiographs, site)
VENDORS: dict[str, tuple[float, str]] = {"GE": (0.30, "hospital-01"), "Philips": (0.25, "hospital-02"),
                                         "Canon": (0.20, "hospital-03"), "Fujifilm": (0.25, "hospital-04")}
PLANTED_VENDOR = "Fujifilm"
PREDICTION_COLUMNS: tuple[str, ...] = ("prediction_id", "device_id", "model_version", "site_id", "predicted_at",
                                       "score", "predicted_label", "human_label", "patient_id", "age", "sex",
                                       "scanner_vendor")
_QUARTER_START, _QUARTER_DAYS = pd.Timestamp("2025-07-01"), 92


@dataclass(frozen=True)
class MultiScannerScenario:
    """Parameters of one synthetic quarter (:data:`QUARTER`) of the deployment.

    ``ai_accuracy`` / ``reader_accuracy``: probability that the AI / the reader is right; ``planted``: the AI is
    right with ``planted_ai_accuracy`` on :data:`PLANTED_VENDOR` (``False``: the null variant).
    """

    seed: int = 20257
    device_id: str = DEVICE_ID
    model_version: str = "2.1.0"
    cases: int = 4_000
    prevalence: float = 0.25
    ai_accuracy: float = 0.988
    reader_accuracy: float = 0.985
    planted: bool = True
    planted_ai_accuracy: float = 0.90

    def __post_init__(self) -> None:
        if int(self.cases) < 1 or int(self.seed) < 0:
            raise ValueError("cases must be positive and seed non-negative")
        for name in ("prevalence", "ai_accuracy", "reader_accuracy", "planted_ai_accuracy"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}")


def generate(scenario: MultiScannerScenario) -> DemoData:
    """The quarter's prediction log (every radiograph read by a radiologist) and its ground truth."""
    n = int(scenario.cases)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(scenario.seed))))
    u_time, u_vendor, u_age, u_sex, u_label, u_ai, u_reader, u_score, u_delay = (rng.random(n) for _ in range(9))
    start = _QUARTER_START.tz_localize(TIMEZONE)
    order = np.argsort(u_time, kind="stable")
    predicted_at = start + pd.to_timedelta(np.floor(u_time[order] * _QUARTER_DAYS * 86_400), unit="s")
    shares = np.cumsum([share for share, _ in VENDORS.values()])
    vendor = np.asarray(list(VENDORS), dtype=object)[np.minimum(np.searchsorted(shares, u_vendor, side="right"),
                                                                len(VENDORS) - 1)]
    site = np.array([VENDORS[v][1] for v in vendor], dtype=object)
    label = u_label < scenario.prevalence
    ai_right = u_ai < np.where((vendor == PLANTED_VENDOR) & scenario.planted, scenario.planted_ai_accuracy,
                               scenario.ai_accuracy)
    call = np.where(ai_right, label, ~label)
    reader = np.where(u_reader < scenario.reader_accuracy, label, ~label)
    score = np.round(np.where(call, 0.5 + 0.5 * u_score, 0.4999 * u_score), 4)
    ids = np.array([f"PTX-{i:06d}" for i in range(1, n + 1)], dtype=object)
    predictions = pd.DataFrame({
        "prediction_id": ids, "device_id": scenario.device_id, "model_version": scenario.model_version,
        "site_id": site, "predicted_at": predicted_at, "score": score, "predicted_label": call.astype(np.int64),
        "human_label": reader.astype(np.int64),
        "patient_id": np.array([f"PTP{i:07d}" for i in range(1, n + 1)], dtype=object),
        "age": np.round(18 + 70 * u_age).astype(np.int64), "sex": np.where(u_sex < 0.5, "F", "M").astype(object),
        "scanner_vendor": vendor,
    }, columns=list(PREDICTION_COLUMNS))
    confirmed = predicted_at + pd.to_timedelta(np.round(5 + 15 * u_delay, 3), unit="D")
    ground_truth = pd.DataFrame({
        "prediction_id": ids, "device_id": scenario.device_id, "label": label.astype(np.int64),
        "confirmed_at": confirmed.floor("s"), "source": "adjudication",
        "intervention_at": pd.DatetimeIndex([pd.NaT] * n).tz_localize(TIMEZONE),
    }, columns=list(GROUND_TRUTH_COLUMNS))
    return DemoData(predictions=predictions, ground_truth=ground_truth, pending=0)
