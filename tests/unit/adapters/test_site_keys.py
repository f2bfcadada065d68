"""Site key pairs: private keys created 0600 and never overwritten, signatures that verify only unaltered."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from monitor.adapters.site_keys import key_id, load_public_key, load_signer, verify, write_key_pair
from monitor.errors import InputError


def test_key_pair_files_modes_and_ids(tmp_path: Path) -> None:
    files = write_key_pair(tmp_path / "keys", "site-a")
    assert stat.S_IMODE(files.private.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.public.stat().st_mode) == 0o644
    public = load_public_key(files.public)
    assert len(public) == 32 and files.key_id == key_id(public) == load_signer(files.private).key_id
    with pytest.raises(InputError, match="exists"):
        write_key_pair(tmp_path / "keys", "site-a")


def test_signatures_verify_only_for_the_signed_message_and_key(tmp_path: Path) -> None:
    signer = load_signer(write_key_pair(tmp_path, "a").private)
    other = load_signer(write_key_pair(tmp_path, "b").private)
    message = b'{"cells":[]}'
    signature = signer.sign(message)
    assert len(signature) == 64
    assert verify(signer.public_key, message, signature)
    assert not verify(signer.public_key, message + b" ", signature)
    assert not verify(other.public_key, message, signature)
    assert not verify(signer.public_key, message, bytes(64))
    assert not verify(b"short", message, signature)


def test_unusable_key_files_are_refused(tmp_path: Path) -> None:
    files = write_key_pair(tmp_path, "a")
    files.private.chmod(0o644)
    with pytest.raises(InputError, match="may be read by other users"):
        load_signer(files.private)
    files.private.chmod(0o600)
    with pytest.raises(InputError, match="not an unencrypted PEM private key"):
        load_signer(_private_copy(files.public, tmp_path))
    with pytest.raises(InputError, match="not a PEM public key"):
        load_public_key(files.private)
    with pytest.raises(InputError, match="cannot read"):
        load_public_key(tmp_path / "missing.pub")


def _private_copy(path: Path, folder: Path) -> Path:
    copy = folder / "public-as-private.key"
    copy.write_bytes(path.read_bytes())
    copy.chmod(0o600)
    return copy
