"""Fixtures of the reliability tests: a small synthetic log, a registered database, child processes."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from pathlib import Path

import pytest
from reliability_support import EXAMPLE, PREDICTION_ROWS, Child  # type: ignore[import-not-found]


@pytest.fixture(scope="session")
def scenario_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A prediction log of PREDICTION_ROWS rows (2025Q3) and its ground truth, as CSV files."""
    from monitor.synthetic import generate, write_csv
    from monitor.synthetic.lung_nodule import DemoScenario

    folder = tmp_path_factory.mktemp("logs")
    data = generate(DemoScenario(scale=PREDICTION_ROWS / 300_000, quarters=("2025Q3",), drift_quarter=None))
    predictions = write_csv(data.predictions.head(PREDICTION_ROWS), folder / "predictions.csv")
    kept = set(data.predictions.head(PREDICTION_ROWS)["prediction_id"])
    truth = write_csv(data.ground_truth[data.ground_truth["prediction_id"].isin(kept)], folder / "truth.csv")
    return predictions, truth


@pytest.fixture
def registered_url(database_url: str) -> str:
    """A migrated database (SQLite and PostgreSQL) with the example device registered."""
    from monitor.adapters.config_file import load_device_config
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.devices import register_device
    from monitor.settings import Settings

    app = bootstrap(Settings(database_url=database_url, data_dir=Path("."), patient_id_key="k" * 32))
    register_device(load_device_config(EXAMPLE), uow=app.uow, clock=app.clock, actor="t", source=str(EXAMPLE))
    app.engine.dispose()
    return database_url


@pytest.fixture
def spawn() -> Iterator:  # type: ignore[type-arg]
    """Start a driver process (``spawn("ingest", url, file, chunk_rows)``); any still running at the end of
    the test is killed."""
    started: list[Child] = []

    def start(*args: object) -> Child:
        child = Child(*(str(a) for a in args))
        started.append(child)
        return child

    yield start
    for child in started:
        if child.process.poll() is None:
            child.kill()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``samd-monitor ARGS`` in this process: ``(exit status, stdout, stderr)``."""
    from monitor.entrypoints.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["samd-monitor", *args])
        try:
            main()
            status = 0
        except SystemExit as exc:
            status = int(exc.code or 0)
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


#: Seconds a load test may take: a hung server or client fails the test instead of blocking the suite.
LOAD_TIME_LIMIT = 240.0


@pytest.fixture(scope="module")
def bench_api() -> ModuleType:
    """``bench/bench_api.py`` as a module (the bench folder is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_api", Path(__file__).resolve().parents[2] / "bench" / "bench_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_api", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def within_limit() -> Callable[[Callable[[], Any]], Any]:
    """``within_limit(work)``: run ``work()`` in a thread and fail if it has not ended within LOAD_TIME_LIMIT."""

    def run_bounded(work: Callable[[], Any]) -> Any:
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["value"] = work()
            except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
                outcome["error"] = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(LOAD_TIME_LIMIT)
        assert not thread.is_alive(), f"the load did not finish within {LOAD_TIME_LIMIT:.0f} s"
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return run_bounded
