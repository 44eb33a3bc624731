"""Rendering never fails and never runs the program's code, whatever the object (issue 18, item 10).

A mypyc-compiled package sets ``__module__`` on its classes at import; the class has
none until then, and rendering that ``object.__setattr__`` used to raise, which
`strict` denied as `tpython-internal-error`. These tests hold both renderers (and the
facts conditions read) to unusual objects: classes without or with odd ``__module__``
and ``__qualname__``, methods of the program that raise, weakref proxies, objects whose
``__class__`` lies, huge and recursive containers, released buffers, path objects
without their parts, compiled classes. The objects are built by POOL, run both here
(hypothesis, against the renderers directly) and inside `tpython run` (both engines).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from conftest import Runner
from hypothesis import given, settings
from hypothesis import strategies as st

from tpython.engine import facts

# Objects a program may hand to an audit event. Every method of the program's own
# classes records its name in CALLS and raises: rendering must call none of them.
POOL = r'''
import array, ctypes, decimal, enum, fractions, io, pathlib, socket, sys, threading, time, types, typing, weakref
from collections import namedtuple

CALLS = []


def _hostile(name):
    def method(self, *args, **kwargs):
        CALLS.append(name)
        raise RuntimeError(f"the program's {name} ran")
    return method


_METHODS = ("__repr__", "__str__", "__format__", "__eq__", "__ne__", "__lt__", "__len__", "__iter__",
            "__getitem__", "__contains__", "__fspath__", "__index__", "__int__", "__float__", "__bytes__",
            "__bool__", "__getattr__", "__reduce__", "__add__", "__mod__", "keys", "items", "values", "get",
            "startswith", "endswith", "encode", "decode", "join", "split", "lower", "strip", "replace", "tobytes")


def hostile_class(name, base=object, meta=type):
    """A class of the program whose every method (but hashing) records and raises."""
    namespace = {m: _hostile(m) for m in _METHODS if m != "__bytes__" or base is not bytes}
    namespace["__hash__"] = base.__hash__
    namespace["__class__"] = property(_hostile("__class__"))
    return meta(name, (base,), namespace)


Hostile = hostile_class("Hostile")
HostileStr = hostile_class("HostileStr", str)
HostileInt = hostile_class("HostileInt", int)
HostileFloat = hostile_class("HostileFloat", float)
HostileBytes = hostile_class("HostileBytes", bytes)
HostileByteArray = hostile_class("HostileByteArray", bytearray)
HostileList = hostile_class("HostileList", list)
HostileTuple = hostile_class("HostileTuple", tuple)
HostileDict = hostile_class("HostileDict", dict)
HostileMeta = hostile_class("HostileMeta", type)
WithHostileMeta = HostileMeta("WithHostileMeta", (), {})

# Classes without __module__ (what mypyc makes, and type() called where __name__ is undefined)
NoModule = eval("type('NoModule', (), {})", {"type": type})
NoModuleError = eval("type('NoModuleError', (ValueError,), {})", {"type": type})
class OddModule: pass
OddModule.__module__ = 5
class HostileModule: pass
HostileModule.__module__ = Hostile()
class SubModule: pass
SubModule.__module__ = HostileStr("fancy")
class SubQualname: pass
SubQualname.__qualname__ = HostileStr("fancy.qualname")
class SurrogateQualname: pass
SurrogateQualname.__qualname__ = "odd\udc80name"
class BuiltinsModule: pass
BuiltinsModule.__module__ = "builtins"
class EmptyModule: pass
EmptyModule.__module__ = ""
class RaisingModuleMeta(type):  # its classes' __module__, read as an attribute, raises
    __module__ = property(_hostile("__module__"))
RaisingModule = RaisingModuleMeta("RaisingModule", (), {})


def function(): pass
def _make(): return lambda: None
function_no_module = _make(); function_no_module.__module__ = None
function_hostile_module = _make(); function_hostile_module.__module__ = Hostile()
function_sub_module = _make(); function_sub_module.__module__ = HostileStr("fancy")
function_sub_qualname = _make(); function_sub_qualname.__qualname__ = HostileStr("fancy.qualname")
function_no_globals_name = eval("lambda: None", {})
module_no_name = types.ModuleType("gone"); del module_no_name.__name__
module_hostile_name = types.ModuleType("x"); module_hostile_name.__name__ = Hostile()
module_sub_name = types.ModuleType("x"); module_sub_name.__name__ = HostileStr("fancy")
class ModuleSub(types.ModuleType): pass

class Liar:
    @property
    def __class__(self):
        CALLS.append("__class__")
        return str

class Target: pass
alive = Target()
def _dead_proxy():
    target = Target()
    return weakref.proxy(target)
released = memoryview(b"released"); released.release()
bare_path = object.__new__(pathlib.PurePosixPath)
closed_socket = socket.socket(); closed_socket.close()
_names = {"co_filename": HostileStr("fancy.py"), "co_name": HostileStr("n")}
if sys.version_info >= (3, 11):
    _names["co_qualname"] = HostileStr("n")
code_sub_names = compile("x = 1", "file.py", "exec").replace(**_names)
def _cell():
    x = alive
    return (lambda: x).__closure__[0]
def _generator(): yield 1
generator = _generator(); generator.close()
async def _coroutine(): pass
coroutine = _coroutine(); coroutine.close()
recursive_list = []; recursive_list.append(recursive_list)
recursive_dict = {}; recursive_dict["self"] = recursive_dict
class Color(enum.IntEnum): RED = 1
Point = namedtuple("Point", "x y")

VALUES = {
    "no module class": NoModule, "no module instance": NoModule(), "no module exception": NoModuleError("x"),
    "no module exception class": NoModuleError,
    "odd module class": OddModule, "odd module instance": OddModule(),
    "hostile module class": HostileModule, "hostile module instance": HostileModule(),
    "str-subclass module class": SubModule, "str-subclass module instance": SubModule(),
    "str-subclass qualname class": SubQualname, "str-subclass qualname instance": SubQualname(),
    "surrogate qualname class": SurrogateQualname, "builtins module class": BuiltinsModule,
    "builtins module instance": BuiltinsModule(), "empty module class": EmptyModule,
    "hostile metaclass class": WithHostileMeta, "hostile metaclass": HostileMeta,
    "raising module class": RaisingModule, "raising module instance": RaisingModule(),
    "raising module metaclass": RaisingModuleMeta,
    "hostile": Hostile(), "hostile class": Hostile, "hostile str": HostileStr("text"), "hostile int": HostileInt(7),
    "hostile big int": HostileInt(2 ** 5000), "hostile float": HostileFloat(1.5), "hostile bytes": HostileBytes(b"b"),
    "hostile bytearray": HostileByteArray(b"ba"), "hostile list": HostileList([1, Hostile()]),
    "hostile tuple": HostileTuple((1, "a")), "hostile dict": HostileDict(a=1, b=Hostile()),
    "hostile keys": {HostileStr("k"): 1, Hostile(): 2},
    "function no module": function_no_module, "function hostile module": function_hostile_module,
    "function str-subclass module": function_sub_module, "function str-subclass qualname": function_sub_qualname,
    "function no globals name": function_no_globals_name,
    "module no name": module_no_name, "module hostile name": module_hostile_name,
    "module str-subclass name": module_sub_name, "module subclass": ModuleSub("sub"),
    "liar": Liar(), "proxy": weakref.proxy(alive), "dead proxy": _dead_proxy(),
    "callable proxy": weakref.proxy(function), "proxy to class": weakref.proxy(Target), "weakref": weakref.ref(alive),
    "big int": 10 ** 5000, "negative big int": -(2 ** 1025), "widest int": 2 ** 1024 - 1, "int enum": Color.RED,
    "released memoryview": released, "2-d memoryview": memoryview(b"abcd").cast("B", (2, 2)),
    "double array memoryview": memoryview(array.array("d", [1.0])),
    "bare path": bare_path, "closed socket": closed_socket, "code with str-subclass names": code_sub_names,
    "recursive list": recursive_list, "recursive dict": recursive_dict,
    "huge list": list(range(100000)), "huge dict": dict.fromkeys(map(str, range(1000))),
    "generic alias": list[int], "typing alias": typing.List[int], "super": super(int, 1),
    "mapping proxy": type.__dict__, "struct sequence": sys.flags, "struct time": time.gmtime(0),
    "named tuple": Point(1, Hostile()), "generator": generator, "coroutine": coroutine,
    "frame": sys._getframe(), "cell": _cell(),
    "lock": threading.Lock(), "bytes io": io.BytesIO(b"x"), "decimal": decimal.Decimal("1.5"),
    "fraction": fractions.Fraction(1, 3), "complex": 1j, "nan": float("nan"), "ctypes int": ctypes.c_int(3),
    "ctypes pointer type": ctypes.POINTER(ctypes.c_int), "not implemented": NotImplemented,
    "method wrapper": (1).__add__, "slot wrapper": int.__add__, "builtin method": [].append,
    "simple namespace": types.SimpleNamespace(a=Hostile()),
}
'''


def _pool() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "pool"}
    exec(POOL, namespace)
    return namespace


POOL_NS = _pool()
CALLS: list[str] = POOL_NS["CALLS"]
VALUES: dict[str, Any] = POOL_NS["VALUES"]
facts.trust_urllib_parse(urllib.parse)

# ---- the renderers themselves, over generated objects -------------------------------------

# Hypothesis draws recipes (plain data), built into objects inside each test: it looks at
# what it draws (isinstance, repr), and these objects must not be looked at that way.
_POOLED = list(VALUES.values())
_KEYS = [POOL_NS["HostileStr"]("k"), (1, 2), None]
_WRAP = {"hostile str": POOL_NS["HostileStr"], "hostile int": POOL_NS["HostileInt"], "bytearray": bytearray,
         "memoryview": memoryview}
_CONTAINERS = {"list": list, "tuple": tuple, "hostile list": POOL_NS["HostileList"],
               "hostile tuple": POOL_NS["HostileTuple"]}


def build(recipe: Any) -> Any:
    """The object a recipe describes: scalars as they are, ("pool", i), ("key", i),
    (wrapper, scalar), (container, [recipes]), ("dict"/"hostile dict", [(key, value)])
    and ("self", [recipes]) for a list that contains itself."""
    if type(recipe) is not tuple:
        return recipe
    kind, payload = recipe
    if kind == "pool":
        return _POOLED[payload]
    if kind == "key":
        return _KEYS[payload]
    if kind in _WRAP:
        return _WRAP[kind](payload)
    if kind in _CONTAINERS:
        return _CONTAINERS[kind]([build(x) for x in payload])
    if kind == "self":
        items = [build(x) for x in payload]
        items.append(items)
        return items
    mapping = {}
    for k, v in payload:
        try:
            mapping[build(k)] = build(v)
        except RuntimeError:  # a key equal to one of the program's str keys ("k"): its __eq__ raises
            pass
    return mapping if kind == "dict" else POOL_NS["HostileDict"](mapping)


_SURROGATES = st.sampled_from(["\udc80", "\ud800", "\x00", "\u2028", "…", "\"", "\\"])
_TEXT = st.text(st.characters() | _SURROGATES, max_size=40)
_LEAVES = (
    st.tuples(st.just("pool"), st.sampled_from(range(len(_POOLED))))
    | st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers() | st.integers(min_value=-(2 ** 3000), max_value=2 ** 3000)
    | _TEXT | st.text(min_size=500, max_size=600) | st.binary(max_size=40)
    | st.tuples(st.sampled_from(["bytearray", "memoryview"]), st.binary(max_size=40))
    | st.tuples(st.just("hostile str"), _TEXT) | st.tuples(st.just("hostile int"), st.integers())
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = _TEXT | st.integers() | st.tuples(st.just("key"), st.sampled_from(range(len(_KEYS))))
    return (st.tuples(st.sampled_from(sorted(_CONTAINERS) + ["self"]), st.lists(children, max_size=20))
            | st.tuples(st.just("dict"), st.lists(st.tuples(keys, children), max_size=20))
            | st.tuples(st.just("hostile dict"), st.lists(st.tuples(_TEXT, children), max_size=20)))


OBJECTS = st.recursive(_LEAVES, _containers, max_leaves=40)


@settings(max_examples=600, deadline=None)
@given(OBJECTS)
def test_c_renders_anything_as_json_and_runs_no_program_code(recipe):
    """C renders whatever the program passes (hostile containers, subclasses, cycles,
    huge values) as one JSON array, never calling a method of the program's."""
    native = pytest.importorskip("tpython._native")
    value = build(recipe)
    del CALLS[:]
    text = native.render_args((value,))
    assert CALLS == []
    rendered = json.loads(text)
    assert isinstance(rendered, list) and len(rendered) == 1


