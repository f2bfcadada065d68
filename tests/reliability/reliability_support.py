"""Helpers of the reliability tests: constants, table counts and the driver child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

__all__ = ["CHUNK_ROWS", "EXAMPLE", "PATIENT_KEY", "PREDICTION_ROWS", "REPORT_FORMATS", "TABLES", "Child", "counts"]

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "driver.py"
ROOT = HERE.parents[1]
EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"
PATIENT_KEY = "reliability-patient-key-0123456789"
PREDICTION_ROWS = 600
CHUNK_ROWS = 100
REPORT_FORMATS = ("html", "json", "csv", "xlsx")  # the driver's report (PDF only adds rendering time)
TABLES = ("ingestion_batches", "predictions", "ground_truth", "rejected_rows", "prediction_failures",
          "analysis_runs", "stratum_results", "findings", "tickets", "audit_log")


def counts(url: str) -> dict[str, int]:
    """Row counts of the tables an ingest or an analysis writes."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}
    finally:
        engine.dispose()


class Child:
    """A driver process whose stdout lines are read one at a time."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        self.process = subprocess.Popen([sys.executable, str(DRIVER), *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                        cwd=ROOT)

    def resume(self) -> None:
        """Let a paused child go on."""
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()

    def wait_for(self, line: str, times: int = 1, timeout: float = 120) -> None:
        """Block until ``line`` has been printed ``times`` times."""
        deadline, seen = time.monotonic() + timeout, 0
        assert self.process.stdout is not None
        while seen < times:
            got = self.process.stdout.readline()
            if not got:
                raise AssertionError(f"driver ended before {line!r} x{times}: {self.process.stderr.read()}")  # type: ignore[union-attr]
            seen += got.strip() == line
            assert time.monotonic() < deadline, f"driver too slow to print {line!r}"

    def kill(self) -> None:
        """SIGKILL the child (no clean-up of any kind can run) and reap it."""
        self.process.kill()
        self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream:
                stream.close()

    def finish(self, timeout: float = 180) -> list[str]:
        """Wait for a normal exit; return the remaining stdout lines."""
        out, err = self.process.communicate("\n" * 1000, timeout=timeout)
        assert self.process.returncode == 0, err
        return out.splitlines()
