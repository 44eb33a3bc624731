"""Rule conditions in C (`path`, `write`, `arg`, `caller`), over a corpus of awkward arguments.

C evaluates every condition. These tests hold every decision C takes to the decisions
recorded for the corpus (checked against the Python engine tpython had until December
2026), and the glob matcher to the regexes the policy loader uses.
Arguments C cannot render as text for `arg` (a lone surrogate, a memoryview) are an
unknown fact, which never opens a hole: C denies where the rule would.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

native = pytest.importorskip("tpython._native")
DATA = Path(__file__).parent / "data"

POLICY = """
version = 1
extends = "default"

[[rules]]
id = "data-ok"
events = ["open"]
action = "allow"
when = { path = ["{cwd}/data/**"] }

[[rules]]
id = "secret"
message = "secret"
events = ["open", "os.rename", "os.remove", "shutil.copyfile", "os.symlink", "os.link"]
action = "deny"
when = { path = ["{cwd}/secret", "{cwd}/secret/**", "**/*.key", "{cwd}/k[0-9a-c]y", "{cwd}/[!a-y]z"] }

[[rules]]
id = "persist"
events = ["open", "os.mkdir", "os.chmod", "os.remove"]
action = "deny"
when = { write = true, path = ["**/*.pth", "{cwd}/etc/**"] }
unless = { path = ["{cwd}/etc/ok/**"] }

[[rules]]
id = "logme"
events = ["open"]
action = "log"
when = { path = ["{cwd}/logme*"], write = false }

[[rules]]
id = "killme"
events = ["open"]
action = "kill"
when = { path = ["{cwd}/killme"] }

[[rules]]
id = "by-arg"
events = ["os.chmod", "tpython.test.arg"]
action = "deny"
when = { arg = ['secret/s"', 'é\\.key', '^\\["[^"]*k[0-9]y"', 'x…\\[\\+1 chars\\]', '"…\\[\\+4 items\\]"'] }

[[rules]]
id = "by-re-arg"
events = ["os.listdir"]
action = "deny"
when = { arg = ['k\\dy'] }

[[rules]]
id = "swap"
events = ["object.__setattr__"]
action = "deny"
when = { arg = [',"__code__",'] }
unless = { caller = ["types"] }

