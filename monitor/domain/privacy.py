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
from typing import Callable, Iterable

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
    return _KeyedHash(key.encode("utf-8"))


class _KeyedHash:
    """HMAC-SHA-256 (RFC 2104) of identifiers under one key: the inner and outer SHA-256 states of the key
    (``K xor ipad``, ``K xor opad``; a key longer than the 64-byte block is hashed first) are computed once
    and copied per identifier, which is what ``hmac.new(key, id, sha256)`` computes, without building an
    HMAC object per identifier. :meth:`many` hashes a list in one call."""

    _BLOCK = 64  # SHA-256's block size in bytes

    def __init__(self, key: bytes) -> None:
        if len(key) > self._BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(self._BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, patient_id: str) -> str:
        inner = self._inner.copy()
        inner.update(patient_id.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def many(self, patient_ids: Iterable[str]) -> list[str]:
        """The keyed hash of each of ``patient_ids``, in order."""
        inner_state, outer_state = self._inner, self._outer
        hashes = []
        for patient_id in patient_ids:
            inner = inner_state.copy()
            inner.update(patient_id.encode("utf-8"))
            outer = outer_state.copy()
            outer.update(inner.digest())
            hashes.append(outer.hexdigest())
        return hashes
