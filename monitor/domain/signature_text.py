"""What a signature means and how it reads (21 CFR Part 11 §11.50): plain text, no models, so that the command
line imports it at start-up (the signature rules are in :mod:`monitor.domain.signatures`)."""

from __future__ import annotations

from typing import Literal

__all__ = ["MEANINGS", "Meaning", "manifestation"]

MEANINGS = ("authored", "reviewed", "approved")
Meaning = Literal["authored", "reviewed", "approved"]


def manifestation(printed_name: str, signed_at: str, meaning: str, content_sha256: str) -> str:
    """The human-readable form of a signature (§11.50)."""
    return f"{printed_name} - {meaning} - {signed_at} - content SHA-256 {content_sha256}"
