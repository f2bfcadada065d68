"""The analysis sections of the device kinds beyond one binary call (issue 17): one module per section, found
here by name (the analysis-side registry, as :mod:`monitor.service.report_sections` is the report's).

A module of this package defines ``SECTION = DeviceSection(key, build)``:

- ``key``: the section's field in the analysis document (:class:`monitor.domain.analysis_document.document.
  AnalysisDocument`), whose typed model lives in ``monitor/domain/analysis_document/``;
- ``build(unit, config, reads)``: reads the window's data (``reads``: a :class:`~monitor.service.window.WindowReads`,
  the window with what the analysis has read of it once) through the unit of work's repositories and computes
  the section with the pure core, or returns ``None`` when the section does not apply (the device does not
  declare it, or the logs carry none of its inputs). It returns a :class:`SectionResult`: the section's content
  (a pydantic model, or a list of them) and the :class:`~monitor.domain.metric_claims.MetricEvidence` of the
  metrics it measured, which the analysis decides against ``claims.metrics``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from monitor.domain.device import DeviceConfig
from monitor.domain.metric_claims import MetricEvidence
from monitor.service.window import WindowReads

__all__ = ["DeviceSection", "DeviceSections", "SectionResult", "build_device_sections", "registry"]


@dataclass(frozen=True)
class SectionResult:
    """A section's content and the evidence of the metrics it measured."""

    content: BaseModel | Sequence[BaseModel] | None  #: None: the section gives evidence only (no document key)
    evidence: list[MetricEvidence] = field(default_factory=list)

    def as_json(self) -> Any:
        """The content as the analysis document stores it."""
        if self.content is None:
            return None
        if isinstance(self.content, BaseModel):
            return self.content.model_dump(mode="json", by_alias=True, exclude_unset=False)
        return [item.model_dump(mode="json", by_alias=True) for item in self.content]


@dataclass(frozen=True)
class DeviceSection:
    """One analysis section of a device kind: its document key and how it is built."""

    key: str
    build: Callable[[Any, DeviceConfig, WindowReads], SectionResult | None]


@dataclass
class DeviceSections:
    """The device-kind sections of one analysis: each section's JSON content by key, and every evidence."""

    sections: dict[str, Any] = field(default_factory=dict)
    evidence: list[MetricEvidence] = field(default_factory=list)


@lru_cache(maxsize=1)
def registry() -> tuple[DeviceSection, ...]:
    """Every module's ``SECTION`` in this package, ordered by key."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(module.SECTION)
    return tuple(sorted(found, key=lambda s: s.key))


def build_device_sections(unit: Any, config: DeviceConfig, reads: WindowReads) -> DeviceSections:
    """Every registered section that applies to ``config`` over the window of ``reads``."""
    out = DeviceSections()
    for section in registry():
        result = section.build(unit, config, reads)
        if result is None:
            continue
        if result.content is not None:
            out.sections[section.key] = result.as_json()
        out.evidence.extend(result.evidence)
    return out
