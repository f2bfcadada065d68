"""The submission archive: complete, deterministic, valid against its schema; verification names a changed
byte, an extra or missing file and a zip-slip entry (both engines)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from monitor.errors import ConflictError, IntegrityError
from monitor.service.signoff import sign_report
from monitor.service.submission import export_submission, verify_submission

ROOT = Path(__file__).resolve().parents[3]
PASSWORDS = {"alice": "alice-correct-horse-1", "bob": "bob-battery-staple-2"}


def _rewrite(source: Path, target: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """Copy an archive entry by entry through ``change(name, data) -> [(name, data), ...]``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            for name, data in change(info.filename, old.read(info.filename)):
                new.writestr(name, data)
    return target


@pytest.fixture
def archive(app, signers, make_revision, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    report_id = make_revision()
    with pytest.raises(ConflictError, match="not approved"):
        export_submission("lung-nodule-ct", "2025Q3", tmp_path / "draft.zip", uow=app.uow)
    for user, meaning in (("alice", "authored"), ("bob", "approved")):
        sign_report(report_id, meaning=meaning, user_id=user, password=PASSWORDS[user], authenticate=signers,
                    uow=app.uow, clock=app.clock)
    path = tmp_path / "submission.zip"
    export_submission("lung-nodule-ct", "2025Q3", path, uow=app.uow)
    return path


def test_archive_is_complete_deterministic_and_verifies(app, archive: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = verify_submission(archive)
    schema = json.loads((ROOT / "schemas" / "submission_manifest.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator(schema, format_checker=FormatChecker()).validate(manifest)
    names = [f["path"] for f in manifest["files"]]
    assert names == ["README.txt", "report/r.en.html", "report/r.json", "report/r.zh-CN.html",
                     "tables/stratum_results.csv", "tables/ticket_transitions.csv", "tables/tickets.csv"]
    assert manifest["report"]["status"] == "signed" and len(manifest["report"]["signatures"]) == 2
    assert manifest["analysis"] == {"run_id": "run-q3", "input_fingerprint": "f" * 64, "config_hash": "c" * 64,
                                    "data_cutoff": "2026-02-01T00:00:00Z", "software_version": "0.test"}
    with app.uow() as unit:
        assert manifest["audit_chain_head"] == unit.audit.head()
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == sorted(z.namelist())
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        readme = z.read("README.txt").decode("utf-8")
    assert "export verify" in readme and "校验" in readme
    again = export_submission("lung-nodule-ct", "2025Q3", tmp_path / "again.zip", uow=app.uow)
    assert again == manifest and (tmp_path / "again.zip").read_bytes() == archive.read_bytes()


def test_tampered_archives_are_named(archive: Path, tmp_path: Path) -> None:
    changed = _rewrite(archive, tmp_path / "changed.zip",
                       lambda n, d: [(n, d.replace(b"draft", b"DRAFT") if n == "report/r.en.html" else d)])
    with pytest.raises(IntegrityError, match="report/r.en.html: SHA-256 differs"):
        verify_submission(changed)
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("report/r.json")
    raw = bytearray(archive.read_bytes())
    data_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)  # local header size
    raw[data_start + info.compress_size // 2] ^= 0x01  # one bit inside the entry's compressed bytes
    flipped = tmp_path / "flipped.zip"
    flipped.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="report/r.json"):
        verify_submission(flipped)
    extra = _rewrite(archive, tmp_path / "extra.zip",
                     lambda n, d: [(n, d)] + ([("report/extra.html", b"<p>late addition</p>")] if n == "README.txt" else []))
    with pytest.raises(IntegrityError, match="not listed in the manifest: report/extra.html"):
        verify_submission(extra)
    missing = _rewrite(archive, tmp_path / "missing.zip", lambda n, d: [] if n == "tables/tickets.csv" else [(n, d)])
    with pytest.raises(IntegrityError, match="missing: tables/tickets.csv"):
        verify_submission(missing)
    for evil in ("../../etc/cron.d/evil", "/abs/path.txt", "report\\..\\x.txt"):
        slip = _rewrite(archive, tmp_path / "slip.zip", lambda n, d: [(n, d)] + ([(evil, b"x")] if n == "README.txt" else []))
        with pytest.raises(IntegrityError, match="unsafe path"):
            verify_submission(slip)
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(IntegrityError, match="not a readable ZIP"):
        verify_submission(not_zip)
