"""Trust from a (signed) manifest of resolved paths and their SHA-256."""
from __future__ import annotations

from tpython.integrity.manifest import Manifest


class ManifestSource:
    """Vouches for files listed in the manifest with the same digest."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.name = f"manifest {manifest.path}"

    def vouches(self, real_path: str, sha256: str) -> tuple[bool, str]:
        expected = self.manifest.files.get(real_path)
        if expected is None:
            return False, f"not in the manifest {self.manifest.path}"
        if expected != sha256:
            return False, f"hash mismatch with the manifest (expected {expected[:12]}…, got {sha256[:12]}…)"
        return True, ""
