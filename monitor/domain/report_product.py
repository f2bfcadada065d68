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

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.device import DeviceConfig

__all__ = ["Deployment", "Lineage", "ProductSection", "ReferenceRow", "ReferenceStandardSection", "ScannerRow",
           "product_section", "reference_standard_section", "scanner_attributes"]

ScannerBasis = Literal["logged_models", "configured_models", "manufacturer_only", "none"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deployment(_Model):
    """A model version's deployment at one site, with its predictions in the period."""

    site_id: str = Field(description="Site id.")
    deployed_on: date = Field(description="First day the version ran at the site.")
    retired_on: date | None = Field(description="Last day it ran there (None: in service).")
    predictions_in_period: int = Field(description="Predictions of the site in the period (all versions).")


class Lineage(_Model):
    """One model version: declared lineage (``declared`` false: used in the period but not in the configuration)."""

    version: str = Field(description="Model version as logged.")
    declared: bool = Field(description="Whether the device configuration declares its lineage.")
    full_version: str | None = Field(description="Full release version.")
    model_hash: str | None = Field(description="SHA-256 of the released model artefact.")
    operating_thresholds: dict[str, float] = Field(description="Named operating points (else operating_threshold).")
    pccp_version: str | None = Field(description="PCCP version the release was made under.")
    release_date: date | None = Field(description="Release date.")
    deployments: list[Deployment] = Field(description="Deployment dates per site.")
    predictions_in_period: int = Field(description="Predictions of this version in the period.")


class ScannerRow(_Model):
    """Scanners of one manufacturer: the models and the studies of the period."""

    manufacturer: str = Field(description="Manufacturer (the scanner stratum label).")
    models: list[str] = Field(description="Models: logged, or the declared installed base (scanner_basis).")
    studies: int = Field(description="Studies of the period with this manufacturer (0: not logged).")


class ProductSection(_Model):
    """The product as declared, joined with the period (regulatory.md section 2, items 2-4)."""

    target_population: str | None = Field(description="Target population (English).")
    target_population_zh: str | None = Field(description="Target population (Chinese).")
    contraindications: list[str] = Field(description="Contraindications (English).")
    contraindications_zh: list[str] = Field(description="Contraindications (Chinese).")
    lineage: list[Lineage] = Field(description="Declared model versions, then undeclared ones seen in the period.")
    undeclared_versions: list[str] = Field(description="Model versions of the period without a declared lineage.")
    scanners: list[ScannerRow] = Field(description="Scanners by manufacturer and model.")
    scanner_basis: ScannerBasis = Field(description=(
        "Where the scanner rows come from: logged_models (a model attribute is logged), configured_models "
        "(manufacturer logged, models declared), manufacturer_only, none."))
    scanner_attribute: str | None = Field(description="The stratum attribute the counts come from.")
    sites_in_period: list[str] = Field(description="Sites with predictions in the period.")
    sites_not_covered: list[str] = Field(description="Sites deployed or seen before without a prediction in the period.")


class ReferenceRow(_Model):
    """One label source: its labels in the period and its declared reference standard (if any)."""

    label_source: str = Field(description="Ground-truth label_source.")
    seen: bool = Field(description="Whether the period's labels include this source.")
    labels: int | None = Field(description="Labels of this source in the period (None: not read).")
    defined: bool = Field(description="Whether the device configuration declares its reference standard.")
    endpoint: str | None = Field(default=None, description="The endpoint the label decides.")
    definition: str | None = Field(default=None, description="What the reference standard is.")
    definition_zh: str | None = Field(default=None, description="The definition in Chinese.")
    endpoint_zh: str | None = Field(default=None, description="The endpoint in Chinese.")
    labelled_by: str | None = Field(default=None, description="Who labels (role).")
    labelled_by_zh: str | None = Field(default=None, description="Who labels, in Chinese.")
    qualification: str | None = Field(default=None, description="Their qualification.")
    qualification_zh: str | None = Field(default=None, description="Their qualification, in Chinese.")
    adjudication: str | None = Field(default=None, description="Adjudication rule.")
    adjudication_zh: str | None = Field(default=None, description="Adjudication rule, in Chinese.")
    follow_up_days: int | None = Field(default=None, description="Follow-up length in days.")


class ReferenceStandardSection(_Model):
    """Every label source seen in the period (and every declared one), with its definition or ``defined`` false."""

    rows: list[ReferenceRow] = Field(description="Seen sources first, then declared ones not seen.")
    undefined: list[str] = Field(description="Sources seen without a declared reference standard.")
    sources_known: bool = Field(description="Whether the period's sources were read (false: a roll-up).")


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
