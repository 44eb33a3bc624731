"""Unit tests for the dense parts: globs, the facts the log analysis reads, and conditions end to end."""
from __future__ import annotations

import os

import pytest

from tpython.engine import facts
from tpython.policy.patterns import PatternError, compile_globs, expand_path_glob, parse_host

PLACES = {"home": ["/home/u"], "prefix": ["/opt/py"], "site": ["/opt/py/lib/site-packages"],
          "stdlib": ["/opt/py/lib"], "tmp": ["/tmp"], "cwd": ["/work"]}


@pytest.mark.parametrize("glob,path,hit", [
    ("~/.ssh/**", "/home/u/.ssh/id_rsa", True),
    ("~/.ssh/**", "/home/u/.ssh/keys/deep/x", True),
    ("~/.ssh/**", "/home/u/.sshx/id", False),
    ("/etc/*", "/etc/shadow", True),
    ("/etc/*", "/etc/ssh/sshd_config", False),
    ("**/*.pth", "/any/where/x.pth", True),
    ("**/*.pth", "x.pth", True),
    ("/proc/*/mem", "/proc/123/mem", True),
    ("/proc/*/mem", "/proc/123/task/5/mem", False),
    ("{site}/**", "/opt/py/lib/site-packages/pkg/mod.py", True),
    ("/data/file[0-9].txt", "/data/file7.txt", True),
    ("/data/file[!0-9].txt", "/data/file7.txt", False),
    ("/a/?.txt", "/a/b.txt", True),
    ("/a/?.txt", "/a//.txt", False),
])
def test_path_globs(glob, path, hit):
    match = compile_globs(expand_path_glob(glob, PLACES), path=True)
    assert match(path) is hit


def test_bad_globs_and_placeholders():
    with pytest.raises(PatternError, match="unclosed"):
        compile_globs(["/x/[ab"], path=True)
    with pytest.raises(PatternError, match="unknown placeholder"):
        expand_path_glob("{nowhere}/x", PLACES)


@pytest.mark.parametrize("entry,ok", [("10.0.0.0/8", True), ("::1", True), ("*.example.com", True),
                                      ("10.0.0.300/8", False), ("bad host!", False), ("1.2.3.4/33", False)])
def test_parse_host(entry, ok):
    if ok:
        parse_host(entry)
    else:
        with pytest.raises(PatternError):
            parse_host(entry)


@pytest.mark.parametrize("mode,flags,write", [
    ("r", os.O_RDONLY, False), ("rb", os.O_RDONLY, False), ("w", 0, True), ("a", 0, True),
    ("x", 0, True), ("r+", 0, True), (None, os.O_WRONLY, True), (None, os.O_RDWR, True),
    (None, os.O_RDONLY | os.O_CREAT, True), (None, os.O_RDONLY | os.O_TRUNC, True),
    (None, os.O_RDONLY | os.O_CLOEXEC, False),
])
def test_write_detection(mode, flags, write):
    assert facts.is_write("open", ("/x", mode, flags)) is write


def test_write_events():
    assert facts.is_write("os.rename", ("/a", "/b", -1, -1))
    assert not facts.is_write("os.listdir", ("/a",))


def test_paths_resolve_relative_dotdot_fd_dirfd_and_symlinks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "secret"
    target.write_text("x")
    (tmp_path / "link").symlink_to(target)
    assert facts.event_paths("open", ("sub/../secret", "r", 0)) == [str(target)]
    assert str(target) in facts.event_paths("open", ("link", "r", 0))
    assert facts.event_paths("open", (b"secret", "r", 0)) == [str(target)]
    fd = os.open(target, os.O_RDONLY)
    try:
        assert facts.event_paths("open", (fd, "r", 0)) == [str(target)]
    finally:
        os.close(fd)
    dfd = os.open(tmp_path, os.O_RDONLY)
    try:
        got = facts.event_paths("os.rename", ("a", "b", dfd, dfd))
        assert got == [str(tmp_path / "a"), str(tmp_path / "b")]
    finally:
        os.close(dfd)

    class Sneaky(os.PathLike):
        def __fspath__(self):
            return "/etc/passwd"

    assert facts.event_paths("open", (Sneaky(), "r", 0)) is None  # never asks the object


URL_POLICY = """
version = 1
extends = "default"
[[rules]]
id = "no-internal"
events = ["urllib.Request"]
action = "deny"
when = { host = ["10.0.0.0/8"] }
"""

URL_APP = """
import sys, types
def attempt(tag, url):
    try:
        sys.audit("urllib.Request", url, None, {}, "GET")
        print(tag, "allowed")
    except Exception as exc:
        print(tag, "denied")
if sys.argv[1] == "fake":  # a urllib.parse planted before any real import: never believed
    fake = types.ModuleType("urllib.parse")
    fake.urlsplit = lambda url: types.SimpleNamespace(hostname="public.example", port=80)
    sys.modules["urllib.parse"] = fake
    attempt("internal", "http://10.1.2.3/")
else:
    import urllib.request
    attempt("internal", "http://10.1.2.3/")
    attempt("public", "http://192.0.2.1/")
"""


def test_url_hosts_under_tpython_run(tp):
    tp.policy(URL_POLICY)
    tp.script(URL_APP)
    r = tp("run", "--policy", "policy.toml", "app.py", "real")
    assert r.rc == 0, r.err
    assert r.out.split() == ["internal", "denied", "public", "allowed"]
    r = tp("run", "--policy", "policy.toml", "app.py", "fake")
    assert r.out.split() == ["internal", "denied"]


PATHLIB_APP = """
import shutil, sys, types
if sys.argv[1] == "fake":  # planted before any real import of pathlib: its class is not believed
    fake = types.ModuleType("pathlib")
    class Path:
        def __init__(self, p): self.p = p
        def __fspath__(self): return self.p
    fake.Path = Path
    sys.modules["pathlib"] = fake
import pathlib
open("a.txt", "w").write("x")
shutil.copyfile(pathlib.Path("a.txt"), pathlib.Path("b.txt"))
"""


def test_pathlib_paths_are_read_only_from_the_real_pathlib(tp):
    """tpython takes pathlib's classes when pathlib is first imported (it does not import
    it itself): their paths are rendered and matched; a look-alike is not asked."""
    tp.script(PATHLIB_APP)
    r = tp("run", "app.py", "real")
    assert r.rc == 0, r.err
    assert r.events("shutil.copyfile")[0]["args"] == ["a.txt", "b.txt"]
    r = tp("run", "app.py", "fake")
    assert r.rc == 0, r.err
    assert r.events("shutil.copyfile")[-1]["args"] == ["<__main__.Path>", "<__main__.Path>"]


UNLESS = """
version = 1
extends = "default"

[[rules]]
id = "egress"
events = ["socket.connect"]
action = "deny"
unless = { host = ["127.0.0.0/8"], port = [8080] }
"""


def test_unless_exempts_only_when_all_conditions_hold(tp):
    tp.policy(UNLESS)
    tp.script("""
    import sys
    for host, port in (("127.0.0.1", 8080), ("127.0.0.1", 22), ("8.8.8.8", 8080)):
        try:
            sys.audit("socket.connect", None, (host, port))
            print(host, port, "allowed")
        except PermissionError:
            print(host, port, "denied")
    """)
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert r.out.splitlines() == ["127.0.0.1 8080 allowed", "127.0.0.1 22 denied", "8.8.8.8 8080 denied"], r.out
