"""The service's settings: defaults, parsing, and one clear error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.settings import ServiceSettings, load_service_settings, load_settings


def test_defaults_when_nothing_is_set() -> None:
    assert load_service_settings({}) == ServiceSettings()
    assert load_settings({}).service == ServiceSettings()


def test_values_are_read() -> None:
    service = load_service_settings({
        "MONITOR_DROP_DIR": "/srv/drop", "MONITOR_DROP_INTERVAL_SECONDS": "30", "MONITOR_NIGHTLY_AT": "3:05",
        "MONITOR_REPORT_GRACE_DAYS": "30", "MONITOR_REPORT_FORMATS": "html, pdf", "MONITOR_REPORT_LANGUAGES": "zh-CN",
        "MONITOR_JOB_LEASE_SECONDS": "7200", "MONITOR_JOB_RUNS_RETENTION_DAYS": "365"})
    assert service.drop_dir == Path("/srv/drop") and service.drop_interval_seconds == 30
    assert service.nightly_at == "03:05" and service.report_grace_days == 30
    assert service.report_formats == ("html", "pdf") and service.report_languages == ("zh-CN",)
    assert service.job_lease_seconds == 7200 and service.job_runs_retention_days == 365


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MONITOR_NIGHTLY_AT", "25:00", "expected HH:MM"),
    ("MONITOR_DROP_INTERVAL_SECONDS", "often", "expected a number >= 1"),
    ("MONITOR_REPORT_GRACE_DAYS", "-1", "expected a number >= 0"),
    ("MONITOR_JOB_LEASE_SECONDS", "1", "expected a number >= 10"),
])
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}=.*{message}"):
        load_service_settings({name: value})
