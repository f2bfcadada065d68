"""Population, site and performance tables of the lung-nodule demo deployment.

The tables are chosen so that the drift target (``age >= 75`` and
``emphysema_grade == "severe"``) is *large in absolute terms* (enough confirmed
positives per quarter to detect a 5-point sensitivity drop) while being a
*small part* (about 21-22 % of the positives) of every other monitored stratum
that contains it (``age_band >=75``, ``emphysema_grade severe`` and their
pairs with sex or scanner vendor). Both requirements pull in opposite
directions; the tables below reach them with about 300,000 cases per quarter:

* severe emphysema is about equally common (11.5-12.5 %) in every age band from
  45 on, while mild and moderate emphysema keep rising with age, so severe
  cases are spread over ages and ``>=75`` is a minority of them;
* prevalence rises with age and emphysema grade, with the largest age effect
  in the non-severe grades (so the ``>=75`` band has many positives outside
  the target) and a flatter age gradient among severe cases (risk saturates);
* men have more mild and moderate emphysema than women but the same severe
  rate, so splitting by sex does not concentrate the target.

:func:`expected_cell_rates` evaluates the tables analytically; the unit tests
check the generated data against it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AGE_BAND_EDGES",
    "AGE_BAND_LABELS",
    "AGE_BAND_PROBS",
    "AGE_MAX",
    "AGE_MIN",
    "EMPHYSEMA_BY_BAND",
    "EMPHYSEMA_GRADES",
    "MALE_FRACTION",
    "PREVALENCE",
    "SCANNER_VENDORS",
    "SENSITIVITY",
    "SEX_PREVALENCE_ODDS",
    "SEXES",
    "SITE_IDS",
    "SITE_VENDOR_MIX",
    "SITE_WEIGHTS",
    "SPECIFICITY",
    "age_band",
    "age_band_index",
    "expected_cell_rates",
    "prevalence_table",
]

AGE_MIN = 30
AGE_MAX = 95
AGE_BAND_EDGES: tuple[int, ...] = (45, 65, 75)
"""Left-closed age-band edges: ``<45``, ``45-64``, ``65-74``, ``>=75``."""
AGE_BAND_LABELS: tuple[str, ...] = ("<45", "45-64", "65-74", ">=75")
AGE_BAND_PROBS = np.array([0.08, 0.50, 0.24, 0.18])
"""Case mix by age band (at the reference date, see :mod:`.lung_nodule`)."""

SEXES: tuple[str, ...] = ("F", "M")
MALE_FRACTION = 0.55

EMPHYSEMA_GRADES: tuple[str, ...] = ("none", "mild", "moderate", "severe")
EMPHYSEMA_BY_BAND = np.array(
    [
        # women: none, mild, moderate, severe
        [
            [0.880, 0.070, 0.030, 0.020],
            [0.650, 0.140, 0.095, 0.115],
            [0.550, 0.180, 0.150, 0.120],
            [0.365, 0.280, 0.230, 0.125],
        ],
        # men: more mild and moderate emphysema, the same severe rate
        [
            [0.850, 0.090, 0.040, 0.020],
            [0.590, 0.170, 0.125, 0.115],
            [0.475, 0.220, 0.185, 0.120],
            [0.270, 0.335, 0.270, 0.125],
        ],
    ]
)
"""P(emphysema grade | sex, age band), indexed ``[sex, band, grade]``."""

PREVALENCE = np.array(
    [
        # none,  mild,  moderate, severe
        [0.009, 0.015, 0.024, 0.100],  # <45
        [0.020, 0.033, 0.056, 0.265],  # 45-64
        [0.044, 0.072, 0.116, 0.282],  # 65-74
        [0.100, 0.160, 0.240, 0.287],  # >=75
    ]
)
"""P(actionable nodule | age band, emphysema grade), indexed ``[band, grade]``."""
SEX_PREVALENCE_ODDS = np.array([0.93, 1.06])
"""Odds multipliers of prevalence for women and men."""

SITE_IDS: tuple[str, ...] = ("site-bj-01", "site-sh-02", "site-gz-03", "site-cd-04", "site-wh-05")
SITE_WEIGHTS = np.array([0.26, 0.24, 0.20, 0.16, 0.14])
SCANNER_VENDORS: tuple[str, ...] = ("GE", "Siemens", "Philips", "United Imaging")
SITE_VENDOR_MIX = np.array(
    [
        [0.40, 0.30, 0.10, 0.20],  # Beijing
        [0.15, 0.40, 0.30, 0.15],  # Shanghai
        [0.30, 0.15, 0.35, 0.20],  # Guangzhou
        [0.10, 0.20, 0.15, 0.55],  # Chengdu
        [0.25, 0.20, 0.15, 0.40],  # Wuhan
    ]
)
"""P(scanner vendor | site), indexed ``[site, vendor]``."""

SENSITIVITY = 0.91
"""Stable-state sensitivity at the operating threshold, the same in every stratum."""
SPECIFICITY = 0.86
"""Stable-state specificity at the operating threshold, the same in every stratum."""


def age_band_index(age: np.ndarray) -> np.ndarray:
    """Index (0-3) of the age band of each age in years.

    Parameters
    ----------
    age : numpy.ndarray
        Ages in years.

    Returns
    -------
    numpy.ndarray
        ``int8`` band indices into :data:`AGE_BAND_LABELS`.
    """
    return np.searchsorted(np.asarray(AGE_BAND_EDGES), np.asarray(age), side="right").astype(np.int8)


def age_band(age: np.ndarray) -> np.ndarray:
    """Age-band labels (``<45``, ``45-64``, ``65-74``, ``>=75``) of ages in years.

    Parameters
    ----------
    age : numpy.ndarray
        Ages in years.

    Returns
    -------
    numpy.ndarray
        Object array of band labels.
    """
    return np.asarray(AGE_BAND_LABELS, dtype=object)[age_band_index(age)]


def _odds_scale(p: np.ndarray, odds: np.ndarray | float) -> np.ndarray:
    o = p / (1.0 - p) * odds
    return o / (1.0 + o)


def prevalence_table() -> np.ndarray:
    """Prevalence by ``[sex, band, grade]`` including the sex odds multipliers.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(2, 4, 4)``.
    """
    return np.stack([_odds_scale(PREVALENCE, SEX_PREVALENCE_ODDS[s]) for s in range(len(SEXES))])


def expected_cell_rates(band_probs: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Expected case and positive fractions per ``(sex, band, grade)`` cell.

    Parameters
    ----------
    band_probs : numpy.ndarray, optional
        Age-band mix to use (default :data:`AGE_BAND_PROBS`).

    Returns
    -------
    dict
        ``cases`` (fraction of all cases in each cell) and ``positives``
        (fraction of all cases that are positives of the cell), both of shape
        ``(2, 4, 4)`` indexed ``[sex, band, grade]``.
    """
    bands = AGE_BAND_PROBS if band_probs is None else np.asarray(band_probs, dtype=float)
    sex = np.array([1.0 - MALE_FRACTION, MALE_FRACTION])
    cases = sex[:, None, None] * bands[None, :, None] * EMPHYSEMA_BY_BAND
    return {"cases": cases, "positives": cases * prevalence_table()}
