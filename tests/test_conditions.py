"""Unit tests for the dense parts: globs, conditions, facts, the dispatch table."""
from __future__ import annotations

import os

import pytest

from tpython.engine import facts
from tpython.engine.rules import DispatchTable, EventFacts, compile_condition
from tpython.policy.model import Policy, Rule
from tpython.policy.patterns import PatternError, compile_globs, expand_path_glob, parse_host

PLACES = {"home": ["/home/u"], "prefix": ["/opt/py"], "site": ["/opt/py/lib/site-packages"],
          "stdlib": ["/opt/py/lib"], "tmp": ["/tmp"], "cwd": ["/work"]}


def F(event, *args, module=None):
    return EventFacts(event, args, lambda: (module, None))


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


@pytest.mark.parametrize("host,inside", [
    ("127.0.0.1", True), ("127.1", True), ("0x7f.0.0.1", True), ("2130706433", True),
    ("::ffff:127.0.0.1", True), ("128.0.0.1", False), ("localhost", False),
])
def test_host_condition_normalises_addresses(host, inside):
    pred = compile_condition("host", ["127.0.0.0/8"], False, PLACES)
    assert pred(F("socket.connect", None, (host, 80))) is inside


def test_host_glob_and_port_ranges():
    host = compile_condition("host", ["*.example.com"], False, PLACES)
    assert host(F("socket.getaddrinfo", "api.Example.com.", 443, 0, 0, 0))
    assert not host(F("socket.getaddrinfo", "example.org", 443, 0, 0, 0))
    port = compile_condition("port", [443, "8000-8099"], False, PLACES)
    assert port(F("socket.connect", None, ("1.2.3.4", 8080)))
    assert not port(F("socket.connect", None, ("1.2.3.4", 22)))
    url = compile_condition("host", ["10.0.0.0/8"], False, PLACES)
    import urllib.parse

    facts.trust_urllib_parse(urllib.parse)  # what tpython's import patch does when urllib.parse is imported
    assert url(F("urllib.Request", "http://10.1.2.3:8080/x", None, {}, "GET"))
    assert not url(F("urllib.Request", "http://192.168.1.1/x", None, {}, "GET"))


def test_a_url_host_is_unknown_until_the_real_urllib_parse_is_imported(monkeypatch):
    """tpython does not import urllib.parse itself; before its first real import no URL
    host is known, and an unknown host widens a denial and narrows no allow."""
    monkeypatch.setattr(facts, "_URLSPLIT", [])
    assert facts.event_host_port("urllib.Request", ("http://192.168.1.1/x", None, {}, "GET")) == (None, None)
    deny = compile_condition("host", ["10.0.0.0/8"], False, PLACES)
    allow = compile_condition("host", ["192.168.0.0/16"], True, PLACES)
    assert deny(F("urllib.Request", "http://192.168.1.1/x", None, {}, "GET"))
    assert not allow(F("urllib.Request", "http://192.168.1.1/x", None, {}, "GET"))


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


def test_executable_condition_resolves_path_and_shell():
    exe = compile_condition("executable", ["/usr/bin/git", "true"], True, PLACES)
    assert exe(F("subprocess.Popen", "true", ["true"], None, None))
    assert not exe(F("subprocess.Popen", "/bin/sh", ["/bin/sh", "-c", "git status"], None, None))
    widen = compile_condition("executable", ["curl"], False, PLACES)
    assert widen(F("os.system", b"curl http://x"))
    assert widen(F("subprocess.Popen", "/bin/sh", ["/bin/sh", "-c", "curl x"], None, None))


def test_unknown_values_never_open_a_hole():
    # narrowing (allow / unless) with an unknowable path does not hold; widening (deny) does
    narrow = compile_condition("path", ["/tmp/**"], True, PLACES)
    widen = compile_condition("path", ["/tmp/**"], False, PLACES)

    class P(os.PathLike):
        def __fspath__(self):
            return "/tmp/x"

    unknown = F("open", P(), "r", 0)
    assert narrow(unknown) is False and widen(unknown) is True
    # two paths, one outside: an allow must hold for both
    both = F("os.rename", "/tmp/a", "/etc/b", -1, -1)
    assert narrow(both) is False and widen(both) is True


def test_module_and_arg_conditions():
    mod = compile_condition("module", ["requests.*"], False, PLACES)
    assert mod(F("open", "/x", "r", 0, module="requests.adapters"))
    assert not mod(F("open", "/x", "r", 0, module=None))
    arg = compile_condition("arg", [r'^\["builtins","eval"\]$'], False, PLACES)
    assert arg(F("pickle.find_class", "builtins", "eval"))
    assert not arg(F("pickle.find_class", "builtins", "len"))


def _policy(*rules, defaults=None):
    return Policy(name="t", defaults=defaults or {"*": "log", "frequent": "count"}, rules=tuple(rules))


def test_dispatch_table_caches_and_orders():
    table = DispatchTable(_policy(
        Rule("first", ("socket.*",), "allow", when={"port": [53]}),
        Rule("second", ("socket.connect",), "deny"),
    ), PLACES)
    assert table.lookup("builtins.id") == "count"  # no rule: one constant
    assert table.lookup("open") == "log"
    entry = table.lookup("socket.connect")
    assert [r.id for r in entry.candidates] == ["first", "second"]
    assert entry.decide(F("socket.connect", None, ("1.1.1.1", 53))) == ("allow", "first")
    assert entry.decide(F("socket.connect", None, ("1.1.1.1", 80))) == ("deny", "second")
    assert table.lookup("socket.connect") is entry
    assert "socket.connect" in table.table


def test_unless_exempts_only_when_all_conditions_hold():
    table = DispatchTable(_policy(Rule("egress", ("socket.connect",), "deny",
                                       unless={"host": ["127.0.0.0/8"], "port": [8080]})), PLACES)
    entry = table.lookup("socket.connect")
    assert entry.decide(F("socket.connect", None, ("127.0.0.1", 8080))) == ("log", None)
    assert entry.decide(F("socket.connect", None, ("127.0.0.1", 22))) == ("deny", "egress")
    assert entry.decide(F("socket.connect", None, ("8.8.8.8", 8080))) == ("deny", "egress")


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
