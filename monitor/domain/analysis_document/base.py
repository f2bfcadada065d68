"""The base models of the analysis document's parts, and the cross-field rules some of them declare.

A part of the document is a frozen pydantic model validated in strict mode (no coercion: a JSON value is
accepted as JSON Schema would accept it, and comes back unchanged). :class:`Part` accepts properties it does not
declare (the output schemas allow additive fields, schemas/README.md "Versioning") and keeps them;
:class:`ClosedPart` refuses them (``additionalProperties: false`` in the schema).

A rule that spans fields (``when status is inconclusive, additional_needed is an integer``) is declared once as
:class:`When` in the model's ``__conditions__``: the model checks it after validating the fields, and its JSON
Schema carries it as ``if``/``then`` under ``allOf``, so that the schema file and the model decide alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["LEVEL_MATCHES_STRATUM", "STRATUM_MATCHES_LEVEL", "ClosedPart", "Entries", "Equals", "NotEquals", "NotNull",
           "Null", "Part", "When"]


@dataclass(frozen=True)
class NotNull:
    """The field has a value (``json_type`` is what the schema then requires: number, integer or string)."""

    json_type: str

    def holds(self, value: Any) -> bool:
        return value is not None

    def schema(self) -> dict[str, Any]:
        return {"type": self.json_type}

    def __str__(self) -> str:
        return "is not null"


@dataclass(frozen=True)
class Null:
    """The field is null."""

    def holds(self, value: Any) -> bool:
        return value is None

    def schema(self) -> dict[str, Any]:
        return {"type": "null"}

    def __str__(self) -> str:
        return "is null"


@dataclass(frozen=True)
class Equals:
    """The field equals ``value``."""

    value: Any

    def holds(self, value: Any) -> bool:
        return bool(value == self.value)

    def schema(self) -> dict[str, Any]:
        return {"const": self.value}

    def __str__(self) -> str:
        return f"is {self.value!r}"


@dataclass(frozen=True)
class NotEquals:
    """The field differs from ``value``."""

    value: Any

    def holds(self, value: Any) -> bool:
        return bool(value != self.value)

    def schema(self) -> dict[str, Any]:
        return {"not": {"const": self.value}}

    def __str__(self) -> str:
        return f"is not {self.value!r}"


@dataclass(frozen=True)
class Entries:
    """The field (an object) has exactly ``count`` entries."""

    count: int

    def holds(self, value: Any) -> bool:
        return len(value) == self.count

    def schema(self) -> dict[str, Any]:
        return {"minProperties": self.count, "maxProperties": self.count}

    def __str__(self) -> str:
        return f"has {self.count} entries"


Check = NotNull | Null | Equals | NotEquals | Entries


@dataclass(frozen=True)
class When:
    """If each field of ``condition`` has one of its listed values, each field of ``then`` passes its check."""

    condition: Mapping[str, tuple[Any, ...]]
    then: Mapping[str, Check]

    def violations(self, values: Mapping[str, Any]) -> list[str]:
        """What ``values`` (a part's fields) break of the rule: one statement per failed check."""
        for name, allowed in self.condition.items():
            if values[name] not in allowed:
                return []
        failed = [name for name, check in self.then.items() if not check.holds(values[name])]
        if not failed:
            return []
        where = " and ".join(f"{name} is {' or '.join(map(repr, allowed))}" for name, allowed in self.condition.items())
        return [f"{name} {self.then[name]} when {where}" for name in failed]

    def schema(self) -> dict[str, Any]:
        """The rule as JSON Schema ``if``/``then``."""
        condition = {name: {"const": values[0]} if len(values) == 1 else {"enum": list(values)}
                     for name, values in self.condition.items()}
        return {"if": {"properties": condition, "required": list(self.condition)},
                "then": {"properties": {name: check.schema() for name, check in self.then.items()}}}


#: Level 0 is the overall stratum with no assignments; level 1 has one assignment, level 2 two, level 3 three.
LEVEL_MATCHES_STRATUM = (
    When({"level": (0,)}, {"stratum": Equals("overall"), "attributes": Entries(0)}),
    When({"level": (1,)}, {"attributes": Entries(1)}),
    When({"level": (2,)}, {"attributes": Entries(2)}),
    When({"level": (3,)}, {"attributes": Entries(3)}),
)
#: Level 0 is the overall stratum; levels 1, 2 and 3 are any other stratum key.
STRATUM_MATCHES_LEVEL = (
    When({"level": (0,)}, {"stratum": Equals("overall")}),
    When({"level": (1, 2, 3)}, {"stratum": NotEquals("overall")}),
)


def _schema_extra(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The part's cross-field rules, in its JSON Schema."""
    conditions: tuple[When, ...] = getattr(model, "__conditions__", ())
    if conditions:
        schema["allOf"] = [rule.schema() for rule in conditions]


class Part(BaseModel):
    """A part of the analysis document: strict, frozen, keeping properties it does not declare."""

    model_config = ConfigDict(strict=True, frozen=True, extra="allow", serialize_by_alias=True,
                              json_schema_extra=_schema_extra)

    #: Cross-field rules of the part (checked after the fields; written into its JSON Schema).
    __conditions__: ClassVar[tuple[When, ...]] = ()

    @model_validator(mode="after")
    def _check_conditions(self) -> Part:
        values = self.__dict__
        problems = [problem for rule in self.__conditions__ for problem in rule.violations(values)]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ClosedPart(Part):
    """A part whose schema forbids undeclared properties."""

    model_config = ConfigDict(extra="forbid")
