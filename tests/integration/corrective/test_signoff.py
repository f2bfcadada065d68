"""Electronic sign-off: re-authentication, the first signature freezes the revision, a frozen revision cannot
be altered, only superseded by a new revision; signatures and audit records carry the Part 11 elements
(both engines)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from monitor.errors import AuthenticationError, ConflictError, IntegrityError
from monitor.service.audit import list_audit, verify_audit
from monitor.service.signoff import get_revision, sign_report, supersede_report

PASSWORDS = {"alice": "alice-correct-horse-1", "bob": "bob-battery-staple-2"}


def _sign(app, auth, report_id: str, user: str, meaning: str, password: str | None = None):  # type: ignore[no-untyped-def]
    return sign_report(report_id, meaning=meaning, user_id=user, password=password or PASSWORDS[user],
                       authenticate=auth, uow=app.uow, clock=app.clock)


def test_signing_freezes_and_only_a_new_revision_can_change_the_report(app, signers, make_revision) -> None:  # type: ignore[no-untyped-def]
    first = make_revision("draft findings")
    with pytest.raises(AuthenticationError):
        _sign(app, signers, first, "alice", "authored", password="wrong-password-123")
    assert get_revision(first, uow=app.uow)["frozen_at"] is None

    authored = _sign(app, signers, first, "alice", "authored")
    assert authored["frozen_at"] is not None and authored["status"] == "draft"
    [signature] = authored["signatures"]
    assert signature["printed_name"] == "Alice Zhang 张爱丽" and signature["meaning"] == "authored"
    assert signature["content_sha256"] == authored["content_sha256"]
    assert signature["signed_at"] == authored["frozen_at"]

    with app.uow() as unit, pytest.raises(ConflictError, match="frozen .* cannot be altered"):
        unit.revisions.add_file(first, format="pdf", language="en", path="x.pdf", sha256="0" * 64,
                                at=datetime.now(timezone.utc), actor="someone")
    with pytest.raises(ConflictError, match="separation of duties"):
        _sign(app, signers, first, "alice", "approved")
    with pytest.raises(ConflictError, match="already signed"):
        _sign(app, signers, first, "alice", "authored")

    approved = _sign(app, signers, first, "bob", "approved")
    assert approved["status"] == "signed" and [s["meaning"] for s in approved["signatures"]] == ["authored", "approved"]
    with pytest.raises(ConflictError, match="already approved: its signed edition is final"):
        _sign(app, signers, first, "bob", "reviewed")  # the approval is the last signature of a revision

    # a change: the next revision supersedes the signed one, which can no longer be signed
    second = make_revision("corrected findings")
    revised = supersede_report(first, second, reason="typo in the emphysema section", actor="alice",
                               uow=app.uow, clock=app.clock)
    assert revised["supersedes"] == first and revised["revision"] == 2 and revised["status"] == "draft"
    old = get_revision(first, uow=app.uow)
    assert old["status"] == "superseded" and len(old["signatures"]) == 2
    with pytest.raises(ConflictError, match="superseded"):
        _sign(app, signers, first, "bob", "reviewed")
    with pytest.raises(ConflictError, match="already superseded"):
        supersede_report(first, second, reason="again", actor="alice", uow=app.uow, clock=app.clock)

    records = list_audit(uow=app.uow, action="report.")
    assert [r["action"] for r in reversed(records)] == ["report.sign", "report.sign", "report.supersede"]
    sign_record = records[-1]
    assert sign_record["actor"] == "alice" and sign_record["details"]["meaning"] == "authored"
    assert sign_record["details"]["old"]["frozen_at"] is None and sign_record["details"]["new"]["frozen_at"]
    assert len(sign_record["details"]["files"]) == 3
    verify_audit(uow=app.uow)


def test_changed_files_cannot_be_signed(app, signers, make_revision) -> None:  # type: ignore[no-untyped-def]
    report_id = make_revision()
    path = Path(get_revision(report_id, uow=app.uow)["files"][1]["path"])
    path.write_bytes(path.read_bytes() + b"<!-- edited -->")
    with pytest.raises(IntegrityError, match="changed after it was recorded"):
        _sign(app, signers, report_id, "alice", "authored")
    assert get_revision(report_id, uow=app.uow)["signatures"] == []
