"""Supply chain: ``pip-audit`` over the dependencies installed in this virtualenv, against the known and
judged findings of ``security/known-vulnerabilities.toml``.

The test fails on a finding that is not listed (or listed without a judgement), on a dependency
pip-audit could not audit (an index that does not serve vulnerability data would otherwise pass
silently: pip-audit then prints "No known vulnerabilities found"), and when pip-audit cannot reach
its service, when ``MONITOR_PIP_AUDIT_REQUIRED=1`` (set it wherever PyPI's vulnerability data is
reachable, e.g. a release pipeline). Without it those two cases are a *skip that names the cause*: the
package index of the build machines answers project pages but not per-version vulnerability data (404 on
``/pypi/NAME/VERSION/json``), so there pip-audit can audit nothing, and a silent pass would be false.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
KNOWN = ROOT / "security" / "known-vulnerabilities.toml"
PIP_AUDIT = Path(sys.executable).parent / "pip-audit"
REQUIRED = os.environ.get("MONITOR_PIP_AUDIT_REQUIRED", "").strip().lower() in ("1", "true", "yes")


def _known() -> dict[tuple[str, str], dict[str, Any]]:
    findings = tomllib.loads(KNOWN.read_text(encoding="utf-8")).get("finding", [])
    for entry in findings:
        missing = {"package", "id", "judgement", "review_by"} - set(entry)
        assert not missing and str(entry["judgement"]).strip(), \
            f"{KNOWN.name}: entry {entry} lacks {missing or 'a judgement'}"
    return {(str(e["package"]).lower(), str(e["id"])): e for e in findings}


def _unlisted(dependencies: list[dict[str, Any]], known: dict[tuple[str, str], Any]) -> list[str]:
    """One line per reported vulnerability whose id and aliases are all absent from ``known``."""
    lines = []
    for dependency in dependencies:
        for vulnerability in dependency.get("vulns", []):
            names = [vulnerability["id"], *vulnerability.get("aliases", [])]
            if not any((dependency["name"].lower(), name) in known for name in names):
                fixed = ", ".join(vulnerability.get("fix_versions") or ["no fix yet"])
                lines.append(f"  {dependency['name']} {dependency['version']}: {' / '.join(names)} (fixed in {fixed})")
    return lines


def _unavailable(message: str) -> None:
    if REQUIRED:
        pytest.fail(f"{message} (MONITOR_PIP_AUDIT_REQUIRED is set)", pytrace=False)
    pytest.skip(f"vulnerability data unreachable, nothing audited: {message}")


def test_every_vulnerability_in_the_dependencies_is_known_and_judged() -> None:
    """pip-audit over the virtualenv: every dependency audited, every finding listed with a judgement."""
    assert PIP_AUDIT.is_file(), "pip-audit is not installed in the virtualenv (it belongs in the test extras)"
    known = _known()
    done = subprocess.run([str(PIP_AUDIT), "--format", "json", "--progress-spinner", "off", "--skip-editable"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        _unavailable(f"pip-audit could not audit the dependencies (exit status {done.returncode}): {last}")
        return
    dependencies = report["dependencies"]
    unaudited = [d for d in dependencies if "skip_reason" in d and "editable" not in d["skip_reason"]]
    if unaudited:
        _unavailable(f"pip-audit could not audit {len(unaudited)} of {len(dependencies)} dependencies, e.g. "
                     f"{unaudited[0]['skip_reason']!r}: the package index did not answer with their vulnerability "
                     "data")
    assert len(dependencies) > 50, "pip-audit saw too few dependencies: is this the project's virtualenv?"
    unknown = _unlisted(dependencies, known)
    assert not unknown, \
        f"pip-audit findings not listed with a judgement in {KNOWN.relative_to(ROOT)}:\n" + "\n".join(unknown)


def test_the_gate_fails_on_an_unlisted_finding_and_accepts_a_listed_alias() -> None:
    """The comparison itself, on a report of pip-audit's JSON shape (no network)."""
    report = [{"name": "Jinja2", "version": "3.1.2", "vulns": [
        {"id": "PYSEC-2024-1", "aliases": ["GHSA-h5c8-rqwp-cp95", "CVE-2024-22195"], "fix_versions": ["3.1.3"]}]},
        {"name": "numpy", "version": "2.0.0", "vulns": []}]
    assert _unlisted(report, {}) == [
        "  Jinja2 3.1.2: PYSEC-2024-1 / GHSA-h5c8-rqwp-cp95 / CVE-2024-22195 (fixed in 3.1.3)"]
    assert _unlisted(report, {("jinja2", "CVE-2024-22195"): {}}) == []
    assert _unlisted(report, {("numpy", "PYSEC-2024-1"): {}}) != []
