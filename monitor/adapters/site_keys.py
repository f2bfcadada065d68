"""Ed25519 key pairs of sites, signing and verification (the ``cryptography`` package).

A site's private key is a PKCS #8 PEM file created with mode 0600 (never readable by others, not
even for an instant); its public key a SubjectPublicKeyInfo PEM file. A key is named by its *key
id*: the SHA-256 of the raw 32-byte public key, in hex.

Reference: Josefsson & Liusvaara, "Edwards-Curve Digital Signature Algorithm (EdDSA)", RFC 8032, 2017.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from monitor.errors import InputError

__all__ = ["KeyPairFiles", "Signer", "key_id", "load_public_key", "load_signer", "verify", "write_key_pair"]

_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """The id of a raw 32-byte Ed25519 public key: its SHA-256 in hex."""
    return hashlib.sha256(public_key).hexdigest()


class KeyPairFiles:
    """Where ``write_key_pair`` put a key pair, and the public key's id."""

    def __init__(self, private: Path, public: Path, public_key: bytes) -> None:
        self.private = private
        self.public = public
        self.key_id = key_id(public_key)


def _exclusive_write(path: Path, data: bytes, mode: int) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise InputError(f"{path} exists: remove it or choose another --out folder (keys are never overwritten)") \
            from exc
    except OSError as exc:
        raise InputError(f"cannot create {path}: {exc.strerror}") from exc
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # the umask may have narrowed it further; state it exactly


def write_key_pair(folder: Path, name: str) -> KeyPairFiles:
    """Create ``folder/name.key`` (private, mode 0600) and ``folder/name.pub`` (public, mode 0644)."""
    folder.mkdir(parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise InputError(f"{path} exists: remove it or choose another --out folder (keys are never overwritten)")
    _exclusive_write(private_path, private_pem, 0o600)
    _exclusive_write(public_path, public_pem, 0o644)
    return KeyPairFiles(private_path, public_path, private_key.public_key().public_bytes(*_RAW))


def load_public_key(path: Path) -> bytes:
    """The raw 32-byte public key in a PEM public-key file."""
    try:
        loaded = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InputError(f"{path} is not a PEM public key (write one with `samd-monitor site keygen`)") from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise InputError(f"{path} is not an Ed25519 public key")
    return loaded.public_bytes(*_RAW)


class Signer:
    """Signs messages with a site's private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(*_RAW)
        self.key_id = key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)


def load_signer(path: Path) -> Signer:
    """A signer from a private-key file; refuse one that others may read."""
    try:
        mode, data = path.stat().st_mode, path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise InputError(f"{path} may be read by other users: `chmod 600 {path}` first")
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path} is not an unencrypted PEM private key (write one with `samd-monitor site keygen`)") \
            from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise InputError(f"{path} is not an Ed25519 private key")
    return Signer(loaded)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