def test_each_pooled_object_renders_in_c_without_program_code():
    native = pytest.importorskip("tpython._native")
    for name, value in VALUES.items():
        del CALLS[:]
        text = native.render_args((value,))
        assert CALLS == [], name
        assert isinstance(json.loads(text), list), name
    del CALLS[:]


# Events whose arguments facts are read from.
FACT_EVENTS = sorted({*facts.PATH_ARGS, "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
                      "http.client.connect", "urllib.Request", "webbrowser.open", "subprocess.Popen", "os.system",
                      "os.exec", "os.posix_spawn", "os.spawn", "_posixsubprocess.fork_exec", "open"})
_FACT_ARGS = (OBJECTS | st.sampled_from(["a\0b", b"a\0b", "²", "9" * 5000, "127.1", b"xn--bcher-kva.example",
                                         "http://[::1", "http://host:99999/", 2 ** 5000, -1, 10 ** 30])
              | st.tuples(st.just("tuple"), st.lists(OBJECTS, min_size=1, max_size=3))
              | st.tuples(st.just("dict"), st.lists(st.tuples(_TEXT | st.binary(max_size=8), OBJECTS), max_size=4))
              | st.tuples(st.just("hostile dict"), st.lists(st.tuples(st.just("PATH"), OBJECTS), max_size=2)))


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(FACT_EVENTS), st.lists(_FACT_ARGS, max_size=6))
def test_facts_never_raise_and_run_no_program_code(event, recipes):
    args = tuple(build(r) for r in recipes)
    del CALLS[:]
    facts.event_paths(event, args)
    facts.is_write(event, args)
    facts.event_host_port(event, args)
    facts.event_executables(event, args)
    assert CALLS == []


