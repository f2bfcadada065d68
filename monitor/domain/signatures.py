"""Electronic signatures of report revisions (21 CFR Part 11 §11.50, §11.70, §11.200).

A signature records the signer's printed name, the date and time, its meaning (authored, reviewed,
approved) and the revision's content SHA-256 (the hash of its canonical JSON content, which every
rendered file states), linking the signature to exactly that content (§11.70). The first signature
freezes the revision; an approval makes it ``signed``. Every signing re-authenticates with both
identification components (user id and password, §11.200(a)(1)). One person may not both author and
approve the same revision (separation of duties), and a revision with a newer revision cannot be signed.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from monitor.errors import ConflictError, InputError

__all__ = ["MEANINGS", "check_signature", "manifestation"]

MEANINGS = ("authored", "reviewed", "approved")


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
    if meaning == "approved" and any(s["meaning"] == "approved" for s in existing):
        raise ConflictError("this revision is already approved")
    conflicting = {"authored": "approved", "approved": "authored"}.get(meaning)
    if conflicting and any(s["user_id"] == user_id and s["meaning"] == conflicting for s in existing):
        raise ConflictError(f"{user_id} {conflicting} this revision and cannot also sign it as {meaning} "
                            "(separation of duties)")


def manifestation(printed_name: str, signed_at: str, meaning: str, content_sha256: str) -> str:
    """The human-readable form of a signature (§11.50)."""
    return f"{printed_name} - {meaning} - {signed_at} - content SHA-256 {content_sha256}"
