"""Pseudonymisation of patient identifiers.

Patient identifiers are replaced, at the edge, by a keyed hash (HMAC-SHA-256,
RFC 2104) so that the same patient links across logs without the identifier
ever being stored. Without the key the hash cannot be reversed by guessing
identifiers, unlike a plain hash of a short number.

References
----------
Krawczyk, Bellare & Canetti, "HMAC: Keyed-Hashing for Message Authentication", RFC 2104, 1997.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Callable

from monitor.errors import MissingSecretError

__all__ = ["PatientHasher", "make_patient_hasher"]

PatientHasher = Callable[[str], str]

MIN_KEY_LENGTH = 16


def make_patient_hasher(key: str | None) -> PatientHasher:
    """Return a function mapping a patient identifier to its keyed hash (64 hex digits).

    Examples
    --------
    >>> h = make_patient_hasher("0123456789abcdef-example")
    >>> h("P001") == h("P001"), h("P001") == h("P002"), len(h("P001"))
    (True, False, 64)
    """
    if not key:
        raise MissingSecretError(
            "MONITOR_PATIENT_ID_KEY is not set: patient identifiers are stored only as a keyed hash, "
            "so a secret key is required (e.g. `export MONITOR_PATIENT_ID_KEY=$(openssl rand -hex 32)`); "
            "keep it stable, or hashes will no longer link across files"
        )
    if len(key) < MIN_KEY_LENGTH:
        raise MissingSecretError(f"MONITOR_PATIENT_ID_KEY is too short: use at least {MIN_KEY_LENGTH} characters")
    # The standard library's HMAC (RFC 2104); the keyed state is computed once and copied per identifier.
    keyed = hmac.new(key.encode("utf-8"), digestmod=hashlib.sha256)

    def patient_hash(patient_id: str) -> str:
        state = keyed.copy()
        state.update(patient_id.encode("utf-8"))
        return state.hexdigest()

    return patient_hash
