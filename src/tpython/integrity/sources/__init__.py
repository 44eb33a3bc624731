"""Trust sources: who vouches that a file's bytes may run."""
from tpython.integrity.sources.interface import TrustSource
from tpython.integrity.sources.manifest import ManifestSource
from tpython.integrity.sources.xattr import XattrSource

__all__ = ["ManifestSource", "TrustSource", "XattrSource"]
