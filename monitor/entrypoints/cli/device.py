"""``samd-monitor device``: register, validate and list monitored devices."""

from __future__ import annotations

from pathlib import Path

import typer

from monitor.entrypoints.cli._common import DataTable, app, build_app, emit_json, out, say
from monitor.errors import MonitorError

device_app = typer.Typer(help="Register and list monitored devices.", no_args_is_help=True)
app.add_typer(device_app, name="device")


@device_app.command("add")
def device_add(config: Path = typer.Argument(..., help="Device configuration YAML (schemas/device.schema.json).")) -> None:
    """Register a device, or record a new version of its configuration."""
    from monitor.adapters.config_file import load_device_config
    from monitor.service.devices import register_device

    application = build_app()
    parsed = load_device_config(config)
    result = register_device(parsed, uow=application.uow, clock=application.clock,
                             actor=application.actor, source=str(config))
    state = f"configuration version {result.config_version}" if result.changed else "unchanged"
    say(f"device {result.device_id}: {state} (config hash {result.config_hash[:12]})")


@device_app.command("validate")
def device_validate(
    config: Path = typer.Argument(..., help="Device configuration YAML."),
    as_json: bool = typer.Option(False, "--json", help='Print {"ok": ..., "device_id": ...} (or the error).'),
) -> None:
    """Check a device configuration file without registering it (exit status 2 when it is invalid)."""
    from monitor.adapters.config_file import load_device_config

    try:
        parsed = load_device_config(config)
    except MonitorError as exc:
        if as_json:
            emit_json({"ok": False, "file": str(config), "error": str(exc)})
        raise
    if as_json:
        emit_json({"ok": True, "file": str(config), "device_id": parsed.device.id,
                   "attributes": len(parsed.strata.attributes), "intersections": len(parsed.strata.monitored_intersections())})
        return
    say(f"{config}: valid configuration of device {parsed.device.id} "
        f"({len(parsed.strata.attributes)} attributes, {len(parsed.strata.monitored_intersections())} intersections)")


@device_app.command("list")
def device_list(as_json: bool = typer.Option(False, "--json", help="Print a JSON array of devices.")) -> None:
    """List registered devices."""
    application = build_app()
    with application.uow() as unit:
        rows = unit.devices.list()
    if as_json:
        emit_json([{k: r.get(k) for k in ("device_id", "name", "config_version", "model_versions", "sites")}
                   for r in rows])
        return
    table = DataTable("device", "name", "config version", "model versions", "sites", ids=("device",))
    for r in rows:
        table.add_row(r["device_id"], r["name"], str(r["config_version"]), str(r["model_versions"]), str(r["sites"]))
    out.print(table)
