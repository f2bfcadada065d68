"""`samd-monitor ingest` with the FHIR example Bundles, as a user runs it (both engines; in-process CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.entrypoints.cli import app as cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def invoke(database_url: str, named_user: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MONITOR_DATABASE_URL", database_url)
    monkeypatch.setenv("MONITOR_USER", named_user)
    monkeypatch.setenv("MONITOR_PATIENT_ID_KEY", "e2e-key-0123456789abcdef")
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args))


def test_fhir_bundles_through_the_cli(invoke) -> None:  # type: ignore[no-untyped-def]
    assert invoke("device", "add", str(ROOT / "examples" / "lung-nodule-ct.yaml")).exit_code == 0
    predicted = invoke("ingest", "predictions", str(ROOT / "examples" / "fhir" / "predictions.fhir.json"), "--json")
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["accepted"] == 2
    truth = invoke("ingest", "ground-truth", str(ROOT / "examples" / "fhir" / "ground-truth.fhir.json"),
                   "--input-format", "fhir", "--device", "lung-nodule-ct", "--json")
    assert truth.exit_code == 0, truth.output
    assert (json.loads(truth.stdout)["accepted"], json.loads(truth.stdout)["rejected"]) == (2, 0)
    assert "dicom-sr" in invoke("ingest", "predictions", "--help").stdout
