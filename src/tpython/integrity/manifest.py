"""The trust manifest (SPEC 3.2): build it, sign it, load and verify it.

Format: ``{"version": 1, "algorithm": "sha256", "files": {PATH: HEX}}``,
written with sorted keys; PATH is the file's resolved path. The optional
detached signature ``FILE.sig`` is the Ed25519 signature of the
manifest's exact bytes, base64-encoded on one line.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import sys
from typing import Callable, Iterable, NamedTuple, Optional, TextIO

from tpython.integrity import keys
from tpython.integrity.errors import IntegrityError, read_trust_file
from tpython.integrity.walk import code_files, sha256_file

VERSION = 1
ALGORITHM = "sha256"
_HEX = re.compile(r"[0-9a-f]{64}")


class Manifest(NamedTuple):
    """A loaded manifest: resolved path -> lowercase hex SHA-256."""

    path: str
    files: dict[str, str]
    signed: bool
    sha256: str = ""  # of the manifest's own bytes


def build(paths: Iterable[str], *, all_files: bool = False,
          progress: Optional[Callable[[int, str], None]] = None) -> dict[str, str]:
    """Hash every code file under PATHS; PROGRESS(count, path) is called as it goes."""
    files: dict[str, str] = {}
    for count, path in enumerate(code_files(paths, all_files=all_files), 1):
        try:
            files[path] = sha256_file(path)
        except OSError as exc:
            raise IntegrityError(f"cannot read {path}: {exc.strerror}") from None
        if progress is not None:
            progress(count, path)
    return files


def dumps(files: dict[str, str]) -> bytes:
    """The manifest's bytes."""
    body = {"version": VERSION, "algorithm": ALGORITHM, "files": dict(sorted(files.items()))}
    return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


def write(out: str, files: dict[str, str], *, sign_with: Optional[str] = None) -> Optional[str]:
    """Write the manifest (and OUT.sig when SIGN_WITH names a private key); returns the .sig path."""
    data = dumps(files)
    signature = keys.sign(data, sign_with) if sign_with else None
    try:
        with open(out, "wb") as f:
            f.write(data)
        if signature is None:
            return None
        with open(out + ".sig", "wb") as f:
            f.write(base64.b64encode(signature) + b"\n")
    except OSError as exc:
        raise IntegrityError(f"cannot write {exc.filename}: {exc.strerror}") from None
    return out + ".sig"


def load(path: str, pubkey: Optional[str] = None) -> Manifest:
    """Read, verify and parse a manifest; every problem is one IntegrityError naming the file."""
    # 1. The bytes, read once: the signature and the parser see the same ones.
    data = read_trust_file(path, "manifest")
    verify_signature(data, path, pubkey)
    return parse(data, path)


def load_verified(path: str, sha256: str) -> Manifest:
    """Load a manifest whose signature was verified elsewhere, as the bytes that were verified
    (the `tpython` command checks the signature; the started interpreter, which has no
    `cryptography` before `site`, checks it reads the same bytes)."""
    data = read_trust_file(path, "manifest")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise IntegrityError(f"manifest {path} changed after tpython verified it")
    return parse(data, path, validate_entries=False)  # these very bytes were validated


def verify_signature(data: bytes, path: str, pubkey: Optional[str]) -> None:
    """Check DATA (manifest PATH's bytes) against PATH.sig with PUBKEY."""
    # 2. The signature: a signed manifest needs the public key; a key demands a signature.
    sig_path = path + ".sig"
    signed = os.path.exists(sig_path)
    if signed and pubkey is None:
        raise IntegrityError(f"manifest {path} is signed ({sig_path}) but no public key was given")
    if pubkey is not None:
        if not signed:
            raise IntegrityError(f"manifest {path} has no signature {sig_path}, but a public key was given")
        try:
            with open(sig_path, "rb") as f:
                signature = base64.b64decode(f.read().strip(), validate=True)
        except (OSError, binascii.Error) as exc:
            raise IntegrityError(f"signature {sig_path} cannot be read: {exc}") from None
        if not keys.verify(data, signature, pubkey):
            raise IntegrityError(f"signature {sig_path} does not match manifest {path} "
                                 "(changed after signing, or signed with another key)")



def parse(data: bytes, path: str, *, validate_entries: bool = True) -> Manifest:
    """The manifest in DATA (read from PATH), validated."""
    # 3. The content.
    signed = os.path.exists(path + ".sig")
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"manifest {path} is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise IntegrityError(f"manifest {path} is not a JSON object")
    if body.get("version") != VERSION:
        raise IntegrityError(f"manifest {path} has version {body.get('version')!r}; this tpython reads {VERSION}")
    if body.get("algorithm") != ALGORITHM:
        raise IntegrityError(f"manifest {path} uses algorithm {body.get('algorithm')!r}; "
                             f"this tpython reads {ALGORITHM!r}")
    files = body.get("files")
    if not isinstance(files, dict):
        raise IntegrityError(f"manifest {path} has no \"files\" object")
    for name, digest in files.items() if validate_entries else ():
        if not isinstance(digest, str) or not _HEX.fullmatch(digest):
            raise IntegrityError(f"manifest {path}: entry {name!r} is not a lowercase hex SHA-256")
    return Manifest(os.path.abspath(path), files, signed, hashlib.sha256(data).hexdigest())


def terminal_progress(stream: Optional[TextIO] = None) -> Optional[Callable[[int, str], None]]:
    """A progress printer for stderr when it is a terminal (None otherwise)."""
    out = stream or sys.stderr
    if not out.isatty():
        return None

    def show(count: int, path: str) -> None:
        if count % 200 == 0:
            tail = path if len(path) < 60 else "…" + path[-59:]
            out.write(f"\r\033[Khashed {count} files: {tail}")
            out.flush()

    return show
