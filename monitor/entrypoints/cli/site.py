"""``samd-monitor site``: federated site summaries (keys, summarising at a hospital, registering sites,
stored bundles), ``samd-monitor ingest summary BUNDLE`` and ``samd-monitor analyze --engine summaries``."""

from __future__ import annotations

import json
import secrets
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from monitor.entrypoints.cli._common import (
    DataTable,
    app,
    build_app,
    emit_json,
    err,
    out,
    say,
    settings,
    warn_deprecated,
)
from monitor.entrypoints.cli.ingest import ingest_app
from monitor.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from monitor.domain.periods import Period

#: monitor.domain.site_summary.DEFAULT_MIN_CELL_SIZE (that module imports pandas; a test checks they agree).
DEFAULT_MIN_CELL_SIZE = 11

__all__ = ["run_summary_analysis"]

site_app = typer.Typer(help="Federated site summaries: a hospital counts its own logs and sends signed count "
                            "tables, never patient-level rows (docs/federated.md).", no_args_is_help=True)
app.add_typer(site_app, name="site")


@site_app.command("keygen")
def site_keygen(
    site: str = typer.Option(..., "--site", help="Site id (names the files SITE.key and SITE.pub)."),
    out_dir: Path = typer.Option(Path("."), "--out-dir", help="Folder to write the key files to."),
    legacy_out: Optional[Path] = typer.Option(None, "--out", hidden=True, help="Deprecated name of --out-dir."),
) -> None:
    """Write a new Ed25519 key pair: SITE.key (private, mode 0600, stays at the site) and SITE.pub (to the centre)."""
    from monitor.adapters.site_keys import write_key_pair
    from monitor.domain.site_summary import check_id

    if legacy_out is not None:
        warn_deprecated("site keygen --out DIR", "--out-dir DIR")
        out_dir = legacy_out
    files = write_key_pair(out_dir, check_id(site, "--site"))
    say(f"private key {files.private} (mode 0600: keep it at the site, never send it)")
    say(f"public key  {files.public} (send it to the centre: samd-monitor site register {site} "
        f"{files.public.name} --device DEVICE)")
    say(f"key id {files.key_id}")


