"""samd-monitor: regulatory performance monitoring and drift analytics for AI medical devices."""

__version__ = "0.1.0"
__all__ = ["__version__"]
