"""The report's content sections: one module per section, found here by name (the content-side registry).

A section module of this package defines ``SECTION = ContentSection(key, model, build)``:

- ``key``: its name in the report content (``content["sections"][key]``) and in the template
  (``content.sections.<key>``, used by its block ``reports/sections/NNN_<name>.html.j2``);
- ``model``: the pydantic model of its content (``schemas/report.schema.json`` is generated from it);
- ``build(source)``: computes it from stored data only (:class:`ReportSource`), or ``None`` when the
  section does not apply (a roll-up, a device without that log).

So a new section is one module here (its pure rules in ``monitor/domain/``), one template block and its
catalog entries (``reports/sections/<name>.<language>.yaml``): docs/sections.md shows one.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from monitor.domain.device import DeviceConfig
from monitor.domain.periods import Period
from monitor.errors import ReportError
from monitor.service.read_models import Run

__all__ = ["ContentSection", "ReportSource", "build_sections", "registry"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ReportSource:
    """What a section may read: the unit of work (its read side: ``unit.queries`` and the repositories), the
    device configuration the analysis used, the analysis document, the stored run, the period, and the core
    content already built (identity, provenance, usage, tickets, change log)."""

    unit: Any
    config: DeviceConfig
    document: dict[str, Any]
    run: Run
    period: Period
    core: dict[str, Any]
    rollup: bool


@dataclass(frozen=True)
class ContentSection(Generic[M]):
    """One section of the report content: its key, its model and how it is built."""

    key: str
    model: type[M]
    build: Callable[[ReportSource], M | None]


@lru_cache(maxsize=1)
def registry() -> tuple[ContentSection[Any], ...]:
    """Every section module's ``SECTION``, in the order of the module names; a key used twice is an error."""
    sections: list[ContentSection[Any]] = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        section = getattr(importlib.import_module(f"{__name__}.{module}"), "SECTION", None)
        if not isinstance(section, ContentSection):
            raise ReportError(f"report section module {module} defines no SECTION = ContentSection(...)")
        if any(s.key == section.key for s in sections):
            raise ReportError(f"report section key {section.key!r} is defined twice")
        sections.append(section)
    return tuple(sections)


def build_sections(source: ReportSource) -> dict[str, Any]:
    """The content of every registered section (``None`` for one that does not apply), as JSON values."""
    built: dict[str, Any] = {}
    for section in registry():
        value = section.build(source)
        if value is not None and not isinstance(value, section.model):
            raise ReportError(f"report section {section.key} built a {type(value).__name__}, "
                              f"not a {section.model.__name__}")
        built[section.key] = None if value is None else value.model_dump(mode="json")
    return built
