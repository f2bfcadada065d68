"""Message catalogs of the report (``reports/i18n/<language>.yaml``, merged with each section's own
``reports/sections/<name>.<language>.yaml`` and each other document's ``reports/i18n/<document>.<language>.yaml``)
and the ``t`` function the template uses.

A catalog is a nested YAML mapping; keys are addressed with dots (``control.report_id``). The report
is written in ``en``, ``zh-CN`` or ``both``: in ``both`` every message shows the English text followed
by the Chinese text (a second line in the same cell or paragraph), so that a table stays one table.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from markupsafe import Markup, escape

from monitor.errors import ReportError
from monitor.resources import resource_path

__all__ = ["CATALOG_DIR", "LANGUAGES", "REPORT_LANGUAGES", "catalog", "flatten", "inline_translator", "translator"]

CATALOG_DIR = resource_path("reports", "i18n")
SECTION_DIR = resource_path("reports", "sections")
LANGUAGES = ("en", "zh-CN")
REPORT_LANGUAGES = ("en", "zh-CN", "both")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted keys of a nested mapping of messages."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, name + ".")
        else:
            flat[name] = str(value)
    return flat


def _read(path: Path) -> dict[str, str]:
    try:
        return flatten(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError) as exc:
        raise ReportError(f"cannot read message catalog {path}: {exc}") from exc


@lru_cache(maxsize=8)
def catalog(language: str, directory: Path = CATALOG_DIR, sections: Path = SECTION_DIR) -> dict[str, str]:
    """The flattened catalog of ``language``: the main catalog, the other documents' catalogs
    (``<document>.<language>.yaml`` beside it) and the sections' catalogs; a key defined twice is an error."""
    if language not in LANGUAGES:
        raise ReportError(f"unknown report language {language!r}: use {', '.join(REPORT_LANGUAGES)}")
    merged = _read(directory / f"{language}.yaml")
    parts = sorted(directory.glob(f"*.{language}.yaml")) + sorted(sections.glob(f"*.{language}.yaml"))
    for path in parts:
        part = _read(path)
        clash = sorted(set(part) & set(merged))
        if clash:
            raise ReportError(f"message catalog {path} defines {clash[0]!r} again ({len(clash)} key(s) defined twice)")
        merged |= part
    return merged


def _message(language: str, key: str, values: dict[str, Any]) -> str:
    messages = catalog(language)
    if key not in messages:
        raise ReportError(f"message {key!r} is missing from the {language} catalog")
    return messages[key].format(**values) if values else messages[key]


def translator(language: str) -> Callable[..., Markup]:
    """``t(key, **values)``: the escaped message of ``language`` (or both languages) for the template."""
    if language not in REPORT_LANGUAGES:
        raise ReportError(f"unknown report language {language!r}: use {', '.join(REPORT_LANGUAGES)}")

    def t(key: str, **values: Any) -> Markup:
        if language != "both":
            return escape(_message(language, key, values))
        return Markup('{}<span class="zh" lang="zh-CN">{}</span>').format(
            _message("en", key, values), _message("zh-CN", key, values))

    return t


def inline_translator(language: str) -> Callable[..., Markup]:
    """``ti(key, **values)``: like ``t`` but both languages on one line ("en / zh"), for words inside text."""
    t = translator(language)
    if language != "both":
        return t

    def ti(key: str, **values: Any) -> Markup:
        return escape(f"{_message('en', key, values)} / {_message('zh-CN', key, values)}")

    return ti
