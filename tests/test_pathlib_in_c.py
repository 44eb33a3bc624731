"""pathlib paths in event arguments, read in C (native/pathobj.c): decided as their text,
recorded with it, and never by running pathlib's (or tpython's) Python code, which the
program can replace. Events that carry the program's path object: shutil's, for one."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("tpython._native")

POLICY = """
version = 1
extends = "default"

[[rules]]
id = "no-secret"
events = ["open", "shutil.copyfile"]
action = "deny"
when = { path = ["**/secret.txt"] }
"""

APP = """
import json, os, pathlib, posixpath, shutil, sys, types
from pathlib import Path, PurePath, PurePosixPath

def attempt(name, fn):
    try:
        fn()
        out = "allowed"
    except Exception as e:
        out = "denied" if type(e).__name__ == "PolicyViolation" else f"error {type(e).__name__}: {e}"
    print(json.dumps([name, out]), flush=True)

class Sub(type(Path())):
    pass
"""

FORMS = APP + """
cwd = os.getcwd()
FORMS = {
    "Path": Path("secret.txt"),
    "PurePosixPath": PurePosixPath("secret.txt"),
    "subclass": Sub("secret.txt"),
    "div": Path("d") / "secret.txt",
    "dotdot": Path("d") / ".." / "secret.txt",
    "div dotdot dotdot": Path("a") / "b" / ".." / ".." / "secret.txt",
    "absolute": Path(cwd) / "secret.txt",
    "absolute dotdot": Path(cwd, "d", "..", "secret.txt"),
    "joined absolute": Path("elsewhere").joinpath(cwd, "secret.txt"),
}
for name, path in FORMS.items():
    attempt(name, lambda: shutil.copyfile(path, f"out-{name}"))
attempt("ok", lambda: shutil.copyfile(Path("ok.txt"), "out-ok"))
attempt("Path.open", lambda: Path("secret.txt").open())
attempt("read_text", lambda: Path("secret.txt").read_text())
attempt("open(PurePosixPath)", lambda: open(PurePosixPath("secret.txt")))
list(Path("d").glob("*.txt"))  # pathlib's own event, its `self` rendered
"""


def _prepare(tp) -> None:
    tp.policy(POLICY)
    for name in ("secret.txt", "ok.txt", "d/secret.txt"):
        (tp.cwd / name).parent.mkdir(exist_ok=True)
        (tp.cwd / name).write_text("x")
    (tp.cwd / "a" / "b").mkdir(parents=True)


def _outcomes(r) -> dict[str, str]:
    return dict(json.loads(line) for line in r.out.splitlines() if line.startswith("["))


def _copy_record(r, out: str) -> dict:
    found = [e for e in r.events("shutil.copyfile") if e["args"][1] == out]
    assert len(found) == 1, r.events("shutil.copyfile")
    return found[0]


def test_paths_are_decided_and_recorded_as_their_text(tp):
    _prepare(tp)
    tp.script(FORMS)
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    got = _outcomes(r)
    cwd = os.path.realpath(tp.cwd)
    expected = {"Path": "secret.txt", "PurePosixPath": "secret.txt", "subclass": "secret.txt",
                "div": "d/secret.txt", "dotdot": "d/../secret.txt", "div dotdot dotdot": "a/b/../../secret.txt",
                "absolute": f"{tp.cwd}/secret.txt",
                "absolute dotdot": f"{tp.cwd}/d/../secret.txt", "joined absolute": f"{tp.cwd}/secret.txt"}
    for name, text in expected.items():
        assert got[name] == "denied", (name, got)
        record = _copy_record(r, f"out-{name}")
        assert record["action"] == "deny" and record["rule"] == "no-secret", record
        assert record["args"][0] in (text, text.replace(str(tp.cwd), cwd)), record
    assert got["ok"] == "allowed", got
    ok = _copy_record(r, "out-ok")
    assert ok["action"] == "log" and ok["args"][0] == "ok.txt", ok
    for name in ("Path.open", "read_text", "open(PurePosixPath)"):
        assert got[name] == "denied", (name, got)
    assert (tp.cwd / "out-ok").exists() and not (tp.cwd / "out-Path").exists()
    assert r.events("pathlib.Path.glob")[0]["args"] == ["d", "*.txt"]


def test_programs_named_by_paths_are_matched_as_their_text(tp):
    tp.policy("""
        version = 1
        extends = "default"

        [[rules]]
        id = "no-true"
        events = ["subprocess.Popen"]
        action = "deny"
        when = { executable = ["**/true"] }
        """)
    tp.script(APP + """
