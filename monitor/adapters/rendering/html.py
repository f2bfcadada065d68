"""Render report documents to HTML with the Jinja2 templates in ``reports/``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

from monitor.errors import ReportError

__all__ = ["TEMPLATE_DIR", "render_html"]

TEMPLATE_DIR = Path(__file__).resolve().parents[3] / "reports"


def _pct(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f}%"


def _pvalue(value: float | None) -> str:
    if value is None:
        return "–"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:,.{digits}f}"


def _environment(template_dir: Path) -> Environment:
    env = Environment(loader=FileSystemLoader(str(template_dir)), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pct"] = _pct
    env.filters["pvalue"] = _pvalue
    env.filters["num"] = _num
    return env


def render_html(context: dict[str, Any], *, template: str = "report.html.j2",
                template_dir: Path = TEMPLATE_DIR) -> str:
    """Render ``template`` with ``context``; template problems become :class:`ReportError`."""
    try:
        return _environment(template_dir).get_template(template).render(**context)
    except TemplateError as exc:
        raise ReportError(f"cannot render {template}: {exc}") from exc
