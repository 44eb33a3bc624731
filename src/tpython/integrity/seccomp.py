"""Protect the trust state in the running process: no xattr writes (seccomp).

The talk's advice for the xattr trust source: block the system calls that
could re-stamp a file. After start-up tpython sets ``PR_SET_NO_NEW_PRIVS``
and loads a seccomp filter that makes ``setxattr``, ``lsetxattr``,
``fsetxattr``, ``setxattrat`` and the ``removexattr`` family fail with
``EPERM``, for the native ABI and 32-bit compat calls; on x86_64 every
x32-ABI system call is refused (a normal x86_64 process makes none).

Why a BPF program built here rather than libseccomp's Python binding: the
binding is packaged for the distribution's own Python only (Debian's
``python3-seccomp``), not installable from PyPI into a venv; the filter is
a dozen instructions, written out below.
"""
from __future__ import annotations

import errno
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from tpython.lean_typing import NamedTuple


PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
X32_SYSCALL_BIT = 0x40000000

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06

# struct seccomp_data: nr at offset 0, arch at offset 4
_NR, _ARCH = 0, 4

# arch -> (AUDIT_ARCH value, syscall numbers to refuse)
_XATTR_WRITES = {
    "x86_64": (0xC000003E, (188, 189, 190, 197, 198, 199, 463, 466)),
    "aarch64": (0xC00000B7, (5, 6, 7, 14, 15, 16, 463, 466)),
}
_I386 = (0x40000003, (226, 227, 228, 235, 236, 237, 463, 466))  # compat calls on x86_64


class SeccompStatus(NamedTuple):
    """What was put in place, for `tpython.start`."""

    active: bool
    no_new_privs: bool
    detail: str


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    """One struct sock_filter (u16 code, u8 jt, u8 jf, u32 k; native order, no padding):
    what struct.pack("HBBI", ...) gives, without loading _struct into every strict run."""
    order = sys.byteorder
    return code.to_bytes(2, order) + bytes((jt, jf)) + k.to_bytes(4, order)


def build_filter(machine: str) -> bytes:
    """The BPF program refusing xattr writes on MACHINE (raises KeyError when unknown)."""
    native_arch, native_calls = _XATTR_WRITES[machine]
    arches = [(native_arch, native_calls, machine == "x86_64")]
    if machine == "x86_64":
        arches.append((_I386[0], _I386[1], False))
    deny = SECCOMP_RET_ERRNO | errno.EPERM
    body: list[bytes] = []
    # Per arch: [jeq arch? 0 : skip-block], ld nr, [jge x32 -> deny], jeq nr -> deny ..., ret allow
    for arch, calls, has_x32 in arches:
        block: list[tuple[int, int, int, int]] = [(_LD_W_ABS, 0, 0, _NR)]
        if has_x32:
            block.append((_JGE_K, 0, 0, X32_SYSCALL_BIT))  # jt patched to the deny below
        block.extend((_JEQ_K, 0, 0, nr) for nr in calls)
        block.append((_RET_K, 0, 0, SECCOMP_RET_ALLOW))
        block.append((_RET_K, 0, 0, deny))
        deny_at = len(block) - 1
        resolved = []
        for i, (code, jt, jf, k) in enumerate(block):
            if code in (_JEQ_K, _JGE_K):
                jt = deny_at - i - 1
            resolved.append(_insn(code, jt, jf, k))
        body.append(_insn(_LD_W_ABS, 0, 0, _ARCH))
        body.append(_insn(_JEQ_K, 0, len(resolved), arch))  # not this arch: skip its block
        body.extend(resolved)
    body.append(_insn(_RET_K, 0, 0, SECCOMP_RET_ALLOW))  # an arch we do not know: no xattr rules
    return b"".join(body)


_LOADED = SeccompStatus(True, True, "setxattr, lsetxattr, fsetxattr, setxattrat and the removexattr family "
                                    "fail with EPERM")


def deny_xattr_writes() -> SeccompStatus:
    """Set no_new_privs and load the filter; never raises (says what it could do).

    Through tpython's C module when it is built, so ctypes is never loaded in
    the process that goes on to run the program; else through ctypes."""
    try:
        program = build_filter(os.uname().machine)
    except KeyError:
        program = b""
    try:
        from tpython import _native
    except ImportError:
        return _deny_with_ctypes(program)
    if not program:
        return SeccompStatus(False, False, f"unavailable: no filter for {os.uname().machine}")
    failed = _native.seccomp_filter(program)
    if failed is None:
        return _LOADED
    step, err = failed
    return SeccompStatus(False, step != "PR_SET_NO_NEW_PRIVS",
                         f"unavailable: {step}: {errno.errorcode.get(err, str(err))}")


def _deny_with_ctypes(program: bytes) -> SeccompStatus:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError as exc:  # pragma: no cover
        return SeccompStatus(False, False, f"unavailable: {exc}")
    nnp = libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    if not nnp:
        err = errno.errorcode.get(ctypes.get_errno(), "?")
        return SeccompStatus(False, False, f"unavailable: PR_SET_NO_NEW_PRIVS: {err}")
    if not program:
        return SeccompStatus(False, True, f"unavailable: no filter for {os.uname().machine}")
    count = len(program) // 8
    buffer = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(count, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = errno.errorcode.get(ctypes.get_errno(), "?")
        return SeccompStatus(False, True, f"unavailable: PR_SET_SECCOMP: {err}")
    return _LOADED
