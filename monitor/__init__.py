"""samd-monitor: regulatory performance monitoring and drift analytics for AI medical devices.

The Python API (docs/python-api.md), for notebooks and scripts::

    import monitor
    result = monitor.analyze("device.yaml", predictions, ground_truth)   # pandas / Arrow frames, in memory
    result.findings, result.to_frame(), result.to_html(), result.save("sqlite:///monitor.sqlite")

``import monitor`` stays cheap (the command line imports it for ``__version__``): the names of
``__all__`` are loaded on first use (PEP 562), from :mod:`monitor.entrypoints.python_api` and
:mod:`monitor.errors`.
"""

from __future__ import annotations

import importlib as _importlib
from typing import Any as _Any

__version__ = "0.1.0"

#: Public name -> the module defining it, imported on first access.
_LAZY = {
    "AnalysisResult": "monitor.entrypoints.python_api",
    "DeviceConfig": "monitor.entrypoints.python_api",
    "Finding": "monitor.entrypoints.python_api",
    "Monitor": "monitor.entrypoints.python_api",
    "analyze": "monitor.entrypoints.python_api",
    "analyze_stored": "monitor.entrypoints.python_api",
    "load_analysis": "monitor.entrypoints.python_api",
    "load_config": "monitor.entrypoints.python_api",
    "MonitorError": "monitor.errors",
    "ConfigError": "monitor.errors",
    "InputError": "monitor.errors",
    "NotFoundError": "monitor.errors",
    "StorageError": "monitor.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> _Any:
    """Load a public name of the API on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'monitor' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later accesses do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(n for n in globals() if n.startswith("__"))})
