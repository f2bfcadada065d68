"""The breast-MRI generator (monitor.synthetic.breast_mri): seeded, and the planted rise of the flag rate is the
only difference from the null variant (common random numbers)."""

from __future__ import annotations

import pandas as pd

from monitor.synthetic.breast_mri import PLANTED_SITE, BreastMriScenario, generate


def test_same_seed_same_logs_and_the_planted_rise_is_the_only_difference() -> None:
    planted = generate(BreastMriScenario())
    pd.testing.assert_frame_equal(planted.predictions, generate(BreastMriScenario()).predictions)
    null = generate(BreastMriScenario(planted_quarter=None))
    p, n = planted.predictions, null.predictions
    changed = (p["low_confidence"] != n["low_confidence"]).to_numpy()
    assert changed.any() and set(p.loc[changed, "site_id"]) == {PLANTED_SITE}
    assert p.loc[changed, "prediction_id"].str.startswith("BMR-2025Q3-").all()
    assert (p.loc[changed, "low_confidence"] == 1).all()  # the rise only adds flags
    same = ["prediction_id", "site_id", "predicted_at", "age", "scanner_vendor", "field_strength", "breast_density"]
    pd.testing.assert_frame_equal(p[same], n[same])
    in_q3 = p["prediction_id"].str.startswith("BMR-2025Q3-")
    at_site = in_q3 & (p["site_id"] == PLANTED_SITE)
    assert p.loc[at_site, "low_confidence"].mean() > 0.12 > p.loc[in_q3 & ~at_site, "low_confidence"].mean()
    assert ((p["score"] >= 0.5) == (p["predicted_label"] == 1)).all()
