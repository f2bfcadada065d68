"""``samd-monitor analyze --engine arrow|spark``: stratified analysis of Parquet logs in a data lake."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from monitor.entrypoints.cli._common import DataTable, build_app, emit_json, out, say, write_json_file
from monitor.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from monitor.domain.periods import Period

__all__ = ["emit_lake_document", "run_lake_analysis"]


def run_lake_analysis(*, engine: str, device: str, period: Period, cutoff: Optional[datetime],
                      predictions: list[str], ground_truth: list[str], config_file: Optional[Path],
                      out_file: Optional[Path], as_json: bool) -> None:
    """Count the lake's logs with ``engine``, evaluate them with the core, print or write the document."""
    from monitor.adapters.config_file import load_device_config
    from monitor.entrypoints.bootstrap import cell_engine
    from monitor.service.lake import analyze_lake

    if engine not in ("arrow", "spark"):
        raise InputError(f"--engine {engine!r}: use database, arrow, spark or summaries")
    if not predictions or not ground_truth:
        raise InputError(f"--engine {engine} needs --predictions and --ground-truth (Parquet paths or URLs)")
    if config_file is not None:
        config = load_device_config(config_file)
        if config.device.id != device:
            raise InputError(f"--config {config_file} describes device {config.device.id!r}, not {device!r}")
    else:
        application = build_app()
        with application.uow() as unit:
            config = unit.devices.get(device)
    inputs = {"predictions": predictions, "ground_truth": ground_truth}
    when = cutoff or datetime.now(timezone.utc)
    spark = None
    if engine == "spark":
        from monitor.adapters.spark.cells import local_spark_session

        spark = local_spark_session()
    counter = cell_engine(engine, predictions=predictions, ground_truth=ground_truth, spark=spark)

    def count_cells(**window: Any) -> Any:
        counter.confusion_cells(**window)
        return counter.last  # type: ignore[attr-defined]  # the lake engines keep their bookkeeping

    try:
        document = analyze_lake(config, period, cutoff=when, engine=engine, inputs=inputs, count_cells=count_cells)
    finally:
        if spark is not None:
            spark.stop()
    emit_lake_document(document, out_file=out_file, as_json=as_json,
                       heading=f"{device} {period.label} ({engine}): {document['predictions_read']:,} predictions "
                               f"read, {document['predictions_counted']:,} counted; excluded: "
                               f"{document['excluded'] or 'none'}")


def emit_lake_document(document: dict[str, Any], *, heading: str, out_file: Optional[Path], as_json: bool) -> None:
    """Write the document to ``out_file`` (when given); print it as JSON, or ``heading``, the test counts
    and the flagged stratum-metrics."""
    if out_file is not None:
        write_json_file(out_file, document)
    if as_json:
        emit_json(document)
        return
    say(heading)
    summary = document["summary"]
    outcomes = summary.get("outcomes", {})
    say(f"  {summary['tests']} tests: {summary['flagged']} shortfall shown, {outcomes.get('conforming', 0)} conformity "
        f"shown, {outcomes.get('inconclusive', 0)} inconclusive; {summary['insufficient']} insufficient")
    table = DataTable("model", "stratum", "metric", "estimate", "95% CI", "claim", "q", "status")
    for r in document["results"]:
        if r["status"] == "flagged":
            table.add_row(r["model_version"], r["stratum"], r["metric"], f"{r['estimate']:.3f}",
                          f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]", f"{r['claim']:.3f}", f"{r['q_value']:.2g}",
                          "FLAGGED")
    if table.row_count:
        out.print(table)
    if out_file is not None:
        say(f"  document written to {out_file}")
