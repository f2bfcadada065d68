"""The signed edition (21 CFR 11.50 / 11.70): a report authored by one user and approved by another is
re-rendered with status approved and each signer's printed name, role, meaning and UTC time on the page,
bound to the content SHA-256; re-rendering gives identical bytes; a second revision needs a reason, which the
audit records; an unknown acting user is refused. SQLite only: the storage paths are the ones
test_signoff.py runs on both engines; here the cost is the PDF rendering."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from monitor.adapters.files.report_store import LocalReportStore
from monitor.errors import InputError
from monitor.service.actors import acting_user, service_account
from monitor.service.audit import list_audit
from monitor.service.report import write_report
from monitor.service.signoff import check_signed_edition, sign_report

PASSWORDS = {"alice": "alice-correct-horse-1", "bob": "bob-battery-staple-2"}


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_signed_edition_prints_the_signatures_and_re_renders_identically(  # type: ignore[no-untyped-def]
        wide_margin_app, load_model, analyse, signers, tmp_path: Path) -> None:
    app = wide_margin_app
    load_model("A")
    analyse()
    first = write_report("lung-nodule-ct", "2025Q3", formats=["html", "pdf", "json"], languages=["en"],
                         out_dir=tmp_path / "out", uow=app.uow, clock=app.clock, actor="alice",
                         renderer=app.report_renderer)
    store = LocalReportStore()
    for user, meaning in (("alice", "authored"), ("bob", "approved")):
        revision = sign_report(first.report_id, meaning=meaning, user_id=user, password=PASSWORDS[user],
                               authenticate=signers, uow=app.uow, clock=app.clock, renderer=app.report_renderer,
                               store=store)
    signed = {f["format"]: f for f in revision["files"] if f["format"].startswith("signed-")}
    assert set(signed) == {"signed-html", "signed-pdf"}
    pdf = Path(signed["signed-pdf"]["path"])
    assert pdf.name == f"lung-nodule-ct_2025Q3_r{first.revision}.en.signed.pdf" and pdf.parent == first.files["json"].parent
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == signed["signed-pdf"]["sha256"]

    text = _text(pdf)
    assert "approved" in text and "Not signed yet" not in text
    assert "Status: approved" in " ".join(text.split())
    for s in revision["signatures"]:
        when = s["signed_at"].isoformat().replace("+00:00", "Z")
        assert s["printed_name"].split()[0] in text and s["meaning"] in text and when in text, (s, text[-3000:])
    assert "quality assurance" in text and first.content_sha256 in " ".join(text.split())
    original = _text(first.files["pdf:en"])  # the draft as generated is kept unchanged
    assert "Not signed yet" in original

    # byte-deterministic: the same revision and signatures re-render to the recorded bytes
    checked = check_signed_edition(first.report_id, uow=app.uow, renderer=app.report_renderer, store=store)
    assert checked[str(pdf)] == signed["signed-pdf"]["sha256"]
    [sign_record] = list_audit(uow=app.uow, action="report.sign", actor="bob")
    assert sign_record["details"]["signed_edition"]["signed-pdf:en"]["sha256"] == signed["signed-pdf"]["sha256"]

    # a second revision supersedes the first only with a reason, which the audit records with both ids
    with pytest.raises(InputError, match="--reason"):
        write_report("lung-nodule-ct", "2025Q3", formats=["json"], out_dir=tmp_path / "out", uow=app.uow,
                     clock=app.clock, actor="alice", renderer=app.report_renderer)
    second = write_report("lung-nodule-ct", "2025Q3", formats=["json"], out_dir=tmp_path / "out", uow=app.uow,
                          clock=app.clock, actor="alice", renderer=app.report_renderer,
                          reason="late ground truth of September")
    [record] = list_audit(uow=app.uow, action="report.supersede")
    assert record["actor"] == "alice" and record["entity_id"] == first.report_id
    assert record["details"]["reason"] == "late ground truth of September"
    assert (record["details"]["old_report_id"], record["details"]["new_report_id"]) == (first.report_id,
                                                                                       second.report_id)


def test_the_acting_user_is_a_named_user_of_the_system(app) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="no acting user.*samd-monitor user add"):
        acting_user(app.uow, None)
    with pytest.raises(InputError, match="'nobody' is not a user of this database.*samd-monitor user add"):
        acting_user(app.uow, "nobody")
    assert service_account(app.uow, "service:scheduler", clock=app.clock) == "service:scheduler"
    assert acting_user(app.uow, "service:scheduler") == "service:scheduler"
    service_account(app.uow, "service:scheduler", clock=app.clock)  # registered once
    [created] = list_audit(uow=app.uow, action="user.create")
    assert created["entity_id"] == "service:scheduler" and created["details"]["service_account"] is True
