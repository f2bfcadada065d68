"""Agreement of the AI call with the reading clinician's call (``human_label``), per stratum.

From the 2x2 table of the two calls: Cohen's kappa with the Fleiss-Cohen-Everitt (1969) interval,
positive and negative percent agreement of the AI against the clinician (FDA 2007) with the
configured binomial interval; and, among the discordant cases whose ground truth is known, how
often the AI was right and how often the clinician was (exactly one of them is), with McNemar's
exact test of the two counts. Overall and single strata, per model version.

References
----------
Cohen J. Educ Psychol Meas 1960;20:37-46. Fleiss JL, Cohen J, Everitt BS. Psychol Bull
1969;72:323-327. McNemar Q. Psychometrika 1947;12:153-157. FDA CDRH, Statistical Guidance on
Reporting Results from Studies Evaluating Diagnostic Tests, 2007.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.grouping import iter_strata
from monitor.domain.numbers import finite_or_none
from monitor.stats.agreement import cohen_kappa, mcnemar_exact, percent_agreement

__all__ = ["human_ai_agreement_by_stratum"]


def _count(part: pd.DataFrame, mask: pd.Series) -> int:
    return int(part.loc[mask, "n"].sum())


def human_ai_agreement_by_stratum(table: pd.DataFrame, config: DeviceConfig) -> list[dict[str, Any]]:
    """Kappa, PPA/NPA and the discordant cases' accuracy of every overall and single stratum.

    Parameters
    ----------
    table
        Columns ``model_version``, stratum label columns, ``predicted_label`` (AI), ``human_label``,
        ``label`` (ground truth, -1 when pending) and ``n``.
    """
    rules = config.monitoring
    rows: list[dict[str, Any]] = []
    for model_version, stratum, part in iter_strata(table, config, max_level=1):
        ai, human, truth = part["predicted_label"], part["human_label"], part["label"]
        cells = (_count(part, (ai == 1) & (human == 1)), _count(part, (ai == 1) & (human == 0)),
                 _count(part, (ai == 0) & (human == 1)), _count(part, (ai == 0) & (human == 0)))
        kappa = cohen_kappa(*cells, confidence=rules.confidence)
        agree = percent_agreement(*cells, confidence=rules.confidence, method=rules.interval_method)
        known_discordant = (ai != human) & (truth >= 0)
        ai_right = _count(part, known_discordant & (ai == truth))
        human_right = _count(part, known_discordant & (human == truth))
        rows.append({
            "model_version": model_version, "stratum": stratum.key, "level": stratum.level,
            "cases": sum(cells), "both_positive": cells[0], "ai_only_positive": cells[1],
            "human_only_positive": cells[2], "both_negative": cells[3],
            "observed_agreement": finite_or_none(kappa.observed_agreement),
            "kappa": finite_or_none(kappa.kappa), "kappa_se": finite_or_none(kappa.se),
            "kappa_ci_low": finite_or_none(kappa.ci_low), "kappa_ci_high": finite_or_none(kappa.ci_high),
            "ppa": finite_or_none(agree.ppa), "ppa_ci_low": finite_or_none(agree.ppa_ci_low),
            "ppa_ci_high": finite_or_none(agree.ppa_ci_high), "npa": finite_or_none(agree.npa),
            "npa_ci_low": finite_or_none(agree.npa_ci_low), "npa_ci_high": finite_or_none(agree.npa_ci_high),
            "discordant": cells[1] + cells[2], "discordant_with_truth": ai_right + human_right,
            "ai_right": ai_right, "human_right": human_right,
            "mcnemar_p_value": finite_or_none(mcnemar_exact(ai_right, human_right)),
        })
    return rows