[[rules]]
id = "by-caller"
events = ["tpython.test.caller"]
action = "deny"
when = { caller = ["pkg.*", "a?c", "[xy]mod", "exact"] }
"""

DECIDE = r'''
import json, os, sys
from tpython.engine.engine import Engine as NativeEngine
from tpython.policy.loader import load_policy
import tpython._native as native

policy = load_policy(sys.argv[1])
engine = NativeEngine(policy, [], warn_fd=2)
defaults, other, rules = engine.frozen_tables()
native.install_audit(defaults, other, rules, engine.c_options())
native.set_busy(True)  # this checker's own events are not decided
here = os.getcwd()

# the file system the corpus points into
for d in ("data", "secret", "etc/ok", "sub"):
    os.makedirs(d, exist_ok=True)
for f in ("data/a", "secret/s", "a.key", "etc/x", "etc/ok/y", "plain", "logme.txt", "killme", "k1y", "kdy",
          "zz", "site.pth", "sub/f"):
    open(f, "w").close()
links = {"to-secret": "secret/s", "to-secret-dir": "secret", "to-data": "data", "dangling": "nowhere/x",
         "rel-up": "../" + os.path.basename(here) + "/secret", "loop1": "loop2", "loop2": "loop1",
         "to-key": "a.key", "to-etc": "etc", "to-ok": "etc/ok"}
for name, target in links.items():
    os.symlink(target, name)
dir_fd = os.open("secret", os.O_RDONLY)
sub_fd = os.open("sub", os.O_RDONLY)

class S(str):
    pass

names = ["plain", "secret", "secret/s", "secret/", "./secret//s", "data/../secret/s", "to-secret", "to-secret-dir/s",
         "to-data/a", "data/a", "data/new", "dangling", "rel-up/s", "loop1", "a.key", "x/../a.key", "to-key",
         "etc/x", "etc/ok/y", "to-etc/x", "to-etc/ok/y", "site.pth", "new.pth", "logme.txt", "logme-new", "killme",
         "k1y", "kdy", "kzy", "zz", "az", "missing/deep/file", "sub/f", "s", "", "/", "//", "///etc/x",
         "é.key", "\udcff.key", here + "/secret/s", "/proc/self/cwd/secret/s", "/" + "/".join(["x"] * 300),
         # `..` after a symbolic link is the parent of where it leads (realpath's walk, in C too)
         "to-ok/../x", "to-ok/../../secret/s", "to-ok/missing/../y", "missing/../to-ok/y", "plain/../a.key",
         "dangling/../a.key", "loop1/../a.key", "to-ok/..", "to-ok/.", "sub/f/../../to-ok/../x"]
values = []
for n in names:
    values += [n, S(n)]
    try:
        values += [os.fsencode(n), bytearray(os.fsencode(n))]
    except UnicodeError:
        pass
values += [3, None, b"\xff\xfe.key", memoryview(b"secret/s")]
modes = ["r", "w", "rb", "a+", "x", S("w"), None, 7]
flags = [0, os.O_WRONLY, os.O_CREAT | os.O_RDONLY, 1 << 70, True, None]
dirfds = [None, dir_fd, sub_fd, -100, True, 10 ** 30, 99999]

cases = []
rng = __import__("random").Random(1)
for v in values:
    for m in modes:
        cases.append(("open", (v, m, rng.choice(flags))))
    cases.append(("open", (v, "r", 0)))
    cases.append(("open", (v, "w", 0)))
    for fd in dirfds:
        cases.append(("os.remove", (v, fd)))
        cases.append(("os.mkdir", (v, 0o777, fd)))
        cases.append(("os.chmod", (v, 0o644, fd)))
    cases.append(("os.rename", (v, rng.choice(values), rng.choice(dirfds), rng.choice(dirfds))))
    cases.append(("shutil.copyfile", (rng.choice(values), v)))
    cases.append(("os.symlink", (v, rng.choice(values), rng.choice(dirfds))))
    cases.append(("os.listdir", (v,)))
cases.append(("open", ()))
cases.append(("open", ("secret/s",)))
for value in ("x" * 513, "x" * 514, list(range(20)), list(range(21))):  # "…[+1 chars]", "…[+4 items]"
    cases.append(("tpython.test.arg", (value,)))
for name in ["ctypes", "_ctypes", "ctypes.util", "ctypesx", "cffi", "_cffi_backend", "os", "_posixsubprocess",
             "_xxsubinterpreters", "concurrent.interpreters", "json", "é", "\udcff", S("ctypes"), ""]:
    cases.append(("import", (name, None, sys.path, sys.meta_path, sys.path_hooks)))
    cases.append(("import", (name, "/x/" + str(name), [], [], [])))
def function(): pass
class Plain: pass
for target in (function, Plain, NativeEngine):  # a `caller` condition after an `arg` one (strict's code swap)
    for attribute in ("__code__", "__name__", "x", "__code__x"):
        cases.append(("object.__setattr__", (target, attribute, function.__code__)))

out = []
for event, args in cases:
    c_action, c_rule = native.decide(event, args)  # C sees this module's frame: the caller `__main__`
    out.append([event, repr(args), c_action, c_rule])

# `caller` conditions: C asked from code whose module is CALLER (exec'd with that
# __name__), with a dict subclass as globals too (whose get() may be its own).
class Globals(dict):
    pass

callers = ["types", "typesx", "x.types", "pkg.sub", "pkg", "pkgx.y", "pkg.a/b", "abc", "a/c", "a.c", "ac",
           "xmod", "zmod", "exact", "exact.x", "", "é", "\udcff"]
caller_cases = [c for c in cases if c[0] == "object.__setattr__"] + [("tpython.test.caller", ())]
for caller in callers:
    for event, args in caller_cases:
        for mapping in (dict, Globals):
            namespace = mapping(__name__=caller, native=native, event=event, args=args)
            exec("answer = native.decide(event, args)", namespace)
            c_action, c_rule = namespace["answer"]
            out.append([event, repr(args) + " caller=" + repr(caller) + " in " + mapping.__name__, c_action, c_rule])
print(json.dumps(out))
'''


def _decide(tp, policy: str) -> list[list]:
    script = tp.script(DECIDE, name="decide.py")
    proc = subprocess.run([sys.executable, str(script), policy], cwd=tp.cwd, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("policy", ["custom", "strict"])
def test_c_decides_the_corpus_as_recorded(tp, policy):
    """Every decision C takes over the corpus (dangling and looping links, links an event
    makes or renames, big flags, empty paths, values of the program's own type included)
    is the one recorded in tests/data/conditions_POLICY.json. Those were checked, case by
    case, against the Python engine tpython had until December 2026 (the same decisions,
    but for arguments C cannot render for `arg`, which C denies where the rule would:
    an unknown fact never opens a hole); C decides every one itself."""
    if policy == "custom":
        tp.policy(textwrap.dedent(POLICY))
    rows = _decide(tp, str(tp.cwd / "policy.toml") if policy == "custom" else "strict")
    expected = json.loads((DATA / f"conditions_{policy}.json").read_text())
    assert len(rows) == len(expected)
    wrong = [(i, r, want) for i, (r, want) in enumerate(zip(rows, expected)) if [r[0], r[2], r[3]] != want]
    assert not wrong, wrong[:10]
    decided = rows
    assert all(r[2] != "python" for r in rows)
    by_case = {(r[0], r[1]): r[2] for r in rows}
    for name in ("plain", "secret/s", "to-secret", "data/new", "x/../a.key", "///etc/x",  # the common shapes
                 "to-ok/../x", "missing/../to-ok/y"):
        for mode in ("'r', 0", "'w', 0"):
            assert by_case[("open", f"({name!r}, {mode})")] != "python", (name, mode)
    if policy == "custom":
        outcomes = {(r[2], r[3]) for r in decided}
        for want in [("allow", "data-ok"), ("deny", "secret"), ("deny", "persist"), ("log", "logme"),
                     ("log", None)]:
            assert want in outcomes, want
        assert ("deny", "by-arg") in outcomes  # arg regexes translated to C's matcher
        assert by_case[("tpython.test.arg", repr(("x" * 513,)))] == "deny"
        assert by_case[("tpython.test.arg", repr((list(range(20)),)))] == "deny"
        assert by_case[("tpython.test.arg", repr((list(range(21)),)))] == "log"
        assert ("open", "kill", "killme") in {(r[0], r[2], r[3]) for r in rows}
        listdirs = [r for r in rows if r[0] == "os.listdir"]  # `k\\dy`: PCRE2 in C, as every `arg`
        assert all(r[2] != "python" for r in listdirs) and ("deny", "by-re-arg") in {(r[2], r[3]) for r in listdirs}
    else:  # strict's import rules: arg regexes, decided in C
        imports = [r for r in rows if r[0] == "import"]
        assert ("deny", "strict-native-import") in {(r[2], r[3]) for r in imports}
        assert all(r[2] != "python" for r in imports)
    # `caller` conditions in C (strict's code-swap rule: `when` arg, `unless` caller), with
    # name globs (`*` and `?` cross `/` and `.`); a dict subclass as the frame's globals too.
    callers = [r for r in rows if " caller=" in r[1]]
    assert all(r[2] != "python" for r in callers)
    swaps = {(r[1].split(" caller=")[1], r[2], r[3]) for r in callers
             if r[0] == "object.__setattr__" and ", '__code__', " in r[1] and "Plain" in r[1]}
    swap_rule = "strict-code-swap" if policy == "strict" else "swap"
    assert ("'types' in dict", "log", None) in swaps and ("'typesx' in dict", "deny", swap_rule) in swaps
    if policy == "custom":
        denied = {r[1].split("caller=")[1].split(" in ")[0] for r in callers
                  if r[0] == "tpython.test.caller" and r[2] == "deny" and r[1].endswith(" in dict")}
        assert denied == {"'pkg.sub'", "'pkg.a/b'", "'abc'", "'a/c'", "'a.c'", "'xmod'", "'exact'"}, denied
    setattrs = [r for r in rows if r[0] == "object.__setattr__" and " caller=" not in r[1]]
    assert len(setattrs) == 12 and all(r[2] != "python" for r in setattrs)
    if policy == "strict":
        assert ("deny", "strict-tpython-tamper") in {(r[2], r[3]) for r in setattrs}


def _random_glob(rng: random.Random) -> str:
    parts = ["a", "b", "é", "/", ".", "*", "?", "**", "**/", "[ab]", "[!a]", "[a-é]", "/**", "x/"]
    return "".join(rng.choice(parts) for _ in range(rng.randint(0, 6)))


def _random_path(rng: random.Random) -> str:
    return "".join(rng.choice(["a", "b", "é", "/", ".", "x", "ab/"]) for _ in range(rng.randint(0, 9)))


def test_c_glob_matcher_agrees_with_the_regexes():
    """C's NFA and the Python engine's regex, on 20,000 random glob/path pairs."""
    from tpython.policy.patterns import compile_globs, native_glob_tokens

    rng = random.Random(578)
    disagreements = []
    matched = 0
    for _ in range(20000):
        glob, path = _random_glob(rng), _random_path(rng)
        want = compile_globs([glob], path=True)(path)
        got = native.glob_match(native_glob_tokens(glob), path)
        matched += want
        if got != want:
            disagreements.append((glob, path, got, want))
    assert not disagreements, disagreements[:10]
    assert matched > 1000  # the corpus exercises matches, not only misses


def test_every_class_is_matched_in_c():
    """A class with `-`, `]` or `[` in it is read as the regex reads it, and C matches it."""
    from tpython.policy.patterns import PatternError, compile_globs, native_glob_tokens

    assert native_glob_tokens("/x/[a-]") == (("lit", "/x/"), ("class", False, "aa--"))
    assert native_glob_tokens("/x/[!a-c]") == (("lit", "/x/"), ("class", True, "ac"))
    for glob in ("/x/[a-]", "/x/[]a]", "/x/[[]", "/x/[!]a]b", "/x/[a^]", "/x/[--0]"):
        try:
            tokens = native_glob_tokens(glob)
        except PatternError:
            continue  # a class the regex refuses: a policy error (the loader says so)
        for path in ("/x/a", "/x/-", "/x/]", "/x/[", "/x/^", "/x/b", "/x/.", "/x/]b", "/x/ab"):
            assert native.glob_match(tokens, path) == compile_globs([glob], path=True)(path), (glob, path)
