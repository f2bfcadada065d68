"""Stratification attributes, binning, and stratum definitions.

A stratum is a set of ``attribute = label`` assignments: the empty set is the
whole population ("overall"), one assignment a single stratum, two or three an
intersection (a pair or a triple of attributes, ``strata.intersections``). Numeric attributes are binned with left-closed edges: edges
``[45, 65, 75]`` give ``<45``, ``45-64``, ``65-74``, ``>=75``.

Examples
--------
>>> age = AttributeSpec(name="age_band", column="age", bins=[45, 65, 75])
>>> age.labels()
['<45', '45-64', '65-74', '>=75']
>>> [age.bin_label(v) for v in (30, 45, 74.5, 75, None)]
['<45', '45-64', '65-74', '>=75', 'unknown']
>>> StratumDefinition.of({"age_band": ">=75", "emphysema_grade": "severe"}).key
'age_band=>=75 & emphysema_grade=severe'
>>> triple = StratumDefinition.of({"sex": "F", "age_band": ">=75", "emphysema_grade": "severe"})
>>> triple.key, triple.level
('age_band=>=75 & emphysema_grade=severe & sex=F', 3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.domain.binning import MISSING_LABEL, BinningRule, default_labels

__all__ = ["MISSING_LABEL", "OVERALL_KEY", "AttributeSpec", "StratumDefinition", "assign_labels"]

OVERALL_KEY = "overall"


class AttributeSpec(BaseModel):
    """One stratification attribute: a log column, binned if numeric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="Attribute name used in reports.")
    column: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,62}$",
        description="Prediction-log column (default: the attribute name).",
    )
    bins: list[float] | None = Field(
        default=None, min_length=1, description="Increasing numeric edges; the column is then numeric."
    )
    bin_labels: list[str] | None = Field(default=None, description="Labels of the len(bins)+1 bins.")
    values: list[str] | None = Field(
        default=None, description="Expected categories in report order (others are still reported)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> AttributeSpec:
        if self.bins is not None:
            if any(b >= a for a, b in zip(self.bins[1:], self.bins[:-1], strict=False)) or any(
                not math.isfinite(b) for b in self.bins
            ):
                raise ValueError(f"bins must be finite and strictly increasing, got {self.bins}")
            if self.values is not None:
                raise ValueError("an attribute has either bins (numeric) or values (categorical), not both")
            if self.bin_labels is not None and len(self.bin_labels) != len(self.bins) + 1:
                raise ValueError(
                    f"bin_labels needs {len(self.bins) + 1} labels for {len(self.bins)} edges, "
                    f"got {len(self.bin_labels)}"
                )
        elif self.bin_labels is not None:
            raise ValueError("bin_labels needs bins")
        return self

    @property
    def source_column(self) -> str:
        """The log column the attribute reads."""
        return self.column or self.name

    @property
    def is_numeric(self) -> bool:
        """Whether values are binned numbers."""
        return self.bins is not None

    def labels(self) -> list[str]:
        """Known labels in report order (empty when categories are open-ended)."""
        if self.bins is None:
            return list(self.values or [])
        if self.bin_labels is not None:
            return list(self.bin_labels)
        return default_labels(self.bins)

    @property
    def rule(self) -> BinningRule:
        """The engine-neutral binning rule of this attribute (:mod:`monitor.domain.binning`)."""
        if self.bins is None:
            return BinningRule.categorical(self.name, self.source_column)
        return BinningRule.numeric(self.name, self.source_column, self.bins, self.labels())

    def bin_label(self, value: float | str | None) -> str:
        """The stratum label of one raw value (``unknown`` when missing; ages of 90 and above top-coded)."""
        return self.rule.label(value)


@dataclass(frozen=True, order=True)
class StratumDefinition:
    """A stratum: sorted ``(attribute, label)`` assignments; empty means the whole population."""

    assignments: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, mapping: Mapping[str, str]) -> StratumDefinition:
        """Build from a mapping ``{attribute: label}``."""
        return cls(tuple(sorted((str(k), str(v)) for k, v in mapping.items())))

    @property
    def key(self) -> str:
        """Canonical text form, e.g. ``age_band=>=75 & emphysema_grade=severe``."""
        if not self.assignments:
            return OVERALL_KEY
        return " & ".join(f"{a}={v}" for a, v in self.assignments)

    @property
    def attributes(self) -> tuple[str, ...]:
        """Attribute names, sorted."""
        return tuple(a for a, _ in self.assignments)

    @property
    def level(self) -> int:
        """0 overall, 1 single attribute, 2 pairwise intersection, 3 three-way intersection."""
        return len(self.assignments)

    def as_dict(self) -> dict[str, str]:
        """The assignments as a dict."""
        return dict(self.assignments)

    def is_within(self, where: Mapping[str, str]) -> bool:
        """True when every assignment of ``where`` holds in this stratum."""
        mine = self.as_dict()
        return all(mine.get(k) == v for k, v in where.items())


def assign_labels(frame: pd.DataFrame, attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
    """Stratum labels of each row of a per-case frame, one column per attribute name.

    The vectorised form of :meth:`AttributeSpec.bin_label`: :meth:`BinningRule.evaluate` of each
    attribute's rule (the rule the SQL, Arrow and Spark engines compile): numeric attributes are cut
    into left-closed bins, missing values become ``unknown``.

    Examples
    --------
    >>> import pandas as pd
    >>> specs = [AttributeSpec(name="age_band", column="age", bins=[45, 65, 75]), AttributeSpec(name="sex")]
    >>> assign_labels(pd.DataFrame({"age": [44.9, 75, None], "sex": ["F", None, "M"]}), specs).values.tolist()
    [['<45', 'F'], ['>=75', 'unknown'], ['unknown', 'M']]
    """
    columns = {spec.name: spec.rule.evaluate(frame[spec.source_column]) for spec in attributes}
    return pd.DataFrame(columns, index=frame.index)
