"""The report's product sections: the device as declared (intended use, target population, contraindications,
model lineage, scanners) and the reference standard of each label source, joined with what the period's data
show. Pure: the device configuration and the analysis document in, typed rows out.

- regulatory.md section 2, item 2 (target population, contraindications), item 3 (model lineage: full version,
  model hash, operating thresholds, PCCP version, deployment dates per site), item 4 (scanners by manufacturer and
  model), item 6 (reference standard per endpoint: who labelled, qualification, adjudication rule, follow-up).
- Scanners: the prediction log carries the manufacturer as a stratum attribute (``scanner_vendor``); the model is
  logged only when a stratum attribute holds it (e.g. ``scanner_model`` from DICOM ManufacturerModelName). Without
  it the models come from the configuration's installed base (``scanners``) and the report says so
  (``scanner_basis``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from monitor.domain.device import DeviceConfig

__all__ = ["Deployment", "Lineage", "ProductSection", "ReferenceRow", "ReferenceStandardSection", "ScannerRow",
           "product_section", "reference_standard_section", "scanner_attributes"]

ScannerBasis = Literal["logged_models", "configured_models", "manufacturer_only", "none"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deployment(_Model):
    site_id: str
    deployed_on: date
    retired_on: date | None
    predictions_in_period: int


class Lineage(_Model):
    """One model version: declared lineage (``declared`` false: used in the period but not in the configuration)."""

    version: str
    declared: bool
    full_version: str | None
    model_hash: str | None
    operating_thresholds: dict[str, float]
    pccp_version: str | None
    release_date: date | None
    deployments: list[Deployment]
    predictions_in_period: int


class ScannerRow(_Model):
    manufacturer: str
    models: list[str]
    studies: int


class ProductSection(_Model):
    target_population: str | None
    target_population_zh: str | None
    contraindications: list[str]
    contraindications_zh: list[str]
    lineage: list[Lineage]
    undeclared_versions: list[str]
    scanners: list[ScannerRow]
    scanner_basis: ScannerBasis
    scanner_attribute: str | None
    sites_in_period: list[str]
    sites_not_covered: list[str]


class ReferenceRow(_Model):
    label_source: str
    seen: bool
    labels: int | None
    defined: bool
    endpoint: str | None = None
    definition: str | None = None
    definition_zh: str | None = None
    labelled_by: str | None = None
    qualification: str | None = None
    adjudication: str | None = None
    follow_up_days: int | None = None


class ReferenceStandardSection(_Model):
    """Every label source seen in the period (and every declared one), with its definition or ``defined`` false."""

    rows: list[ReferenceRow]
    undefined: list[str]
    sources_known: bool


def scanner_attributes(config: DeviceConfig) -> tuple[str | None, str | None]:
    """The stratum attributes holding the scanner manufacturer and the scanner model (by name or column)."""
    manufacturer = model = None
    for a in config.strata.attributes:
        names = f"{a.name} {a.column or ''}".lower()
        if "scanner" not in names and "camera" not in names:
            continue
        if "model" in names:
            model = model or a.name
        else:
            manufacturer = manufacturer or a.name
    return manufacturer, model


def _level1_studies(document: Mapping[str, Any], attribute: str) -> dict[str, int]:
    """Predictions per label of ``attribute`` (label-completeness rows), else labelled cases (confusion counts)."""
    out: dict[str, int] = {}
    prefix = f"{attribute}="
    for m in document.get("maturity") or []:
        if m.get("level") == 1 and str(m["stratum"]).startswith(prefix):
            label = str(m["stratum"])[len(prefix):]
            out[label] = out.get(label, 0) + int(m["predictions"])
    if out:
        return out
    for c in document["counts"]:
        if c.get("level") == 1 and attribute in (c.get("attributes") or {}):
            label = str(c["attributes"][attribute])
            out[label] = out.get(label, 0) + int(c["tp"] + c["fp"] + c["fn"] + c["tn"])
    return out


def _scanners(config: DeviceConfig, document: Mapping[str, Any]) -> tuple[list[ScannerRow], ScannerBasis, str | None]:
    manufacturer, model = scanner_attributes(config)
    configured: dict[str, list[str]] = {}
    for s in config.scanners:
        configured.setdefault(s.manufacturer, []).append(s.model)
    if model is not None:  # models logged per study: counts by model, manufacturer from the configuration
        by_model = _level1_studies(document, model)
        owner = {m: s.manufacturer for s in config.scanners for m in [s.model]}
        rows: dict[str, ScannerRow] = {}
        for name, n in sorted(by_model.items()):
            maker = owner.get(name, "–")
            row = rows.get(maker, ScannerRow(manufacturer=maker, models=[], studies=0))
            rows[maker] = ScannerRow(manufacturer=maker, models=[*row.models, name], studies=row.studies + n)
        return list(rows.values()), "logged_models", model
    if manufacturer is None:
        return ([ScannerRow(manufacturer=k, models=v, studies=0) for k, v in configured.items()],
                "configured_models" if configured else "none", None)
    studies = _level1_studies(document, manufacturer)
    order = [a.labels() for a in config.strata.attributes if a.name == manufacturer][0] or sorted(studies)
    makers = [m for m in order if m in studies] + sorted(set(studies) - set(order))
    rows_ = [ScannerRow(manufacturer=m, models=configured.get(m, []), studies=studies[m]) for m in makers]
    return rows_, "configured_models" if configured else "manufacturer_only", manufacturer


def product_section(config: DeviceConfig, document: Mapping[str, Any], sites_ever: Sequence[str]) -> ProductSection:
    """The product as declared, joined with the period: predictions per version and site, undeclared versions,
    sites that ran the device (in the logs or a deployment) but had no prediction in the period."""
    in_period = {s["site_id"]: int(s["predictions"]) for s in document["sites"]}
    by_version = {c["model_version"]: int(c["predictions"]) for c in document["completeness"]["by_model_version"]}
    declared = {m.version: m for m in config.model_versions}
    lineage = []
    for version in list(declared) + sorted(set(by_version) - set(declared)):
        m = declared.get(version)
        lineage.append(Lineage(
            version=version, declared=m is not None, full_version=m.full_version if m else None,
            model_hash=m.model_hash if m else None,
            operating_thresholds=dict(m.operating_thresholds) if m and m.operating_thresholds
            else {"operating_threshold": config.operating_threshold},
            pccp_version=m.pccp_version if m else None, release_date=m.release_date if m else None,
            deployments=[Deployment(site_id=d.site_id, deployed_on=d.deployed_on, retired_on=d.retired_on,
                                    predictions_in_period=in_period.get(d.site_id, 0))
                         for d in (m.deployments if m else [])],
            predictions_in_period=by_version.get(version, 0)))
    deployed = {d.site_id for m in config.model_versions for d in m.deployments if d.retired_on is None}
    scanners, basis, attribute = _scanners(config, document)
    identity = config.device
    return ProductSection(
        target_population=identity.target_population, target_population_zh=identity.target_population_zh,
        contraindications=list(identity.contraindications), contraindications_zh=list(identity.contraindications_zh),
        lineage=lineage, undeclared_versions=sorted(set(by_version) - set(declared)),
        scanners=scanners, scanner_basis=basis, scanner_attribute=attribute, sites_in_period=sorted(in_period),
        sites_not_covered=sorted((set(sites_ever) | deployed) - set(in_period)))


def reference_standard_section(config: DeviceConfig, seen: Mapping[str, int] | None) -> ReferenceStandardSection:
    """The declared reference standard of each label source seen in the period (``seen``: labels per source;
    ``None`` when the period's sources could not be read: then every declared source is listed)."""
    declared = {r.label_source: r for r in config.reference_standards}
    sources = sorted(set(seen or {}) | set(declared), key=lambda s: (seen is not None and s not in seen, s))
    rows = []
    for source in sources:
        r = declared.get(source)
        rows.append(ReferenceRow(label_source=source, seen=seen is not None and source in seen,
                                 labels=None if seen is None else seen.get(source, 0), defined=r is not None,
                                 **(r.model_dump(exclude={"label_source"}) if r else {})))
    undefined = [r.label_source for r in rows if not r.defined and r.seen]
    return ReferenceStandardSection(rows=rows, undefined=undefined, sources_known=seen is not None)
