"""The Python API of samd-monitor, for notebooks and scripts (re-exported by :mod:`monitor`).

It composes the adapters and services the command line uses, so it sits with the entry points:
configurations validated as ``samd-monitor device add`` validates them, frames validated and analysed as
``ingest`` and ``analyze`` do (on a private in-memory database, nothing stored), stored analyses read
or run from a database, and errors from the one tree of :mod:`monitor.errors`. See docs/python-api.md.
"""

from __future__ import annotations

from monitor.domain.device import DeviceConfig
from monitor.entrypoints.python_api.analysis import Monitor, analyze, analyze_stored, load_analysis
from monitor.entrypoints.python_api.config import load_config
from monitor.entrypoints.python_api.result import AnalysisResult, Finding

__all__ = ["AnalysisResult", "DeviceConfig", "Finding", "Monitor", "analyze", "analyze_stored", "load_analysis",
           "load_config"]
