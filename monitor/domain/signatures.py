"""Electronic signatures of report revisions (21 CFR Part 11 §11.50, §11.70, §11.200).

A signature records the signer's printed name, the date and time, its meaning (authored, reviewed,
approved) and the revision's content SHA-256 (the hash of its canonical JSON content, which every
rendered file states), linking the signature to exactly that content (§11.70). The first signature
freezes the revision; an approval makes it approved (stored status ``signed``) and is the last
signature of the revision: its *signed edition* (the pages re-rendered with the signatures) is then
final. Every signing re-authenticates with both identification components (user id and password,
§11.200(a)(1)). One person may not both author and approve the same revision (separation of duties),
and a revision with a newer revision cannot be signed.

The report's own status vocabulary is draft / approved / superseded (docs: regulatory.md section 2,
item 1); :func:`report_status` maps the stored revision status onto it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from monitor.domain.signature_text import MEANINGS, Meaning, manifestation
from monitor.errors import ConflictError, InputError

__all__ = ["MEANINGS", "ReportStatus", "SignatureLine", "check_reason", "check_signature", "manifestation",
           "report_status", "signed_edition_name"]

#: The status a report prints (regulatory.md section 2, item 1).
ReportStatus = Literal["draft", "approved", "superseded"]
_STORED_TO_REPORT: dict[str, ReportStatus] = {"draft": "draft", "signed": "approved", "superseded": "superseded"}


class SignatureLine(BaseModel):
    """One signature as the signed edition prints it (§11.50: printed name, date and time, meaning; plus the
    signer's role and the content SHA-256 the signature is bound to, §11.70)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str
    printed_name: str
    role: str
    meaning: Meaning
    signed_at: str  # UTC, ISO 8601 with Z
    content_sha256: str


def report_status(stored: str) -> ReportStatus:
    """The report's status word for a stored revision status (``signed`` is printed ``approved``)."""
    try:
        return _STORED_TO_REPORT[stored]
    except KeyError:
        raise InputError(f"unknown revision status {stored!r}") from None


def check_signature(*, meaning: str, user_id: str, status: str, superseded: bool,
                    signatures: Iterable[Mapping[str, object]]) -> None:
    """Raise unless ``user_id`` may sign a revision in ``status`` with ``meaning``."""
    if meaning not in MEANINGS:
        raise InputError(f"unknown signature meaning {meaning!r}: use {', '.join(MEANINGS)}")
    if superseded or status == "superseded":
        raise ConflictError("this revision is superseded by a newer revision: sign the newest revision instead")
    existing = list(signatures)
    if any(s["user_id"] == user_id and s["meaning"] == meaning for s in existing):
        raise ConflictError(f"{user_id} has already signed this revision as {meaning}")
    if any(s["meaning"] == "approved" for s in existing):
        raise ConflictError("this revision is already approved: its signed edition is final (an approval is the "
                            "last signature); a further signature needs a new revision")
    conflicting = {"authored": "approved", "approved": "authored"}.get(meaning)
    if conflicting and any(s["user_id"] == user_id and s["meaning"] == conflicting for s in existing):
        raise ConflictError(f"{user_id} {conflicting} this revision and cannot also sign it as {meaning} "
                            "(separation of duties)")


def check_reason(reason: str | None, *, revision: int, option: str) -> str:
    """The stripped reason for making revision ``revision``; revision 2 and later need one, named by ``option``
    (a new revision supersedes the previous one: 21 CFR 11.10(e), changes must not obscure earlier records and
    are recorded with why)."""
    text = (reason or "").strip()
    if revision > 1 and not text:
        raise InputError(f"this would be revision {revision}, which supersedes revision {revision - 1}: "
                         f"give the reason for the change with {option}")
    return text


def signed_edition_name(name: str) -> str:
    """The file name of the signed edition of a rendered file: ``x_r1.en.pdf`` -> ``x_r1.en.signed.pdf``."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.signed.{suffix}" if dot else f"{name}.signed"