@site_app.command("summarize")
def site_summarize(
    config: Path = typer.Option(..., "--config", help="The device configuration YAML the centre registered."),
    site: str = typer.Option(..., "--site", help="This site's id (site_id in the logs; other sites' rows are "
                                                 "left out)."),
    key: Path = typer.Option(..., "--key", help="This site's private key (from `samd-monitor site keygen`)."),
    predictions: list[Path] = typer.Option(..., "--predictions",
                                           help="Prediction log (any ingest format); repeatable."),
    ground_truth: Optional[list[Path]] = typer.Option(None, "--ground-truth", help="Ground-truth log; repeatable."),
    retractions: Optional[list[Path]] = typer.Option(None, "--retractions", help="Retraction log; repeatable."),
    period: Optional[str] = typer.Option(None, "--period", help="Months to cover (2025Q3, 2025-07, 2025); default: "
                                                                "from the first to the last prediction's month."),
    min_cell_size: int = typer.Option(DEFAULT_MIN_CELL_SIZE, "--min-cell-size", min=1,
                                      envvar="MONITOR_SITE_MIN_CELL_SIZE",
                                      help="Cells with fewer cases are flagged small."),
    out_file: Path = typer.Option(..., "--out", help="File to write the signed bundle (JSON) to."),
    scratch_dir: Optional[Path] = typer.Option(
        None, "--scratch-dir", help="Folder for the working SQLite file (in a private temporary folder, deleted at "
                                    "the end); default: the system's temporary folder."),
    in_memory: bool = typer.Option(False, "--in-memory", help="Work in memory: nothing reaches the disk (about "
                                                              "1.2 GB of memory per million predictions)."),
) -> None:
    """Count this site's logs into a signed bundle of cells (no patient-level row, no identifier)."""
    from monitor.adapters.config_file import load_device_config
    from monitor.adapters.db.scratch import scratch_database
    from monitor.adapters.files.readers import open_log
    from monitor.adapters.site_keys import load_signer
    from monitor.domain.periods import Period
    from monitor.domain.privacy import make_patient_hasher
    from monitor.entrypoints.bootstrap import utc_now
    from monitor.service.federation import SiteLogs, sign_summary, summarize_site

    if in_memory and scratch_dir is not None:
        raise InputError("--in-memory and --scratch-dir exclude each other")
    device = load_device_config(config)
    signer = load_signer(key)
    environment = settings()
    opened = {kind: [open_log(p, kind=kind, device_id=device.device.id) for p in paths or []]
              for kind, paths in (("predictions", predictions), ("ground_truth", ground_truth),
                                  ("retractions", retractions))}
    logs = SiteLogs(opened["predictions"], opened["ground_truth"], opened["retractions"])
    # Patient ids are hashed with a throw-away key: the hashes only link rows inside this run.
    hasher = make_patient_hasher(secrets.token_hex(32))
    with scratch_database(None if in_memory else scratch_dir or Path(tempfile.gettempdir())) as scratch:
        summary = summarize_site(device, logs, site_id=site, period=Period.parse(period) if period else None,
                                 scratch=scratch, clock=utc_now, actor=f"site:{site}", hash_patient=hasher,
                                 min_cell_size=min_cell_size, exact_ages=environment.exact_ages)
    bundle = sign_summary(summary, signer)
    out_file.write_text(json.dumps(bundle.document(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    payload = bundle.payload
    say(f"bundle {bundle.bundle_id[:16]}... for {device.device.id}, site {site}, {payload['period']['label']} "
        f"written to {out_file}")
    totals = payload["totals"]
    say(f"  {len(payload['cells']):,} cells, {totals['predictions']:,} predictions "
        f"({totals['awaiting_ground_truth']:,} awaiting ground truth), "
        f"{totals['small_cells']:,} cells under {min_cell_size} cases flagged small")
    for kind, files in payload["intake"].items():
        for item in files:
            if item["rejected"]:
                reasons = ", ".join(f"{n} × {c}" for c, n in item["reasons"].items())
                say(f"  {kind} {item['sha256'][:12]}: {item['rejected']:,} rows rejected ({reasons})")
    for reason, n in payload["excluded"].items():
        say(f"  left out: {n:,} × {reason}")


@site_app.command("register")
def site_register(
    site_id: str = typer.Argument(..., help="The site's id (site_id of its logs)."),
    public_key_file: Path = typer.Argument(..., help="The site's public key (SITE.pub from `site keygen`)."),
    device: list[str] = typer.Option(..., "--device", help="A device the site sends summaries of; repeatable."),
    replace_key: bool = typer.Option(False, "--replace-key", help="Replace the site's current key (it is revoked)."),
) -> None:
    """Register a site's public key (administration; audited): its signed bundles are then accepted."""
    from monitor.adapters.site_keys import key_id, load_public_key
    from monitor.service.federation import register_site

    application = build_app()
    public_key = load_public_key(public_key_file)
    outcome = register_site(site_id, public_key, key_id=key_id(public_key), devices=device, replace=replace_key,
                            uow=application.uow, clock=application.clock, actor=application.actor)
    state = "registered" if outcome["changed"] else "unchanged"
    say(f"site {site_id}: key {outcome['key_id'][:16]}... {state} for {', '.join(outcome['devices'])}"
        + (f"; replaced key {outcome['replaced_key_id'][:16]}..." if outcome["replaced_key_id"] else ""))


def _when(value: Optional[datetime]) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


@site_app.command("list")
def site_list(as_json: bool = typer.Option(False, "--json", help="Print a JSON array of site keys.")) -> None:
    """List registered site keys with the devices they may summarise and the bundles they signed."""
    application = build_app()
    with application.uow() as unit:
        rows = unit.summaries.sites()
    if as_json:
        emit_json(rows)
        return
    table = DataTable("site", "key id", "devices", "registered", "by", "revoked", "bundles", ids=("site", "key id"))
    for r in rows:
        table.add_row(r["site_id"], r["key_id"][:16], ", ".join(r["devices"]), _when(r["registered_at"]),
                      r["registered_by"], _when(r["revoked_at"]), str(r["bundles"]))
    out.print(table)


@site_app.command("bundles")
def site_bundles(
    device: Optional[str] = typer.Option(None, "--device", help="Only this device."),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of bundles."),
) -> None:
    """List stored bundles, newest received first (superseded ones stay stored)."""
    application = build_app()
    with application.uow() as unit:
        rows = unit.summaries.bundles(device, limit)
    if as_json:
        emit_json(rows)
        return
    table = DataTable("bundle", "device", "site", "period", "made", "received", "cells", "small",
                      ids=("bundle", "device", "site"))
    for r in rows:
        table.add_row(r["bundle_id"][:16], r["device_id"], r["site_id"], r["period"], _when(r["created_at"]),
                      _when(r["received_at"]), f"{r['cells']:,}", f"{r['small_cells']:,}")
    out.print(table)


@ingest_app.command("summary")
def ingest_summary_cmd(
    file: Path = typer.Argument(..., help="A site-summary bundle from `samd-monitor site summarize`."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Verify a site's signed bundle and store it (an identical re-send is a duplicate)."""
    from monitor.adapters.site_keys import verify
    from monitor.service.federation import ingest_summary

    application = build_app()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from exc
    receipt = ingest_summary(data, uow=application.uow, clock=application.clock, actor=application.actor,
                             verify=verify)
    if as_json:
        emit_json(receipt.as_dict())
        return
    say(f"bundle {receipt.bundle_id[:16]}... ({receipt.device_id}, site {receipt.site_id}, {receipt.period}): "
        f"{receipt.status}" + (f", {receipt.cells:,} cells ({receipt.small_cells:,} small)"
                                     if receipt.status == "stored" else ""))
    for bundle in receipt.supersedes:
        say(f"  supersedes bundle {bundle[:16]}... for the months both cover (it stays stored)")
    for bundle in receipt.superseded_by:
        say(f"  note: bundle {bundle[:16]}..., made later by the site, still counts for some of its months",
            console=err)


def run_summary_analysis(*, device: str, period: Period, cutoff: Optional[datetime], out_file: Optional[Path],
                         as_json: bool) -> None:
    """``analyze --engine summaries``: evaluate the merged bundles; print or write the document."""
    from monitor.entrypoints.cli.lake import emit_lake_document
    from monitor.service.federation import analyze_summaries

    application = build_app()
    document = analyze_summaries(device, period, uow=application.uow, cutoff=cutoff or application.clock())
    federation = document["federation"]
    missing = ", ".join(f"{m['site_id']} ({len(m['months'])} months)" for m in federation["missing"]) or "none"
    heading = (f"{device} {period.label} (site summaries): {len(federation['sites'])} sites, "
               f"{document['predictions_counted']:,} predictions, "
               f"{federation['totals']['awaiting_ground_truth']:,} awaiting ground truth; missing: {missing}")
    emit_lake_document(document, heading=heading, out_file=out_file, as_json=as_json)