import subprocess
attempt("true", lambda: subprocess.run([Path("/bin/true")], executable=PurePosixPath("/bin/true")))
attempt("echo", lambda: subprocess.run([Path("/bin/echo")], stdout=subprocess.DEVNULL))
""")
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    assert _outcomes(r) == {"true": "denied", "echo": "allowed"}, r.out
    popens = r.events("subprocess.Popen")
    assert popens[0]["action"] == "deny" and popens[0]["args"][:2] == ["/bin/true", ["/bin/true"]], popens[0]


TAMPER = APP + """
how = sys.argv[1]
path = Path("secret.txt")
if how == "__fspath__":
    PurePath.__fspath__ = lambda self: "ok.txt"
elif how == "__str__":
    PurePath.__str__ = lambda self: "ok.txt"
elif how == "__code__":
    PurePath.__fspath__.__code__ = (lambda self: "ok.txt").__code__
elif how == "_format_parsed_parts":
    PurePath._format_parsed_parts = classmethod(lambda cls, *a: "ok.txt")
elif how == "splitroot":
    posixpath.splitroot = lambda p: ("", "", "ok.txt")
elif how == "str in pathlib's globals":
    vars(sys.modules[PurePath.__fspath__.__module__])["str"] = lambda p: "ok.txt"
elif how == "_str deleted":
    del PurePath._str
elif how == "_str property":
    class Lying(type(Path())):
        _str = property(lambda self: "ok.txt")
    path = Lying("secret.txt")
elif how == "__getattribute__":
    class Lying(type(Path())):
        def __getattribute__(self, name):
            return "ok.txt" if name == "_str" else object.__getattribute__(self, name)
    path = Lying("secret.txt")
elif how == "tpython's renderer":
    for module in [m for n, m in list(sys.modules.items()) if n.startswith("tpython.engine") and m]:
        for name, value in list(vars(module).items()):
            if isinstance(value, types.FunctionType):
                setattr(module, name, lambda *a, **k: "ok.txt")
elif how == "fake pathlib":
    fake = types.ModuleType("pathlib")
    class PurePath:
        __slots__ = ("_str",)
        __module__ = "pathlib"
        def __fspath__(self):
            return "ok.txt"
    path = PurePath()
    path._str = "secret.txt"
attempt(how, lambda: shutil.copyfile(path, "out"))
"""

# tamperings after which C still reads the path (pathlib's __fspath__ and __str__ are intact)
STILL_READ = ["_format_parsed_parts", "splitroot", "tpython's renderer"]
# and after which the path is unknown: named by its type, and the deny rule applies
UNKNOWN = ["__fspath__", "__str__", "__code__", "str in pathlib's globals", "_str deleted", "_str property",
           "__getattribute__", "fake pathlib"]


@pytest.mark.parametrize("how", STILL_READ + UNKNOWN)
def test_a_program_that_replaces_pathlib_or_tpython_cannot_change_the_decision(tp, how):
    _prepare(tp)
    tp.script(TAMPER)
    r = tp("run", "--policy", "policy.toml", "app.py", how)
    assert r.rc == 0, r.err
    assert _outcomes(r)[how] == "denied", r.out
    record = _copy_record(r, "out")
    assert record["action"] == "deny" and record["rule"] == "no-secret", record
    if how in STILL_READ:
        assert record["args"][0] == "secret.txt", record
    else:
        named = {"_str property": "<__main__.Lying>", "__getattribute__": "<__main__.Lying>",
                 "fake pathlib": "<pathlib.PurePath>"}.get(how, "PosixPath>")
        assert record["args"][0].startswith("<") and record["args"][0].endswith(named), record
    assert not (tp.cwd / "out").exists()


STRICT_APP = """
import os, shutil, sys, tempfile
from pathlib import Path
home = Path(os.environ["HOME"])
Path("data").mkdir()
(Path("data") / "a.txt").write_text("x")
shutil.copyfile(Path("data") / "a.txt", Path("data", "b.txt"))
assert Path("data/b.txt").read_text() == "x"
with tempfile.TemporaryDirectory() as d:
    (Path(d) / "t").write_text("y")
    shutil.copyfile(Path(d) / "t", Path(d) / "u")
    assert (Path(d) / "u").read_text() == "y"
    assert sorted(p.name for p in Path(d).iterdir()) == ["t", "u"]