# ---- end to end: what a run under each engine logs -----------------------------------------

LOG_POLICY = """
version = 1
[[rules]]
id = "render"
events = ["tpython.test.render", "_posixsubprocess.fork_exec"]
action = "log"
"""

RUN_POOL = POOL + r'''
for name, value in VALUES.items():
    try:
        sys.audit("tpython.test.render", name, value)
    except BaseException as exc:
        print("FAIL", name, type(exc).__name__, exc)
try:  # the program list of fork_exec, as a list of the program's own (tpython raises this event)
    sys.audit("_posixsubprocess.fork_exec", HostileList([b"/bin/true", b"/usr/bin/true"]), [b"true"], None)
except BaseException as exc:
    print("FAIL fork_exec", type(exc).__name__, exc)
print("CALLS", CALLS)
'''


def _logged(tp: Runner) -> dict[str, Any]:
    tp.policy(LOG_POLICY)
    tp.script(RUN_POOL)
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    assert r.out.splitlines()[-1] == "CALLS []", r.out  # no method of the program ran in the hook
    assert "FAIL" not in r.out and "internal error" not in r.err, (r.out, r.err)
    logged = {rec["args"][0]: rec["args"][1] for rec in r.events("tpython.test.render")}
    fork_exec = r.events("_posixsubprocess.fork_exec")
    assert [rec["args"][0] for rec in fork_exec] == [["/bin/true", "/usr/bin/true"]]
    return logged


