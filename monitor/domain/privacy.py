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
    # HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), RFC 2104 section 2: the two keyed states are
    # computed once and copied per identifier (hmac.new(...).copy() does the same through more Python).
    secret = key.encode("utf-8")
    block = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def patient_hash(patient_id: str) -> str:
        first = inner.copy()
        first.update(patient_id.encode("utf-8"))
        second = outer.copy()
        second.update(first.digest())
        return second.hexdigest()

    return patient_hash