print("NORMAL OK", flush=True)
for name, fn in [("read", lambda: (home / ".ssh" / "id_rsa").read_text()),
                 ("copy", lambda: shutil.copyfile(home / ".ssh" / "id_rsa", Path("stolen"))),
                 ("copy dotdot", lambda: shutil.copyfile(home / ".ssh" / ".." / ".ssh" / "id_rsa", "stolen2"))]:
    try:
        fn()
        print(name, "ALLOWED", flush=True)
    except PermissionError:
        print(name, "denied", flush=True)
"""


def test_strict_runs_pathlib_programs_and_denies_secrets_through_paths(tp, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text("KEY")
    tp.script(STRICT_APP)
    r = tp("run", "--policy", "strict", "app.py", env={"HOME": str(home)})
    assert "NORMAL OK" in r.out, (r.out, r.err)
    assert "read denied" in r.out and "copy denied" in r.out and "copy dotdot denied" in r.out, r.out
    assert "ALLOWED" not in r.out and "KEY" not in r.out
    copies = {e["args"][1]: e for e in r.events("shutil.copyfile")}
    assert copies["stolen"]["action"] == "deny" and copies["stolen"]["rule"] == "strict-secrets", copies
    assert copies["stolen"]["args"][0] == f"{home}/.ssh/id_rsa"
    assert copies["stolen2"]["args"][0] == f"{home}/.ssh/../.ssh/id_rsa"
    assert copies["data/b.txt"]["action"] == "log" and copies["data/b.txt"]["args"][0] == "data/a.txt"


PARITY = """
from pathlib import Path, PurePosixPath, PureWindowsPath
from tpython._native import pathlib_text
forms = [("secret.txt",), ("/a/b/../c",), ("a", "b", "/abs", "c"), ("//net/x",), ("///x//y/./z/",), ("",), (),
         (".",), ("./a/.",), ("a//b/",), ("/..//a",), ("//",), ("\\u00fc/\\u00df",), ("a\\\\b",)]
bad = []
for cls in (Path, PurePosixPath):
    for args in forms:
        made = [cls(*args), cls(*args) / "x" / ".." / "y", cls("x", cls(*args)), cls(*args).parent]
        again = [cls(*args), cls(*args) / "x" / ".." / "y", cls("x", cls(*args)), cls(*args).parent]
        for a, b in zip(made, again):
            text = pathlib_text(a)  # computed from the parts (unset _str), then stored
            if text != str(b) or str(a) != str(b):
                bad.append((cls.__name__, args, text, str(b)))
print("BAD", bad)
print("WINDOWS", pathlib_text(PureWindowsPath("c:/x")), pathlib_text("secret.txt"), pathlib_text(object()))
"""


def test_text_is_what_pathlib_itself_gives(tp):
    tp.script(PARITY)
    r = tp("run", "app.py")
    assert r.rc == 0, r.err
    assert "BAD []" in r.out, r.out
    assert "WINDOWS None None None" in r.out, r.out


def test_python_has_no_pathlib_trust_list():
    """pathlib's text is C's alone: Python asks C (plain.pathlib_text) and keeps no list of
    trusted classes, and tpython no longer patches pathlib's import."""
    import importlib.util

    from tpython.engine import plain
    from tpython.launcher import bootstrap
    assert importlib.util.find_spec("tpython.engine.render") is None
    assert not hasattr(plain, "trust_pathlib") and not hasattr(plain, "_TRUSTED_PATHS")
    assert plain.pathlib_text.__module__ == "tpython._native"
    assert "pathlib" not in Path(bootstrap.__file__).read_text()
