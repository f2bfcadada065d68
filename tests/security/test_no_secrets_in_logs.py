"""No patient identifier and no token secret in any log of a full run: ``samd-monitor demo`` (small scale),
then ``samd-monitor serve`` on its database (JSON logs at debug level) with tokens used, refused, revoked
and expired, logs posted with raw patient ids, and rejected rows. Every raw patient id of the generated
logs and every token secret is then looked for in: the demo's output, the service's log lines, the audit
log, every text value of the database, and the report files written as text."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

CLI = str(Path(sys.executable).parent / "samd-monitor")
DEVICE = "lung-nodule-ct"
API_PATIENT_KEY = "log-scan-patient-key-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tokens(url: str) -> dict[str, str]:
    """A device token, a QA token, a revoked and an expired one (made with the real KDF cost)."""
    from monitor.entrypoints.bootstrap import bootstrap, utc_now
    from monitor.service.access import create_token, revoke_token
    from monitor.settings import Settings

    app = bootstrap(Settings(database_url=url, data_dir=Path("."), patient_id_key=API_PATIENT_KEY))
    try:
        def make(name: str, role: str, **kw: object) -> tuple[str, str]:
            return create_token(app.uow, name=name, role=role, clock=utc_now, actor="t", **kw)  # type: ignore[arg-type]

        tokens = {"device": make("gw", "device", device_id=DEVICE)[1], "qa": make("qa", "qa")[1],
                  "expired": make("old", "qa", expires_in=timedelta(seconds=1))[1]}
        revoked_id, tokens["revoked"] = make("gone", "auditor")
        revoke_token(app.uow, revoked_id, clock=utc_now, actor="t")
    finally:
        app.engine.dispose()
    return tokens


def _api_session(base: str, tokens: dict[str, str], rows: list[dict[str, str]]) -> list[int]:
    """Posts with raw patient ids (accepted, rejected), reads, and denied calls; the statuses answered."""
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    accepted = [r | {"prediction_id": f"api-{r['prediction_id']}"} for r in rows[:40]]
    rejected = [r | {"prediction_id": f"bad-{r['prediction_id']}", "score": "7.5"} for r in rows[40:50]]
    body = "".join(json.dumps(r) + "\n" for r in accepted + rejected).encode()
    wrong = tokens["qa"][:-4] + ("AAAA" if not tokens["qa"].endswith("AAAA") else "BBBB")
    with httpx.Client(base_url=base, timeout=60) as client:
        calls = [
            client.post(f"/v1/devices/{DEVICE}/predictions", content=body,
                        headers=bearer(tokens["device"]) | {"Content-Type": "application/x-ndjson"}),
            client.post("/v1/devices/other-device/predictions", json=accepted[:2], headers=bearer(tokens["device"])),
            client.get("/v1/rejected-rows", headers=bearer(tokens["qa"])),
            client.get("/v1/audit", headers=bearer(tokens["qa"])),
            client.get("/v1/audit", headers=bearer(tokens["device"])),
            client.get("/v1/report-files", headers=bearer(tokens["qa"])),
            client.get("/v1/devices", headers=bearer(tokens["revoked"])),
            client.get("/v1/devices", headers=bearer(tokens["expired"])),
            client.get("/v1/devices", headers=bearer(wrong)),
            client.get("/v1/devices"),
            client.get("/v1/devices", headers={"Authorization": f"Basic {tokens['qa']}"}),
        ]
    return [c.status_code for c in calls]


def _database_text(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return "\n".join(conn.iterdump())


@pytest.mark.slow
def test_no_patient_id_or_token_secret_in_any_log(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    out = tmp_path / "demo"
    demo = subprocess.run([CLI, "demo", "--out-dir", str(out), "--scale", "0.001"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert demo.returncode == 0, demo.stderr
    rows = []
    for path in sorted((out / "logs").glob("predictions_*.csv")):  # the demo's monthly deliveries
        with path.open(encoding="utf-8", newline="") as handle:
            rows += list(csv.DictReader(handle))
    patient_ids = {r["patient_id"] for r in rows}
    assert len(patient_ids) > 100

    database = out / "demo.sqlite"
    url = f"sqlite:///{database.as_posix()}"
    tokens = _tokens(url)
    time.sleep(1.1)  # the expired token's second is over
    port = _free_port()
    server = subprocess.Popen([CLI, "serve", "--no-scheduler", "--port", str(port), "--log-level", "debug"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env | {"MONITOR_DATABASE_URL": url, "MONITOR_PATIENT_ID_KEY": API_PATIENT_KEY})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        statuses = _api_session(base, tokens, rows)
    finally:
        server.send_signal(signal.SIGTERM)
        served_out, served_err = server.communicate(timeout=120)
    assert statuses == [200, 403, 200, 200, 403, 200, 401, 401, 401, 401, 401], statuses

    log_lines = [json.loads(line) for line in served_err.splitlines() if line.strip()]  # every line is JSON
    denied = [line for line in log_lines if line.get("event") == "request_denied"]
    assert sorted(d["status"] for d in denied) == [401] * 5 + [403] * 2
    assert any(d.get("token_id") == tokens["device"].split("_")[1] for d in denied)  # ids are logged, secrets not

    with closing(sqlite3.connect(database)) as conn:
        audit = json.dumps([list(r) for r in conn.execute("SELECT * FROM audit_log")], default=str)
        stored_rejections = conn.execute("SELECT count(*) FROM rejected_rows").fetchone()[0]
    assert stored_rejections >= 10
    texts = {"demo output": demo.stdout + demo.stderr, "service log": served_out + served_err, "audit log": audit,
             "report files": "\n".join(p.read_text(encoding="utf-8") for p in (out / "reports").iterdir()
                                       if p.suffix in (".json", ".csv", ".html"))}
    secrets = {name: token for name, token in tokens.items()} | {
        f"{name} secret": token.split("_", 2)[2] for name, token in tokens.items()}
    for where, text in texts.items():
        for name, secret in secrets.items():
            assert secret not in text, f"the {name} token is in the {where}"
        leaked = sorted(p for p in patient_ids if p in text)
        assert not leaked, f"raw patient ids in the {where}: {leaked[:5]}"
    words = set(re.findall(r"[A-Za-z0-9_-]+", _database_text(database)))
    assert not patient_ids & words, f"raw patient ids in the database: {sorted(patient_ids & words)[:5]}"
    assert not {t.split("_", 2)[2] for t in tokens.values()} & words, "a token secret is in the database"