def test_unusual_objects_are_logged_by_their_type_and_run_no_program_code(tp):
    logged = _logged(tp)
    assert set(logged) == set(VALUES)
    expected = {
        "no module class": "<class NoModule>", "no module instance": "<NoModule>",
        "no module exception class": "<class NoModuleError>", "no module exception": "<NoModuleError>",
        "odd module class": "<class OddModule>", "odd module instance": "<OddModule>",
        "hostile module class": "<class HostileModule>", "hostile module instance": "<HostileModule>",
        "str-subclass module class": "<class fancy.SubModule>", "str-subclass module instance": "<fancy.SubModule>",
        "str-subclass qualname class": "<class __main__.fancy.qualname>",
        "str-subclass qualname instance": "<__main__.fancy.qualname>",
        "surrogate qualname class": "<class __main__.odd\udc80name>",
        "builtins module class": "<class builtins.BuiltinsModule>", "builtins module instance": "<BuiltinsModule>",
        "empty module class": "<class .EmptyModule>",
        "hostile metaclass class": "<class __main__.WithHostileMeta>", "hostile": "<__main__.Hostile>",
        "raising module class": "<class __main__.RaisingModule>", "raising module instance": "<__main__.RaisingModule>",
        "raising module metaclass": "<class RaisingModuleMeta>",  # its own __module__ is the property
        "hostile str": "text", "hostile int": 7, "hostile big int": "<int of 5001 bits>",
        "hostile float": "<__main__.HostileFloat>", "hostile list": [1, "<__main__.Hostile>"],
        "hostile dict": {"a": 1, "b": "<__main__.Hostile>"},
        "hostile keys": {"k": 1, "<__main__.Hostile>": 2},
        "function no module": "<function ?._make.<locals>.<lambda>>",
        "function str-subclass module": "<function fancy._make.<locals>.<lambda>>",
        "function str-subclass qualname": "<function __main__.fancy.qualname>",
        "function hostile module": "<function ?._make.<locals>.<lambda>>",
        "function no globals name": "<function ?.<lambda>>",
        "module no name": "<module None>", "module hostile name": "<module None>",
        "module str-subclass name": "<module fancy>", "module subclass": "<__main__.ModuleSub>",
        "liar": "<__main__.Liar>", "big int": "<int of 16610 bits>", "negative big int": "<negative int of 1026 bits>",
        "widest int": 2 ** 1024 - 1, "int enum": 1, "released memoryview": "<memoryview>",
        "2-d memoryview": {"bytes": 4, "sha256": "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"},
        "recursive list": [[[["<list>"]]]], "recursive dict": {"self": {"self": {"self": {"self": "<dict>"}}}},
        "code with str-subclass names": {"code": {"file": "fancy.py", "name": "n", "line": 1}},
        "closed socket": {"socket": {"family": "AF_INET", "type": "SOCK_STREAM"}},
    }
    for name, value in expected.items():
        assert logged[name] == value, name
    assert logged["bare path"].startswith("<pathlib") and logged["huge list"][-1] == "…[+99984 items]"


