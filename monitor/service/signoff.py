"""Electronic sign-off of report revisions, their signed edition, and new revisions that supersede them.

See :mod:`monitor.domain.signatures` for the rules. Signing re-authenticates the signer with an
injected ``authenticate(user_id, password)`` (the entry points pass
:func:`monitor.service.access.verify_password`), re-hashes the revision's files against the
SHA-256 recorded when they were written, freezes the revision on the first signature (the audit
record keeps every file's hash) and records the signature, in one transaction.

The approval (the last signature) also writes the revision's **signed edition**: its HTML and PDF
re-rendered from the stored JSON content with the signatures on the page (status approved, each
signer's printed name, role, meaning and UTC time, bound to the content SHA-256; 21 CFR 11.50, 11.70),
through the report renderer and a report store (ports of :mod:`monitor.service.report`). It depends
only on the stored revision and signatures, so :func:`check_signed_edition` can re-render it and
compare bytes. docs/signoff.md.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from monitor.domain.signatures import SignatureLine, check_signature, report_status, signed_edition_name
from monitor.errors import ConflictError, InputError, IntegrityError, NotFoundError
from monitor.service.ports import Clock, UnitOfWorkFactory
from monitor.service.report import ReportRenderer, ReportStore

__all__ = ["SIGNED_PREFIX", "Authenticate", "check_signed_edition", "get_revision", "list_revisions",
           "render_signed_edition", "sign_report", "signed_identity", "supersede_report", "verify_revision_files"]

#: The ``reports.format`` prefix of the signed edition's files (``signed-html``, ``signed-pdf``).
SIGNED_PREFIX = "signed-"

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


def _signature_lines(unit: Any, revision: dict[str, Any]) -> list[SignatureLine]:
    """The revision's signatures as printed: name, role (the signer's role when signing, from the
    ``report.sign`` audit record; else their role in :mod:`monitor.service.access`), meaning, UTC time and
    the bound content SHA-256."""
    recorded = {(r["actor"], r["details"].get("meaning")): r["details"].get("role")
                for r in unit.audit.records(1000, action="report.sign", entity="report",
                                            entity_id=revision["report_id"])}
    lines = []
    for s in revision["signatures"]:
        role = recorded.get((s["user_id"], s["meaning"])) or (unit.access.user(s["user_id"]) or {}).get("role", "")
        lines.append(SignatureLine(user_id=s["user_id"], printed_name=s["printed_name"], role=role,
                                   meaning=s["meaning"], signed_at=_iso(s["signed_at"]) or "",
                                   content_sha256=s["content_sha256"]))
    return lines


def signed_identity(unit: Any, revision: dict[str, Any]) -> dict[str, Any]:
    """The identity a signed edition is rendered with: the revision's stored identity (id, number, languages,
    audit head recorded at generation, content SHA-256), its report status and its signatures. Nothing in it
    comes from the wall clock, so the same revision and signatures render the same bytes."""
    return {"report_id": revision["report_id"], "revision": revision["revision"],
            "status": report_status(revision["status"]), "languages": revision["languages"].split(","),
            "audit_head": revision["audit_head"], "content_sha256": revision["content_sha256"],
            "signatures": [line.model_dump() for line in _signature_lines(unit, revision)]}


def _stored_content(revision: dict[str, Any], store: ReportStore) -> dict[str, Any]:
    json_files = [f for f in revision["files"] if f["format"] == "json"]
    if not json_files:
        raise ConflictError(f"report {revision['report_id']} has no JSON content file, so its signed edition "
                            "cannot be rendered from its stored content: generate the report with --format json "
                            "(a new revision) and sign that one")
    data = store.read(Path(json_files[0]["path"]))
    if hashlib.sha256(data).hexdigest() != revision["content_sha256"]:
        raise IntegrityError(f"report file {json_files[0]['path']} does not hash to the revision's content SHA-256")
    return json.loads(data)  # type: ignore[no-any-return]


def render_signed_edition(unit: Any, revision: dict[str, Any], *, renderer: ReportRenderer,
                          store: ReportStore) -> list[tuple[str, str, Path, bytes]]:
    """The signed edition of ``revision``: ``(format, language, path, bytes)`` for each HTML and PDF file of
    the revision, re-rendered from its stored JSON content with :func:`signed_identity` (status approved,
    each signature's printed name, role, meaning and UTC time, bound to the content SHA-256), named
    ``<name>.signed.<suffix>`` beside the original. Nothing is written."""
    content = _stored_content(revision, store)
    identity = signed_identity(unit, revision)
    originals = [f for f in revision["files"] if f["format"] in ("html", "pdf") and f["language"]]
    languages = list(dict.fromkeys(f["language"] for f in originals))
    pages = {language: renderer.html(content, identity, language) for language in languages}
    wanted_pdf = [language for language in languages
                  if any(f["format"] == "pdf" and f["language"] == language for f in originals)]
    with renderer.pdfs([pages[language] for language in wanted_pdf]) as layout:
        pdfs = dict(zip(wanted_pdf, layout.result()))
    edition = []
    for f in originals:
        path = Path(f["path"])
        path = path.with_name(signed_edition_name(path.name))
        data = pages[f["language"]].encode("utf-8") if f["format"] == "html" else pdfs[f["language"]]
        edition.append((f"{SIGNED_PREFIX}{f['format']}", f["language"], path, data))
    return edition


def sign_report(report_id: str, *, meaning: str, user_id: str, password: str, authenticate: Authenticate,
                uow: UnitOfWorkFactory, clock: Clock, renderer: ReportRenderer | None = None,
                store: ReportStore | None = None) -> dict[str, Any]:
    """Sign revision ``report_id`` as ``meaning``; return the revision with its signatures.

    An approval (the revision's last signature) also writes its signed edition
    (:func:`render_signed_edition`) with ``renderer`` and ``store``, records each file in ``reports``
    (format ``signed-html`` / ``signed-pdf``) with its SHA-256 and lists them in the ``report.sign``
    audit record, in the same transaction. Without ``renderer`` and ``store`` no edition is written
    (the entry points always pass them).
    """
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
        edition: dict[str, dict[str, str]] = {}
        if status == "signed" and renderer is not None and store is not None:
            signed = unit.revisions.get(report_id)
            for fmt, language, path, data in render_signed_edition(unit, signed, renderer=renderer, store=store):
                digest = store.write(path, data)
                unit.reports.add(report_id=report_id, run_id=signed["run_id"], device_id=signed["device_id"],
                                 period=signed["period"], format=fmt, path=str(path), sha256=digest, at=at,
                                 actor=user_id, language=language)
                edition[f"{fmt}:{language}"] = {"path": str(path), "sha256": digest}
        unit.audit.append(at=at, actor=user_id, action="report.sign", entity="report", entity_id=report_id,
                          details={"meaning": meaning, "printed_name": user["display_name"], "role": user["role"],
                                   "revision": revision["revision"], "content_sha256": revision["content_sha256"],
                                   "files": files, "old": old, "signed_edition": edition or None,
                                   "new": {"status": status, "frozen_at": _iso(revision["frozen_at"] or at)}})
        return unit.revisions.get(report_id)  # type: ignore[no-any-return]


def check_signed_edition(report_id: str, *, uow: UnitOfWorkFactory, renderer: ReportRenderer,
                         store: ReportStore) -> dict[str, str]:
    """Re-render the signed edition of an approved revision and compare it byte for byte with the files
    recorded for it; return ``{path: sha256}``, or raise :class:`IntegrityError` naming the first file
    that differs (or :class:`ConflictError` when the revision has no signed edition)."""
    with uow() as unit:
        revision = unit.revisions.get(report_id)
        recorded = {(f["format"], f["language"]): f for f in revision["files"]
                    if f["format"].startswith(SIGNED_PREFIX)}
        if not recorded:
            raise ConflictError(f"report {report_id} (revision {revision['revision']}, {revision['status']}) has no "
                                "signed edition: it is written when the revision is approved")
        verify_revision_files(revision)
        edition = render_signed_edition(unit, revision, renderer=renderer, store=store)
    checked = {}
    for fmt, language, path, data in edition:
        digest = hashlib.sha256(data).hexdigest()
        row = recorded.get((fmt, language))
        if row is None or digest != row["sha256"]:
            raise IntegrityError(f"the signed edition {path} does not re-render to the recorded bytes: its "
                                 "signatures, identity or content differ from the stored revision")
        checked[str(path)] = digest
    return checked


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
