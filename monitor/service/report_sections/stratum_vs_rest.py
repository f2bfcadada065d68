"""Section ``stratum_vs_rest`` (block 125_stratum_vs_rest): each stratum's difference from the rest of the
population as the analysis computed it (monitor.domain.report_limitations.stratum_vs_rest); None for a roll-up."""

from __future__ import annotations

from monitor.domain.report_limitations import StratumVsRest, stratum_vs_rest
from monitor.service.report_sections import ContentSection, ReportSource


def build(source: ReportSource) -> StratumVsRest | None:
    return stratum_vs_rest(source.document)


SECTION = ContentSection("stratum_vs_rest", StratumVsRest, build)
