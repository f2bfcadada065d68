"""The product and reference-standard sections (monitor.domain.report_product) and the configuration fields
they read (monitor.domain.device): declared lineage joined with the period, scanners, undefined sources."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from monitor.domain.device import DeviceConfig
from monitor.domain.report_product import product_section, reference_standard_section
from monitor.resources import resource_path

EXAMPLE = yaml.safe_load(resource_path("examples", "lung-nodule-ct.yaml").read_text(encoding="utf-8"))
LATER = ("reference_standards", "model_versions", "scanners", "records", "pccp")


def _document() -> dict[str, Any]:
    return {"sites": [{"site_id": "site-bj-01", "predictions": 10}, {"site_id": "site-xx-09", "predictions": 2}],
            "completeness": {"by_model_version": [{"model_version": "2.1.0", "predictions": 8},
                                                  {"model_version": "2.2.0", "predictions": 4}]},
            "maturity": [{"level": 1, "stratum": "scanner_vendor=GE", "predictions": 7},
                         {"level": 1, "stratum": "scanner_vendor=Philips", "predictions": 5},
                         {"level": 1, "stratum": "sex=F", "predictions": 6}],
            "counts": []}


def test_fields_added_later_leave_the_hash_of_an_unchanged_configuration_alone() -> None:
    bare = DeviceConfig.model_validate({k: v for k, v in EXAMPLE.items() if k not in LATER}
                                       | {"device": {k: v for k, v in EXAMPLE["device"].items()
                                                     if not k.startswith("contraindications")
                                                     and k != "target_population_zh"}})
    # the hash the configuration had before these fields existed (config_hash of schema version 1)
    assert bare.config_hash() == "4bf362db86eb2d12d969221eae8761db6171cc6f13f32f762ae306e591fb3a2b"
    assert DeviceConfig.model_validate(EXAMPLE).config_hash() != bare.config_hash()


def test_a_version_declared_twice_is_refused_at_its_place() -> None:
    twice = EXAMPLE | {"model_versions": EXAMPLE["model_versions"] * 2}
    with pytest.raises(ValidationError) as exc:
        DeviceConfig.model_validate(twice)
    assert [e["loc"] for e in exc.value.errors()] == [("model_versions", 1, "version")]


def test_lineage_scanners_and_sites_join_the_declaration_with_the_period() -> None:
    config = DeviceConfig.model_validate(EXAMPLE)
    made = product_section(config, _document(), sites_ever=["site-bj-01", "site-old-07"])
    assert [(m.version, m.declared, m.predictions_in_period) for m in made.lineage] == [
        ("2.1.0", True, 8), ("2.2.0", False, 4)]
    assert made.lineage[0].model_hash and made.lineage[0].deployments[0].predictions_in_period == 10
    assert made.lineage[1].operating_thresholds == {"operating_threshold": 0.5}  # undeclared: the device's
    assert made.undeclared_versions == ["2.2.0"]
    assert [(s.manufacturer, s.studies) for s in made.scanners] == [("GE", 7), ("Philips", 5)]
    assert made.scanners[0].models == ["Revolution CT", "Optima CT660"] and made.scanner_basis == "configured_models"
    assert "site-old-07" in made.sites_not_covered and "site-bj-01" not in made.sites_not_covered


def test_a_label_source_without_a_reference_standard_is_listed_as_undefined() -> None:
    config = DeviceConfig.model_validate(EXAMPLE)
    section = reference_standard_section(config, {"histopathology": 5, "clinical_diagnosis": 2})
    rows = {r.label_source: r for r in section.rows}
    assert section.undefined == ["clinical_diagnosis"] and not rows["clinical_diagnosis"].defined
    assert rows["histopathology"].seen and rows["histopathology"].labelled_by == "thoracic pathologist"
    assert not rows["follow_up"].seen and rows["follow_up"].follow_up_days == 365  # declared, not seen
    assert reference_standard_section(config, None).sources_known is False
