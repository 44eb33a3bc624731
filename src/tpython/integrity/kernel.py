"""What the kernel says about running a file: noexec mounts, ``AT_EXECVE_CHECK``, securebits.

``execveat(fd, "", argv, envp, AT_EMPTY_PATH | AT_EXECVE_CHECK)`` (Linux
6.14+) asks the kernel whether it would execute the file, without
executing it: the exec permission, a ``noexec`` mount, and LSM policy all
count. As the spython ``execveat`` sample does, the answer is enforced
when the process has ``SECBIT_EXEC_RESTRICT_FILE`` set; and
``SECBIT_EXEC_DENY_INTERACTIVE`` refuses code that comes from no file
(``-c``, stdin, the REPL). glibc has no wrapper for the flag: the system
call is made by tpython's C module, or through ctypes where that module
was not built (no maintained library offers it).
"""
from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple, Optional
else:
    from tpython.lean_typing import NamedTuple


AT_EMPTY_PATH = 0x1000
AT_EXECVE_CHECK = 0x10000
PR_GET_SECUREBITS = 27
SECBIT_EXEC_RESTRICT_FILE = 1 << 8
SECBIT_EXEC_DENY_INTERACTIVE = 1 << 10
_SYS_EXECVEAT = {"x86_64": 322, "aarch64": 281, "i686": 358, "armv7l": 387, "riscv64": 281, "ppc64le": 362}

class KernelVerdict(NamedTuple):
    """The kernel's answer for one open file."""

    available: bool         # the kernel understands AT_EXECVE_CHECK
    allowed: bool           # execveat(AT_EXECVE_CHECK) succeeded
    reason: Optional[str]   # why not, when not allowed

def _native() -> Any:
    """tpython's C module when it was built (no ctypes needed in the watched process)."""
    try:
        import tpython._native as native
    except ImportError:
        return None
    return native

def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)

def securebits() -> int:
    """This process's securebits (0 when they cannot be read)."""
    native = _native()
    if native is not None:
        return int(native.securebits())
    try:
        value = int(_libc().prctl(PR_GET_SECUREBITS, 0, 0, 0, 0))
    except (OSError, AttributeError):
        return 0
    return value if value > 0 else 0

def _execve_check_errno(fd: int, name: str) -> int:
    native = _native()
    if native is not None:
        return int(native.execve_check(fd, os.fsencode(name)))
    import ctypes

    number = _SYS_EXECVEAT.get(os.uname().machine)
    if number is None:
        return errno.ENOSYS
    argv = (ctypes.c_char_p * 2)(os.fsencode(name), None)
    envp = (ctypes.c_char_p * 1)(None)
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(number), ctypes.c_int(fd), ctypes.c_char_p(b""), argv, envp,
                          ctypes.c_int(AT_EMPTY_PATH | AT_EXECVE_CHECK))
    return 0 if result == 0 else ctypes.get_errno()

def execve_check(fd: int, name: str) -> KernelVerdict:
    """Ask the kernel whether it would execute the open file FD."""
    err = _execve_check_errno(fd, name)
    if err == 0:
        return KernelVerdict(True, True, None)
    if err in (errno.EINVAL, errno.ENOSYS):  # a kernel without AT_EXECVE_CHECK
        return KernelVerdict(False, True, None)
    return KernelVerdict(True, False, f"refused by the kernel (execveat AT_EXECVE_CHECK: {os.strerror(err)})")

def execve_check_available() -> bool:
    """Whether this kernel understands AT_EXECVE_CHECK (asked of this interpreter's executable)."""
    import sys

    native = _native()
    if native is not None:
        return bool(native.execve_check_available(sys.executable))
    try:
        fd = os.open(sys.executable, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return execve_check(fd, sys.executable).available
    finally:
        os.close(fd)
