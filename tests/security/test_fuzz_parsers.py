"""The fuzzing campaign, briefly: every parser (CSV, Parquet, NDJSON, JSON array, FHIR R4 Bundle, DICOM SR,
device YAML, site bundles, read-API query parameters) gets generated inputs with planted markers, and each
input must (a) end as rows, row rejections or a MonitorError, (b) parse within the memory budget, (c) account
for every row and (d) quote no marker in any message. Strategies and drivers: fuzz_strategies.py (shared with
bench/bench_fuzz.py, which runs them at length). Deterministic: derandomized, no example database, no deadline.

Two kinds of message may name what the caller sent (docs/reliability.md, "What an error may name"): an id in
the form of an id, back to the caller that sent it (``_NAMED_IDS``), and a device configuration's own values in
its validation errors (``CONFIGURATION_VALUES``): a configuration is the operator's file and carries no patient
data, and naming the wrong value (an unknown time zone, an unknown attribute) is what makes the error useful.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

import fuzz_strategies as fz

#: Examples per target in `make test` (the whole module stays well under 40 s of CPU).
CI_EXAMPLES = {"csv": 12, "parquet": 10, "ndjson": 12, "json-array": 12, "fhir": 10, "dicom-sr": 8,
               "device-yaml": 15, "site-bundle": 25, "api-query": 25}
settings.register_profile("fuzz-ci", deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate,
                                                                          Phase.shrink])

_ID = r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}"
#: Messages that may name an identifier the caller sent once it has the form of an id (a site or device id
#: in a federation refusal, a URL path id in a 404 to its own caller): not data values.
_NAMED_IDS = re.compile(rf"(?:site|device|analysis run|ticket) '{_ID}'")
#: Device-configuration validation messages that name the configuration's own values.
CONFIGURATION_VALUES = re.compile(r"attribute names must be unique, got|is not a pair of two different attributes"
                                  r"|unknown attribute|unknown time zone|is not one of")


def _exempt(message: str) -> bool:
    if not fz.leaks(_NAMED_IDS.sub("<id>", message)):
        return True
    return bool(CONFIGURATION_VALUES.search(message))


@pytest.fixture(scope="module")
def workspace() -> Iterator[fz.Workspace]:
    ws = fz.Workspace()
    yield ws
    ws.close()


def _run(name: str, context: Any) -> None:
    strategy, runner = fz.TARGETS[name]

    @settings(settings.get_profile("fuzz-ci"), max_examples=CI_EXAMPLES[name])
    @given(strategy)
    def check(value: Any) -> None:
        outcome = runner(value, context)  # (a): anything but a MonitorError escapes and fails here
        # a configuration's errors name its field paths (schema keys); values are never quoted
        outcome.exempt = _config_exempt if name == "device-yaml" else _exempt
        assert not fz.violations(outcome), fz.violations(outcome)

    check()


def _config_exempt(message: str) -> bool:
    """Validation errors name field paths (``a.b[0]: message``); only the messages must be free of markers."""
    if ": invalid device configuration: " not in message:
        return False
    problems = message.split(": invalid device configuration: ", 1)[1].split("; ")
    return not any(fz.leaks(problem.split(": ", 1)[-1]) and not CONFIGURATION_VALUES.search(problem) for problem in problems)


@pytest.mark.parametrize("name", ["csv", "parquet", "ndjson", "json-array", "fhir", "dicom-sr"])
def test_log_parsers(name: str, workspace: fz.Workspace) -> None:
    _run(name, workspace)


def test_device_yaml(workspace: fz.Workspace) -> None:
    _run("device-yaml", workspace)


def test_site_bundles(workspace: fz.Workspace) -> None:
    _run("site-bundle", workspace)


def test_api_query_parameters(workspace: fz.Workspace) -> None:
    _run("api-query", fz.api_client(workspace))


# regressions the campaign found, as fixed examples -----------------------------------------------------------

def test_deep_bundle_is_an_input_error(workspace: fz.Workspace) -> None:
    """Found: a bundle nested 100 000 levels raised RecursionError from json.loads (not a MonitorError)."""
    body = b'{"schema": "samd-monitor/site_summary", "payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    outcome = fz.run_bundle(body, workspace)
    assert outcome.error is not None and "nested deeper" in str(outcome.error)


def test_bundle_values_are_never_quoted(workspace: fz.Workspace) -> None:
    """Found: the period label, a cell's month, the schema version and the signature algorithm were quoted."""
    for change in (lambda p: p["period"].update(label="QZMRK0001"), lambda p: p["cells"][0].update(month="QZMRK0002"),
                   lambda p: p["cells"][0].update(tp=2**70), lambda p: p.update(attributes=[{"x": 1}, "QZMRK0003"])):
        payload = fz.site_payload()
        change(payload)
        document = {"schema": "samd-monitor/site_summary", "schema_version": 1, "payload": payload,
                    "signature": {"algorithm": "Ed25519", "key_id": "k1", "value": "AAAA"}}
        outcome = fz.run_bundle(fz.json.dumps(document).encode(), workspace)
        assert outcome.error is not None and not fz.leaks(str(outcome.error))
    for document in ({"schema": "samd-monitor/site_summary", "schema_version": "QZMRK0004"},
                     {"schema": "samd-monitor/site_summary", "schema_version": 1, "payload": fz.site_payload(),
                      "signature": {"algorithm": "QZMRK0005", "key_id": "k1", "value": "AAAA"}}):
        outcome = fz.run_bundle(fz.json.dumps(document).encode(), workspace)
        assert outcome.error is not None and not fz.leaks(str(outcome.error))


def test_yaml_errors_do_not_quote_the_file() -> None:
    """Found: PyYAML's message carried the offending line (a snippet of values) into the ConfigError."""
    for text in ("device:\n  name: QZMRK0001: x\n", "\tQZMRK0002: 1\n", "a: *QZMRK0003\n", "QZMRK0004: ["):
        outcome = fz.run_config(text)
        assert outcome.error is not None and "line" in str(outcome.error) and not fz.leaks(str(outcome.error))


@pytest.mark.parametrize("query", ["/v1/runs?device_id=%00", "/v1/audit?actor=a%00b", "/v1/batches/99999999999999999999",
                                   "/v1/devices/QZMRK%00x", "/v1/rejected-rows?batch_id=-5",
                                   "/v1/runs?period=" + "9" * 400])
def test_malformed_query_parameters_are_422(app, query: str) -> None:  # type: ignore[no-untyped-def]
    """Found (read API): NUL in a text filter reached the database (PostgreSQL refuses NUL: a server error); an
    integer beyond 64 bits overflowed the driver; a malformed path id was quoted back in the 404. Both engines."""
    client = fz.api_client(_AppWorkspace(app))
    response = client.get(query, headers=client.admin)
    assert response.status_code == 422, response.text
    assert "QZMRK" not in response.text


class _AppWorkspace:
    """The conftest ``app`` (SQLite and PostgreSQL) in the shape fz.api_client expects."""

    def __init__(self, app: Any) -> None:
        self.app, self.clock = app, app.clock
