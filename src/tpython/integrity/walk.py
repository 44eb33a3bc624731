"""Which files a trust operation covers, and their digests."""
from __future__ import annotations

import hashlib
import os
from typing import Iterable, Iterator

# Suffixes of files the interpreter reads as code (SPEC 3.1).
CODE_SUFFIXES = (".py", ".pyc", ".pyw", ".so", ".pth", ".zip", ".egg", ".pyz")


def sha256_file(path: str) -> str:
    """Lowercase hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def code_files(paths: Iterable[str], *, all_files: bool = False) -> Iterator[str]:
    """Resolved paths of the code files under PATHS (files named directly are always included).

    Symlinks are resolved, so each file appears under its real path, once.
    """
    seen: set[str] = set()
    for top in paths:
        real_top = os.path.realpath(top)
        if os.path.isfile(real_top):
            candidates: Iterable[str] = [real_top]
        else:
            candidates = (os.path.join(root, name)
                          for root, dirs, files in os.walk(real_top, followlinks=False)
                          for name in sorted(files)
                          if all_files or name.endswith(CODE_SUFFIXES))
        for candidate in candidates:
            real = os.path.realpath(candidate)
            if real not in seen and os.path.isfile(real):
                seen.add(real)
                yield real