# A class without __module__ gets one at import, as mypyc's compiled classes do.
SET_MODULE = """
NoModule = eval("type('NoModule', (), {})", {"type": type})  # no __name__ in these globals
NoModule.__module__ = "compiled.elsewhere"
print(NoModule.__module__)
"""


def test_a_class_that_gets_its_module_at_import_runs_under_strict(tp):
    tp.script(SET_MODULE)
    r = tp("run", "--quiet", "--policy", "strict", "app.py")
    assert (r.rc, r.out.strip()) == (0, "compiled.elsewhere"), r.err
    assert "internal error" not in r.err
    setattr_records = [rec["args"] for rec in r.events("object.__setattr__")]
    assert ["<class NoModule>", "__module__", "compiled.elsewhere"] in setattr_records, setattr_records


COMPILED = """
class Thing:
    def __init__(self, n: int) -> None:
        self.n = n


class Failure(ValueError):
    pass


def make(n: int) -> Thing:
    return Thing(n)
"""


@pytest.fixture(scope="module")
def compiled_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module compiled by mypyc (skipped where mypyc or a C compiler is missing)."""
    pytest.importorskip("mypyc")
    where = tmp_path_factory.mktemp("mypyc")
    (where / "compiled_mod.py").write_text(COMPILED)
    build = subprocess.run([sys.executable, "-m", "mypyc", "compiled_mod.py"], cwd=where, capture_output=True,
                           text=True, timeout=600)
    if build.returncode != 0 or not list(where.glob("compiled_mod.*.so")):
        pytest.skip(f"mypyc could not build a module here: {build.stderr[-500:]}")
    os.remove(where / "compiled_mod.py")  # the compiled module is what is imported
    return where


def test_a_mypyc_compiled_module_imports_under_strict(tp, compiled_module):
    tp.script(f"""
        import sys
        sys.path.insert(0, {str(compiled_module)!r})
        import compiled_mod
        print(compiled_mod.make(3).n, compiled_mod.Thing.__module__, type(compiled_mod).__name__)
        """)
    r = tp("run", "--quiet", "--policy", "strict", "app.py")
    assert (r.rc, r.out.split()) == (0, ["3", "compiled_mod", "module"]), r.err
    assert "internal error" not in r.err
    setattr_records = [rec["args"] for rec in r.events("object.__setattr__")]
    assert ["<class Thing>", "__module__", "compiled_mod"] in setattr_records, setattr_records
    assert ["<class Failure>", "__module__", "compiled_mod"] in setattr_records, setattr_records


# ---- facts conditions read, in unusual places ----------------------------------------------

FACTS_POLICY = """
version = 1
[[rules]]
id = "no-shadow"
events = ["open", "shutil.copyfile"]
action = "deny"
when = { path = ["/etc/shadow"] }

