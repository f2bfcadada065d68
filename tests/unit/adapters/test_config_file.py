"""Device-configuration errors (issue 18, item 4): YAML syntax errors in words with line and column; every
validation problem of a file in one pass (field checks, time zone, cross-field checks), each with its field and
line; YAML 1.1 booleans where text is expected get a hint to quote them; no configuration value is echoed except
the fixed YAML words."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.adapters.config_file import load_device_config, parse_device_config
from monitor.domain.device import DeviceConfig
from monitor.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"


def _example() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def _line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def _error(text: str, source: str = "device.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_device_config(text, source=source)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_example_still_loads() -> None:
    assert load_device_config(EXAMPLE).device.id == "lung-nodule-ct"


@pytest.mark.parametrize(("text", "line", "column", "words"), [
    ("device:\n  name: a: b\n", 2, 10, "mapping values are not allowed here (a ':' inside an unquoted value"),
    ("a: [1, 2\n", 2, 1, "expected ',' or ']', but got the end of the file"),
    ("\tb: 1\n", 1, 1, "a tab: YAML indents with spaces"),
    ("device:\n  id: x\n    foo: 1\n", 3, 8, "mapping values are not allowed here"),
    ("a:\n  - b\n  c: 1\n", 3, 3, "expected the end of the indented block, but found a key"),
])
def test_yaml_syntax_errors_name_file_line_and_column_in_words(text: str, line: int, column: int, words: str) -> None:
    message = _error(text)
    assert message.startswith(f"device.yaml: not valid YAML at line {line}, column {column}: "), message
    assert words in message
    assert "<unicode string>" not in message and "^" not in message


def test_yaml_errors_never_quote_the_file() -> None:
    message = _error("device:\n  name: SECRET_VALUE: x\n  other: *SECRET_ALIAS\n")
    assert "SECRET" not in message
    assert "SECRET" not in _error("a: *SECRET_ALIAS\n")
    assert "SECRET" not in _error('a: "SECRET\\q"\n')


def test_every_configuration_problem_is_reported_in_one_pass() -> None:
    """Before: a bad time zone showed only once the other monitoring fields were fixed, and cross-field checks
    (claims naming strata) only once every field was valid."""
    text = (_example()
            .replace("  name: PulmoScan Lung Nodule CT Detector\n", "")
            .replace("operating_threshold: 0.5", "operating_threshold: 5")
            .replace("timezone: Asia/Shanghai", "timezone: Mars/Olympus_Mons")
            .replace("fdr: 0.10", "fdr: 2")
            .replace("confirmatory: [age_band, sex]", "confirmatory: [age_band, sexx]")
            .replace("values: [none, mild, moderate, severe]", "values: [none, mild, moderate, 7]")
            .replace("claims:\n", "claims:\n  strata:\n    - where: {smoker: current}\n"
                                  "      sensitivity: {value: 0.9, margin: 0.05}\n", 1))
    message = _error(text)
    problems = message.split(": invalid device configuration: ", 1)[1].split("; ")
    fields = [p.split(" (", 1)[0] for p in problems]
    assert set(fields) == {"device.name", "operating_threshold", "monitoring.timezone", "monitoring.fdr",
                           "strata.confirmatory", "strata.attributes[2].values[3]", "claims.strata[0].where"}, problems
    by_field = dict(zip(fields, problems, strict=True))
    assert f"(line {_line_of(text, 'timezone:')}, column 13): unknown time zone" in by_field["monitoring.timezone"]
    assert f"(line {_line_of(text, 'operating_threshold:')}, " in by_field["operating_threshold"]
    assert f"(line {_line_of(text, 'smoker')}, " in by_field["claims.strata[0].where"]
    assert "unknown attribute" in by_field["strata.confirmatory"]
    assert "quote it to make it text" in by_field["strata.attributes[2].values[3]"]
    assert f"(in the block at line {_line_of(text, 'id: lung-nodule-ct')})" in by_field["device.name"]


def test_a_model_error_in_one_section_does_not_hide_the_drift_baseline() -> None:
    text = _example().replace("timezone: Asia/Shanghai", "timezone: Nowhere/Atall").replace(
        "drift_baseline: model_version_start", "drift_baseline: someday")
    message = _error(text)
    assert "monitoring.timezone" in message and "monitoring.drift_baseline" in message


@pytest.mark.parametrize(("spelled", "hint"), [
    ("[no, yes]", "strata.attributes[1].values (line {line}, column 16): no, yes are read as booleans (YAML 1.1), "
                  "not text: quote them: 'no', 'yes'"),
    ("[F, Off]", "strata.attributes[1].values (line {line}, column 19): Off is read as a boolean (YAML 1.1), "
                 "not text: quote it: 'Off'"),
])
def test_yaml_11_booleans_in_value_lists_get_a_hint(spelled: str, hint: str) -> None:
    text = _example().replace("values: [F, M]", f"values: {spelled}")
    message = _error(text)
    assert hint.format(line=_line_of(text, spelled)) in message
    quoted = _example().replace("values: [F, M]", "values: ['no', 'yes']")
    assert parse_device_config(quoted, source="ok.yaml").strata.attribute("sex").values == ["no", "yes"]


def test_boolean_stratum_labels_in_claims_get_the_hint_too() -> None:
    text = _example().replace("claims:\n", "claims:\n  strata:\n    - where: {sex: no}\n"
                                           "      sensitivity: {value: 0.9, margin: 0.05}\n", 1)
    assert "claims.strata[0].where: no is read as a boolean" not in _error(text)  # the field is located
    assert "no is read as a boolean (YAML 1.1), not text: quote it: 'no'" in _error(text)


def test_cross_field_problems_are_all_listed_with_their_lines() -> None:
    text = _example().replace("confirmatory_intersections: []",
                              "confirmatory_intersections: [{age_band: '>=75', nope: x}, {sex: F}]")
    problems = _error(text).split(": invalid device configuration: ", 1)[1].split("; ")
    assert [p.split(" (", 1)[0] for p in problems] == ["strata.confirmatory_intersections[0]",
                                                        "strata.confirmatory_intersections[1]"]
    assert all(f"(line {_line_of(text, 'confirmatory_intersections:')}," in p for p in problems)


def test_validating_a_dict_reports_all_problems_too() -> None:
    """The same one-pass validation for the Python API (a dict, no file): pydantic's ValidationError."""
    import yaml
    from pydantic import ValidationError

    data = yaml.safe_load(_example())
    data["monitoring"]["timezone"] = "Nowhere/Atall"
    data["monitoring"]["fdr"] = 5
    data["claims"]["strata"] = [{"where": {"nope": "x"}, "sensitivity": {"value": 0.9, "margin": 0.05}}]
    with pytest.raises(ValidationError) as info:
        DeviceConfig.model_validate(data)
    assert {e["loc"] for e in info.value.errors()} == {
        ("monitoring", "timezone"), ("monitoring", "fdr"), ("claims", "strata", 0, "where")}


def test_an_empty_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty.yaml: expected a mapping at the top level, got an empty file"):
        load_device_config(path)
