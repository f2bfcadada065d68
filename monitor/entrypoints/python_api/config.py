"""Device configurations for the Python API: from a YAML file, YAML text or a dict.

A file or YAML text goes through :func:`monitor.adapters.config_file.parse_device_config`, the reading of
``samd-monitor device add`` and ``device validate``; a dict through the same model
(:class:`~monitor.domain.device.DeviceConfig`, every field and cross-field check). Either way a problem is one
:class:`~monitor.errors.ConfigError` naming every offending field (a file's also with its line), never a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

from pydantic import ValidationError

from monitor.adapters.config_file import load_device_config, parse_device_config
from monitor.domain.device import DeviceConfig
from monitor.errors import ConfigError

__all__ = ["ConfigSource", "load_config"]

DICT_SOURCE = "device configuration (dict)"

#: What :func:`load_config` accepts.
ConfigSource = Union[DeviceConfig, Mapping[str, Any], str, "os.PathLike[str]"]


def load_config(source: ConfigSource) -> DeviceConfig:
    """A validated device configuration.

    ``source`` is a path to a YAML file (a :class:`pathlib.Path`, or a ``str`` without a line break),
    YAML text (a ``str`` with at least one line break), a ``dict`` with the file's structure, or a
    :class:`DeviceConfig` (returned as it is). Raises :class:`~monitor.errors.ConfigError`.
    """
    if isinstance(source, DeviceConfig):
        return source
    if isinstance(source, Mapping):
        return _from_mapping(source)
    if isinstance(source, str) and ("\n" in source or "\r" in source):
        return parse_device_config(source, source="device configuration (YAML text)")
    if isinstance(source, (str, os.PathLike)):
        return load_device_config(Path(source).expanduser())
    raise ConfigError(f"device configuration: expected a YAML file path, YAML text or a dict, "
                      f"got {type(source).__name__}")


def _from_mapping(data: Mapping[str, Any]) -> DeviceConfig:
    """Validate a dict with the structure of the YAML file; the errors name every field (there are no lines)."""
    try:
        return DeviceConfig.model_validate(_plain(data))
    except ValidationError as exc:
        problems = [f"{_field_path(err['loc'])}: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()]
        raise ConfigError(f"{DICT_SOURCE}: invalid device configuration: " + "; ".join(problems)) from exc


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int) and not isinstance(item, bool):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _plain(value: Any) -> Any:
    """``value`` with mappings as dicts, tuples as lists and NumPy scalars as Python numbers (YAML-safe)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value