[[rules]]
id = "no-evil-host"
events = ["socket.getaddrinfo"]
action = "deny"
when = { host = ["evil.example"] }

[[rules]]
id = "no-port-6666"
events = ["socket.getaddrinfo"]
action = "deny"
when = { port = [6666] }

[[rules]]
id = "no-rm"
events = ["subprocess.Popen"]
action = "deny"
when = { executable = ["/bin/rm", "/usr/bin/rm"] }
"""

FACTS_PROGRAM = r"""
import os, shutil, socket, subprocess, tempfile
CALLS = []

class Env(dict):  # the program's own mapping (subprocess reads it with get and items)
    def __contains__(self, key):
        CALLS.append("__contains__")
        raise RuntimeError("the program's __contains__ ran")

def attempt(name, operation):
    try:
        operation()
        print(name, "done")
    except PermissionError as exc:
        print(name, "denied", getattr(exc, "rule", None))
    except Exception as exc:
        print(name, type(exc).__name__)

base = os.path.realpath(tempfile.mkdtemp())
gone = os.path.join(base, "a", "gone")
os.makedirs(gone)
os.chdir(gone)
os.rmdir(gone)  # the working directory no longer exists; ".." still leads out of it
attempt("removed cwd", lambda: open("../sibling.txt", "w").close())
attempt("removed cwd to shadow", lambda: open("../" * 20 + "etc/shadow").close())
os.chdir(base)
attempt("nul path", lambda: shutil.copyfile("a\0b", "c"))
attempt("bytes host", lambda: socket.getaddrinfo(b"localhost", 80))
attempt("bytes evil host", lambda: socket.getaddrinfo(b"EVIL.example", 80))
attempt("superscript port", lambda: socket.getaddrinfo("localhost", "\u00b2"))
attempt("long port", lambda: socket.getaddrinfo("localhost", "9" * 5000))
attempt("port as text", lambda: socket.getaddrinfo("localhost", "6666"))
attempt("env of the program's class", lambda: subprocess.run(["true"], env=Env(PATH="/usr/bin:/bin")))
attempt("rm with that env", lambda: subprocess.run(["rm", "--version"], env=Env(PATH="/usr/bin:/bin"),
                                                   stdout=subprocess.DEVNULL))
print("CALLS", CALLS)
"""


def test_facts_in_unusual_places_decide_without_internal_errors(tp):
    tp.policy(FACTS_POLICY)
    tp.script(FACTS_PROGRAM)
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    assert "internal error" not in r.err
    assert r.out.splitlines() == [
        "removed cwd done",
        "removed cwd to shadow denied no-shadow",  # from where the directory was
        "nul path ValueError",  # as under python: embedded null byte
        "bytes host done",
        "bytes evil host denied no-evil-host",
        "superscript port denied no-port-6666",  # not a port number: unknown, so a deny rule applies
        "long port denied no-port-6666",
        "port as text denied no-port-6666",
        "env of the program's class done",
        "rm with that env denied no-rm",
        "CALLS []",
    ], r.err
