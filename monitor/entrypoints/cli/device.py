"""``samd-monitor device``: register, validate and list monitored devices."""

from __future__ import annotations

from pathlib import Path

import typer

from monitor.adapters.config_file import load_device_config
from monitor.entrypoints.cli._common import DataTable, app, build_app, out, say
from monitor.service.devices import register_device

device_app = typer.Typer(help="Register and list monitored devices.", no_args_is_help=True)
app.add_typer(device_app, name="device")


@device_app.command("add")
def device_add(config: Path = typer.Argument(..., help="Device configuration YAML (schemas/device.schema.json).")) -> None:
    """Register a device, or record a new version of its configuration."""
    application = build_app()
    parsed = load_device_config(config)
    result = register_device(parsed, uow=application.uow, clock=application.clock,
                             actor=application.settings.actor, source=str(config))
    state = f"configuration version {result.config_version}" if result.changed else "unchanged"
    say(f"device {result.device_id}: {state} (config hash {result.config_hash[:12]})")


@device_app.command("validate")
def device_validate(config: Path = typer.Argument(..., help="Device configuration YAML.")) -> None:
    """Check a device configuration file without registering it."""
    parsed = load_device_config(config)
    say(f"{config}: valid configuration of device {parsed.device.id} "
        f"({len(parsed.strata.attributes)} attributes, {len(parsed.strata.pairs())} intersections)")


@device_app.command("list")
def device_list() -> None:
    """List registered devices."""
    application = build_app()
    with application.uow() as unit:
        rows = unit.devices.list()
    table = DataTable("device", "name", "config version", "model versions", "sites")
    for r in rows:
        table.add_row(r["device_id"], r["name"], str(r["config_version"]), str(r["model_versions"]), str(r["sites"]))
    out.print(table)
