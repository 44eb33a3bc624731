"""SHA-256 as hex digits: `hashlib.sha256(data).hexdigest()`.

Through tpython's C module when it is built (GNU Nettle's SHA-256): importing
hashlib would load OpenSSL, milliseconds of every start-up. Otherwise hashlib.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


sha256_hex: Callable[[bytes], str]
try:
    from tpython._native import sha256_hex
except ImportError:  # the Python engine's platforms
    import hashlib

    def sha256_hex(data: bytes) -> str:
        """hashlib.sha256(data).hexdigest()"""
        return hashlib.sha256(data).hexdigest()
