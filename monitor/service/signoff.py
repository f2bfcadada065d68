"""Electronic sign-off of report revisions, and new revisions that supersede signed ones.

See :mod:`monitor.domain.signatures` for the rules. Signing re-authenticates the signer with an
injected ``authenticate(user_id, password)`` (the entry points pass
:func:`monitor.service.access.verify_password`), re-hashes the revision's files against the
SHA-256 recorded when they were written, freezes the revision on the first signature (the audit
record keeps every file's hash) and records the signature, in one transaction.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

from monitor.domain.signatures import check_signature
from monitor.errors import ConflictError, InputError, IntegrityError, NotFoundError
from monitor.service.ports import Clock, UnitOfWorkFactory

__all__ = ["Authenticate", "get_revision", "list_revisions", "sign_report", "supersede_report", "verify_revision_files"]

#: ``authenticate(user_id, password)`` returns the principal or raises AuthenticationError.
Authenticate = Callable[[str, str], Any]


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def verify_revision_files(revision: dict[str, Any]) -> dict[str, str]:
    """Re-hash the revision's files on disk against their recorded SHA-256; return ``{path: sha256}``.

    The JSON content file, when present, must also hash to the revision's ``content_sha256``.
    """
    if not revision["files"]:
        raise IntegrityError(f"report {revision['report_id']} has no recorded files")
    hashes = {}
    for f in revision["files"]:
        try:
            data = Path(f["path"]).read_bytes()
        except OSError as exc:
            raise IntegrityError(f"report file {f['path']} cannot be read: {exc.strerror}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != f["sha256"]:
            raise IntegrityError(f"report file {f['path']} was changed after it was recorded (SHA-256 differs)")
        if f["format"] == "json" and digest != revision["content_sha256"]:
            raise IntegrityError(f"report file {f['path']} does not hash to the revision's content SHA-256")
        hashes[f["path"]] = digest
    return hashes


def get_revision(report_id: str, *, uow: UnitOfWorkFactory) -> dict[str, Any]:
    """One revision with its files and signatures."""
    with uow() as unit:
        return unit.revisions.get(report_id)


def list_revisions(device_id: str, period: str | None = None, *, uow: UnitOfWorkFactory) -> list[dict[str, Any]]:
    """Revisions of a device (and period), newest first."""
    with uow() as unit:
        return unit.revisions.list(device_id, period)


def sign_report(report_id: str, *, meaning: str, user_id: str, password: str, authenticate: Authenticate,
                uow: UnitOfWorkFactory, clock: Clock) -> dict[str, Any]:
    """Sign revision ``report_id`` as ``meaning``; return the revision with its signatures."""
    authenticate(user_id, password)
    with uow() as unit:
        revision = unit.revisions.get(report_id, lock=True)
        newest = unit.revisions.newest_number(revision["device_id"], revision["period"])
        check_signature(meaning=meaning, user_id=user_id, status=revision["status"],
                        superseded=newest > revision["revision"], signatures=revision["signatures"])
        files = verify_revision_files(revision)
        user = unit.access.user(user_id)
        if user is None:
            raise NotFoundError(f"user {user_id!r} does not exist")
        at = clock()
        old = {"status": revision["status"], "frozen_at": _iso(revision["frozen_at"])}
        if revision["frozen_at"] is None:
            unit.revisions.freeze(report_id, at=at)
        unit.revisions.add_signature(report_id, user_id=user_id, printed_name=user["display_name"], meaning=meaning,
                                     signed_at=at, content_sha256=revision["content_sha256"])
        status = "signed" if meaning == "approved" else revision["status"]
        if status != revision["status"]:
            unit.revisions.set_status(report_id, status)
        unit.audit.append(at=at, actor=user_id, action="report.sign", entity="report", entity_id=report_id,
                          details={"meaning": meaning, "printed_name": user["display_name"],
                                   "revision": revision["revision"], "content_sha256": revision["content_sha256"],
                                   "files": files, "old": old,
                                   "new": {"status": status, "frozen_at": _iso(revision["frozen_at"] or at)}})
        return unit.revisions.get(report_id)


def supersede_report(old_report_id: str, new_report_id: str, *, reason: str, actor: str, uow: UnitOfWorkFactory,
                     clock: Clock) -> dict[str, Any]:
    """Record that revision ``new_report_id`` (newer, same device and period) supersedes ``old_report_id``."""
    if not reason.strip():
        raise InputError("a new revision needs a reason for the change")
    with uow() as unit:
        old, new = unit.revisions.get(old_report_id, lock=True), unit.revisions.get(new_report_id, lock=True)
        if (old["device_id"], old["period"]) != (new["device_id"], new["period"]) or new["revision"] <= old["revision"]:
            raise ConflictError(f"report {new_report_id} is not a newer revision of the report {old_report_id}")
        # Generating a revision already marks the previous one superseded (write_report); this records why,
        # once. Superseding by any other revision, or a second time, is refused.
        reasons = unit.audit.records(1, action="report.supersede", entity="report", entity_id=old_report_id)
        if reasons or (old["status"] == "superseded" and new["supersedes"] != old_report_id):
            raise ConflictError(f"report {old_report_id} is already superseded")
        at = clock()
        unit.revisions.supersede(old_report_id, by=new_report_id)  # done by write_report already; idempotent
        unit.audit.append(at=at, actor=actor, action="report.supersede", entity="report", entity_id=old_report_id,
                          details={"reason": reason, "superseded_by": new_report_id,
                                   "old": {"status": old["status"]}, "new": {"status": "superseded"}})
        return unit.revisions.get(new_report_id)
