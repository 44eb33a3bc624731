"""Ed25519 keys for signing manifests (the `cryptography` library does the crypto)."""
from __future__ import annotations

import os
from typing import Any

from tpython.integrity.errors import IntegrityError, read_trust_file


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - a dependency of the package
        raise IntegrityError("signing needs the `cryptography` package (pip install cryptography)") from None
    return serialization, ed25519


def keygen(prefix: str) -> tuple[str, str]:
    """Write PREFIX.key (private, mode 0600, PKCS#8 PEM) and PREFIX.pub (PEM); refuse to overwrite."""
    serialization, ed25519 = _crypto()
    private_path, public_path = f"{prefix}.key", f"{prefix}.pub"
    for path in (private_path, public_path):
        if os.path.exists(path):
            raise IntegrityError(f"{path} already exists; not overwriting a key")
    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_pem)
        with open(public_path, "xb") as f:
            f.write(public_pem)
    except OSError as exc:
        raise IntegrityError(f"cannot write key {exc.filename}: {exc.strerror}") from None
    return private_path, public_path


def sign(data: bytes, private_key_path: str) -> bytes:
    """An Ed25519 signature of DATA with the key in PRIVATE_KEY_PATH."""
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(read_trust_file(private_key_path, "private key"), password=None)
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"private key {private_key_path} is not a PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise IntegrityError(f"private key {private_key_path} is not an Ed25519 key")
    return bytes(key.sign(data))


def verify(data: bytes, signature: bytes, public_key_path: str) -> bool:
    """True when SIGNATURE is a valid Ed25519 signature of DATA by the key in PUBLIC_KEY_PATH."""
    serialization, ed25519 = _crypto()
    from cryptography.exceptions import InvalidSignature

    try:
        key = serialization.load_pem_public_key(read_trust_file(public_key_path, "public key"))
    except ValueError as exc:
        raise IntegrityError(f"public key {public_key_path} is not a PEM public key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise IntegrityError(f"public key {public_key_path} is not an Ed25519 key")
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
