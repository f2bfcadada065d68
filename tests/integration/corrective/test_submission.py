"""The submission archive: complete, deterministic, valid against its schema, audited; an approved revision's
signed edition is what it carries; verification names a changed byte, an extra or missing file and a zip-slip
entry (both engines)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from monitor.adapters.files.report_store import LocalReportStore
from monitor.errors import ConflictError, IntegrityError
from monitor.service.audit import list_audit
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


class PageRenderer:
    """Stands in for the report renderer: a page naming the identity's status and signatures."""

    def html(self, content, identity, language):  # type: ignore[no-untyped-def]
        lines = [f"{s['printed_name']} {s['role']} {s['meaning']} {s['signed_at']}" for s in identity["signatures"]]
        return f"<p>{content['text']} {identity['status']} {language}: {'; '.join(lines)}</p>"

    def pdfs(self, htmls):  # type: ignore[no-untyped-def]
        return _Laid([html.encode("utf-8") for html in htmls])


class _Laid:
    """Stands in for the PDF layout job: the pages' bytes, at once."""

    def __init__(self, pdfs):  # type: ignore[no-untyped-def]
        self._pdfs = pdfs

    def result(self):  # type: ignore[no-untyped-def]
        return self._pdfs

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc):  # type: ignore[no-untyped-def]
        return None


def _export(app, path: Path, **kwargs):  # type: ignore[no-untyped-def]
    return export_submission("lung-nodule-ct", "2025Q3", path, uow=app.uow, clock=app.clock, actor="carol", **kwargs)


@pytest.fixture
def archive(app, signers, make_revision, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    report_id = make_revision()
    with pytest.raises(ConflictError, match="not approved"):
        _export(app, tmp_path / "draft.zip")
    for user, meaning in (("alice", "authored"), ("bob", "approved")):
        sign_report(report_id, meaning=meaning, user_id=user, password=PASSWORDS[user], authenticate=signers,
                    uow=app.uow, clock=app.clock, renderer=PageRenderer(), store=LocalReportStore())
    path = tmp_path / "submission.zip"
    _export(app, path)
    return path


def test_archive_is_complete_deterministic_and_verifies(app, archive: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = verify_submission(archive)
    schema = json.loads((ROOT / "schemas" / "submission_manifest.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator(schema, format_checker=FormatChecker()).validate(manifest)
    names = [f["path"] for f in manifest["files"]]
    assert names == ["README.txt", "report/r.en.signed.html", "report/r.json", "report/r.zh-CN.signed.html",
                     "tables/stratum_results.csv", "tables/ticket_transitions.csv", "tables/tickets.csv"]
    assert manifest["report"]["status"] == "signed" and len(manifest["report"]["signatures"]) == 2
    assert manifest["report"]["edition"] == "signed"
    with zipfile.ZipFile(archive) as z:
        page = z.read("report/r.en.signed.html").decode("utf-8")
    assert "approved en: Alice Zhang 张爱丽 qa authored 20" in page and "Bob Li 李博 qa approved" in page
    assert manifest["analysis"] == {"run_id": "run-q3", "input_fingerprint": "f" * 64, "config_hash": "c" * 64,
                                    "data_cutoff": "2026-02-01T00:00:00Z", "software_version": "0.test"}
    [export] = list_audit(uow=app.uow, action="report.export")  # the export is audited, after the archive is built
    assert export["actor"] == "carol" and export["details"]["file"] == str(archive)
    assert export["details"]["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    with app.uow() as unit:
        assert manifest["audit_chain_head"] == unit.audit.records(2)[1]["hash"]
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == sorted(z.namelist())
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        readme = z.read("README.txt").decode("utf-8")
    assert "export verify" in readme and "校验" in readme
    again = _export(app, tmp_path / "again.zip")  # the same revision: only the manifest's audit head moved on
    moved = ("audit_chain_head", "audit_checkpoint", "files")
    assert {k: v for k, v in again.items() if k not in moved} == {k: v for k, v in manifest.items() if k not in moved}
    assert again["audit_chain_head"] == export["hash"]
    with zipfile.ZipFile(archive) as one, zipfile.ZipFile(tmp_path / "again.zip") as two:
        assert [(i.filename, i.CRC) for i in one.infolist() if i.filename != "manifest.json"] == \
            [(i.filename, i.CRC) for i in two.infolist() if i.filename != "manifest.json"]


def test_tampered_archives_are_named(archive: Path, tmp_path: Path) -> None:
    changed = _rewrite(archive, tmp_path / "changed.zip",
                       lambda n, d: [(n, d.replace(b"approved", b"APPROVED") if n == "report/r.en.signed.html" else d)])
    with pytest.raises(IntegrityError, match="report/r.en.signed.html: SHA-256 differs"):
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
