"""`[integrity] seccomp`: the running program cannot re-stamp files (strict turns it on)."""
from __future__ import annotations

import pytest
from conftest import xattrs_supported

from tpython.integrity.seccomp import build_filter

SCRIPT = """
import errno, os
open("owned.txt", "w").close()
fd = os.open("owned.txt", os.O_RDONLY)
for name, call in (("setxattr", lambda: os.setxattr("owned.txt", "user.org.python.x-spython-hash", b"0" * 64)),
                   ("fsetxattr", lambda: os.setxattr(fd, "user.x", b"1")),
                   ("lsetxattr", lambda: os.setxattr("owned.txt", "user.x", b"1", follow_symlinks=False)),
                   ("removexattr", lambda: os.removexattr("owned.txt", "user.x"))):
    try:
        call()
        print(name, "ok")
    except OSError as exc:
        print(name, errno.errorcode[exc.errno])
"""


def test_strict_refuses_xattr_writes_with_eperm_and_logs_the_attempt(tp):
    if not xattrs_supported(tp.cwd):
        pytest.skip("this file system has no user xattrs")
    tp.script(SCRIPT)
    r = tp("run", "--policy", "strict", "app.py")
    assert r.rc == 0, r.err
    assert r.out.split("\n")[:4] == ["setxattr EPERM", "fsetxattr EPERM", "lsetxattr EPERM", "removexattr EPERM"]
    attempts = r.events("os.setxattr")
    assert len(attempts) == 3 and all(a["module"] == "__main__" for a in attempts)
    assert r.events("os.removexattr")
    start = r.events("tpython.start")[0]["args"]["integrity"]
    assert start["seccomp_requested"] is True and start["seccomp"] == "filter" and start["no_new_privs"] is True


def test_default_leaves_xattrs_alone(tp):
    if not xattrs_supported(tp.cwd):
        pytest.skip("this file system has no user xattrs")
    tp.script(SCRIPT)
    r = tp("run", "app.py")
    assert r.out.split("\n")[:3] == ["setxattr ok", "fsetxattr ok", "lsetxattr ok"]
    state = r.events("tpython.start")[0]["args"]["integrity"]
    assert state["seccomp_requested"] is False and state["seccomp"] in ("off", "filter")  # filter: an outer sandbox


def test_ctypes_used_for_seccomp_is_not_left_importable_without_an_event(tp):
    tp.script("import ctypes")
    r = tp("run", "--policy", "strict", "app.py")
    assert r.rc == 1 and "PolicyViolation" in r.err
    assert any(d["rule"] == "strict-native-import" for d in r.actions("deny"))


def test_filter_program_shape():
    prog = build_filter("x86_64")
    assert len(prog) % 8 == 0 and len(prog) // 8 < 64
    with pytest.raises(KeyError):
        build_filter("sparc")


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_filter_instructions_read_back_as_struct_sock_filter(machine):
    """The program is written without `struct` (not loaded into strict runs); read back
    with it as the kernel reads struct sock_filter: every jump lands inside the program,
    every refused call is compared, and each arch block ends in allow then EPERM."""
    import struct

    prog = build_filter(machine)
    insns = list(struct.iter_unpack("HBBI", prog))
    assert len(insns) * 8 == len(prog)
    for at, (code, jt, jf, _k) in enumerate(insns):
        if code in (0x15, 0x35):  # jeq, jge
            assert at + 1 + max(jt, jf) < len(insns)
    compared = {k for code, _, _, k in insns if code == 0x15}
    assert {188, 189, 190, 197, 198, 199} <= compared if machine == "x86_64" else {5, 6, 7, 14, 15, 16} <= compared
    returns = [k for code, _, _, k in insns if code == 0x06]
    assert returns[-1] == 0x7FFF0000 and 0x00050000 | 1 in returns  # allow; EPERM (errno 1)


LOADER_PROBE = """
import errno, os, sys
from tpython.integrity import seccomp
status = seccomp.deny_xattr_writes() if sys.argv[1] == "auto" else seccomp._deny_with_ctypes(
    seccomp.build_filter(os.uname().machine))
open("f.txt", "w").close()
try:
    os.setxattr("f.txt", "user.x", b"1")
    outcome = "ok"
except OSError as exc:
    outcome = errno.errorcode[exc.errno]
print(status.active, status.no_new_privs, outcome, "ctypes" in sys.modules)
"""


@pytest.mark.parametrize("loader", ["auto", "ctypes"])
def test_both_filter_loaders_refuse_xattr_writes(tmp_path, loader):
    """The C loader (tpython._native, which leaves ctypes unloaded) and the ctypes one
    (where the C module was not built) load the same filter."""
    import subprocess
    import sys

    if not xattrs_supported(tmp_path):
        pytest.skip("this file system has no user xattrs")
    out = subprocess.run([sys.executable, "-c", LOADER_PROBE, loader], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["True", "True", "EPERM", "False" if loader == "auto" else "True"]
