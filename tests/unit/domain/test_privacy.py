"""Patient identifiers: the standard library's HMAC-SHA-256, the same digests as before the switch."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from monitor.domain.privacy import make_patient_hasher
from monitor.errors import MissingSecretError

#: Digests written by the former hand-written HMAC (stored hashes must keep linking patients).
FORMER = [
    ("0123456789abcdef-example", "P001", "0999985b3ad7e618b6af97499a59422d92b2df29b00b0678f85f01964031ffc0"),
    ("0123456789abcdef-example", "", "2a1adc622e42fe396f2e233c21dd46d47b7c80d9e2331e655606a2c4c7d404e6"),
    ("k" * 100, "P002", "6e023bf3a5a06c8a17a6600d5e24e66788f91c2b4479b8d68a32203a5534bbc5"),  # key > block size
    ("ключ-患者-0123456789", "患者-42", "5a1f8be5653b8ddece285354188ae0b56e25a31365886029966783f89cda6af7"),
    ("x" * 64, "PAT 7", "6928b6ba1d4a35ec70c88ba162de68ec6c7d51e79fe63a745dd656ba5167acba"),  # key = block size
]


@pytest.mark.parametrize(("key", "patient_id", "digest"), FORMER)
def test_same_digests_as_before_and_as_hmac_new(key: str, patient_id: str, digest: str) -> None:
    hasher = make_patient_hasher(key)
    assert hasher(patient_id) == digest
    assert digest == hmac.new(key.encode(), patient_id.encode(), hashlib.sha256).hexdigest()
    assert hasher(patient_id) == hasher(patient_id)  # the keyed state is copied, never consumed


def test_missing_or_short_key_is_a_clear_error() -> None:
    with pytest.raises(MissingSecretError, match="MONITOR_PATIENT_ID_KEY is not set"):
        make_patient_hasher(None)
    with pytest.raises(MissingSecretError, match="too short"):
        make_patient_hasher("short")


@pytest.mark.parametrize("key_length", [16, 63, 64, 65, 200])
def test_bulk_hashes_equal_hmac_new(key_length: int) -> None:
    """``many`` (the ingest's bulk path) and the single call are RFC 2104 HMAC-SHA-256, as ``hmac.new``."""
    key = "".join(chr(0x41 + (i * 7) % 900) for i in range(key_length))
    ids = ["", "P001", "患者-42", "x" * 300, "PAT 7", "P001"]
    hasher = make_patient_hasher(key)
    expected = [hmac.new(key.encode(), i.encode(), hashlib.sha256).hexdigest() for i in ids]
    assert hasher.many(ids) == expected  # type: ignore[attr-defined]
    assert [hasher(i) for i in ids] == expected
