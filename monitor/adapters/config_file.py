"""Read a device configuration YAML file into a validated :class:`DeviceConfig`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from monitor.domain.device import DeviceConfig
from monitor.errors import ConfigError

__all__ = ["MAX_ALIASES", "MAX_CONFIG_BYTES", "load_device_config", "parse_device_config"]

MAX_CONFIG_BYTES = 1_000_000
#: Anchors may be reused, but a handful of aliases can expand to billions of nodes ("billion laughs").
MAX_ALIASES = 64


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The parser's problem and position, without the quoted snippet or quoted tokens of the file (a
    configuration value is never echoed; the line and column find it)."""
    problem = _QUOTED.sub("(value not shown)", str(getattr(exc, "problem", "") or "syntax error"))
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}".replace("\n", " ")


def _field_path(loc: tuple[object, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def parse_device_config(text: str, *, source: str) -> DeviceConfig:
    """Validate YAML ``text`` (safe loading: no tags that build objects; at most :data:`MAX_ALIASES` aliases);
    errors name ``source`` and every offending field."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: configuration is {len(text)} characters, larger than {MAX_CONFIG_BYTES}")
    try:
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
        if aliases > MAX_ALIASES:
            raise ConfigError(f"{source}: {aliases} YAML aliases, more than {MAX_ALIASES} (alias expansion is "
                              "limited to refuse 'billion laughs' documents)")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {_yaml_problem(exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return DeviceConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{_field_path(tuple(err['loc']))}: {message}")
        raise ConfigError(f"{source}: invalid device configuration: " + "; ".join(problems)) from exc


def load_device_config(path: Path) -> DeviceConfig:
    """Load and validate the device configuration file at ``path``."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: configuration file is {size} bytes, larger than {MAX_CONFIG_BYTES}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: configuration file is not UTF-8 text") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration file: {exc.strerror}") from exc
    return parse_device_config(text, source=str(path))
