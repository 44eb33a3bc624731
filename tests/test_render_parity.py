"""The native engine renders event arguments as the Python engine does (native/render.c
against tpython.engine.render), including the objects it names rather than looks into:
classes, functions, modules, instances. Each value is raised in its own audit event
under both engines and the logged `args` compared; the native run also says which
records C wrote itself, so a value that always fell back to Python would be seen.
"""
from __future__ import annotations

import json

import pytest

pytest.importorskip("tpython._native")

POLICY = """
version = 1
[[rules]]
id = "render"
events = ["tpython.test.render", "compile", "exec", "os.system"]
action = "log"
"""

PROGRAM = r'''
import pathlib, socket, sys
native = sys.modules.get("tpython._native")

class Plain: pass
class Outer:
    class Inner: pass
class Meta(type): pass
class WithMeta(metaclass=Meta): pass
class OddModule: pass
OddModule.__module__ = 5
class FloatSub(float): pass
class StrSub(str): pass
class ListSub(list): pass
class DictSub(dict): pass
def function(): pass
def outer():
    def inner(): pass
    return inner
no_module = lambda: None
no_module.__module__ = None
empty_module = outer()
empty_module.__module__ = ""
sub_qualname = outer()
sub_qualname.__qualname__ = StrSub("sub.qualname")
nameless = type(sys)("nameless")
del nameless.__name__
numbered = type(sys)("numbered")
numbered.__name__ = 5
sock = socket.socket()

VALUES = {
    "builtin class": int, "heap class": Plain, "nested class": Outer.Inner, "metaclass": WithMeta,
    "odd module class": OddModule, "instance": Plain(), "nested instance": Outer.Inner(),
    "odd module instance": OddModule(), "object": object(), "set": {1, 2}, "frozenset": frozenset(),
    "range": range(3), "slice": slice(1, 2), "ellipsis": ..., "complex": 1j, "float subclass": FloatSub(1.5),
    "function": function, "nested function": outer(), "lambda": lambda: 0, "builtin function": len,
    "method": Plain().__init__, "no module function": no_module, "empty module function": empty_module,
    "str-subclass qualname": sub_qualname,
    "module": sys, "nameless module": nameless, "numbered module": numbered,
    "memoryview": memoryview(b"abc"), "path": pathlib.PurePosixPath("/tmp/x"), "path class": pathlib.Path,
    "socket": sock, "list subclass": ListSub([1, Plain]), "dict subclass": DictSub(a=1),
    "non-str keys": {1: Plain, (2,): function}, "deep": [[[[[Plain(), function, sys]]]]],
    "meta_path": sys.meta_path, "path_hooks": sys.path_hooks, "type of type": type,
    "ints": [0, -1, 7, 2 ** 63 - 1, -2 ** 63, True, False], "big ints": [2 ** 63, -2 ** 63 - 1, 10 ** 30,
                                                                            2 ** 1023, 2 ** 1024, -2 ** 2000],
}
written_in_c = []
for name, value in VALUES.items():
    before = native.stats()["logged_in_c"] if native else 0
    sys.audit("tpython.test.render", name, value)
    if native and native.stats()["logged_in_c"] > before:
        written_in_c.append(name)
sock.close()
SOURCES = {
    "source str": "x = 1\n" * 100, "source non-ASCII": "é = '€'\n" * 40, "source surrogate": "a = '\udc80'",
    "source bytes": b"y = 2\n" * 80, "source bad UTF-8": b"\xff\xfe z = 3", "source bytearray": bytearray(b"q = 4"),
    "source str subclass": StrSub("w = 5"), "source memoryview": memoryview(b"m = 6"), "source code": function.__code__,
    "source object": Plain(), "source empty": "",
}
for name, value in SOURCES.items():
    before = native.stats()["logged_in_c"] if native else 0
    sys.audit("compile", value, name)
    if native and native.stats()["logged_in_c"] > before:
        written_in_c.append(name)
COMMANDS = {"command bytes": b"ls -l /tmp", "command bad bytes": b"echo \xff", "command str": "true",
            "command long": b"x" * 600, "command memoryview": memoryview(b"id")}
for name, value in COMMANDS.items():
    before = native.stats()["logged_in_c"] if native else 0
    sys.audit("os.system", value, name)
    if native and native.stats()["logged_in_c"] > before:
        written_in_c.append(name)
print("C:" + ",".join(written_in_c))
'''

# What C must render itself (it used to leave them all to Python).
C_RENDERS = {"builtin class", "heap class", "nested class", "metaclass", "instance", "nested instance", "object",
             "set", "frozenset", "range", "slice", "ellipsis", "complex", "float subclass", "function",
             "nested function", "lambda", "builtin function", "method", "no module function",
             "empty module function", "str-subclass qualname", "module", "nameless module", "numbered module",
             "deep", "meta_path", "path_hooks", "type of type", "path class", "ints", "path"}
C_RENDERS |= {"source str", "source non-ASCII", "source surrogate", "source bytes", "source bad UTF-8",
              "source bytearray", "source str subclass", "source code", "source object", "source empty"}
C_RENDERS |= {"command bytes", "command bad bytes", "command str", "command long"}
C_RENDERS |= {"big ints"}  # as render._int: the value up to 1024 bits, else its size
# What only Python renders (C sends it there).
PYTHON_RENDERS = {"odd module class", "odd module instance", "memoryview", "socket", "list subclass",
                  "dict subclass", "non-str keys", "source memoryview", "command memoryview"}


def _rendered(tp, engine: str) -> tuple[dict[str, object], set[str]]:
    tp.policy(POLICY)
    tp.script(PROGRAM)
    log = tp.cwd / f"{engine}.jsonl"
    r = tp("run", "--quiet", "--policy", "policy.toml", "--engine", engine, "--log", f"jsonl:{log}", "app.py")
    assert r.rc == 0, r.err
    records = [json.loads(line) for line in log.read_text().splitlines()]
    args = {x["args"][0]: x["args"][1] for x in records if x["event"] == "tpython.test.render"}
    args.update({x["args"][1]: x["args"][0] for x in records
                 if x["event"] in ("compile", "os.system") and str(x["args"][1]).startswith(("source ", "command "))})
    in_c = set(r.out.strip().removeprefix("C:").split(",")) - {""}
    return args, in_c


def test_c_renders_named_values_exactly_as_python(tp):
    python_args, _ = _rendered(tp, "python")
    native_args, in_c = _rendered(tp, "native")
    assert set(python_args) == C_RENDERS | PYTHON_RENDERS
    for name in python_args:
        assert native_args[name] == python_args[name], name
    assert in_c == C_RENDERS
    assert python_args["heap class"] == "<class __main__.Plain>"
    assert python_args["nested instance"] == "<__main__.Outer.Inner>"
    assert python_args["module"] == "<module sys>" and python_args["nameless module"] == "<module None>"
    assert python_args["no module function"] == "<function ?.<lambda>>"
    assert python_args["builtin class"] == "<class builtins.int>" and python_args["set"] == "<set>"
    assert python_args["source str"]["length"] == 600 and len(python_args["source str"]["excerpt"]) == 200
    assert python_args["source code"]["code"]["name"] == "function"
    assert python_args["ints"] == [0, -1, 7, 2 ** 63 - 1, -2 ** 63, True, False]
    assert python_args["big ints"] == [2 ** 63, -2 ** 63 - 1, 10 ** 30, 2 ** 1023, "<int of 1025 bits>",
                                       "<negative int of 2001 bits>"]
    assert python_args["command bytes"] == "ls -l /tmp"  # os.system's command, as text
    assert python_args["command bad bytes"] == "echo \udcff"
