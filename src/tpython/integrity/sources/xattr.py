"""Trust from the spython xattr holding the file's SHA-256."""
from __future__ import annotations

from tpython.integrity.xattrs import XATTR_NAME, read_stamp


class XattrSource:
    """Vouches for files whose `user.org.python.x-spython-hash` matches their bytes."""

    name = f"xattr {XATTR_NAME}"

    def vouches(self, real_path: str, sha256: str) -> tuple[bool, str]:
        stamped = read_stamp(real_path)
        if stamped is None:
            return False, f"no {XATTR_NAME} xattr"
        if stamped != sha256:
            return False, f"stale xattr (stamped {stamped[:12]}…, file is {sha256[:12]}…)"
        return True, ""
