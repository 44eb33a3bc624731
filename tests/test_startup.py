"""Start-up: what `tpython run` loads before the program, and the stand-ins that keep it small.

The stand-ins (`tpython.jsontext`, `tpython.lean_typing`, `facts.is_address`) replace
standard modules on the start-up path; each is checked here against the module it
stands in for. Speed itself is measured by `benchmarks/overhead.py`, not asserted.
"""
from __future__ import annotations

import collections
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import types
from typing import Any

import pytest
from conftest import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from tpython.engine.facts import is_address, parse_address
from tpython.jsontext import dumps
from tpython.lean_typing import NamedTuple, tuple_class

# Loaded by none of tpython's start-up for the default profile; each costs milliseconds.
HEAVY = {"typing", "re", "json", "enum", "ipaddress", "collections", "contextlib", "functools",
         "hashlib", "ctypes", "importlib.util", "tempfile", "inspect", "dataclasses", "sysconfig"}

SHOW_MODULES = "import sys\nprint(' '.join(sorted(sys.modules)))\n"


def _modules(out: str) -> set[str]:
    return set(out.split())


def _loaded_beyond_plain(tp, *run_args: str) -> tuple[set[str], set[str]]:
    """(the program's sys.modules under `tpython run RUN_ARGS`, those plain python does not load)."""
    tp.script(SHOW_MODULES, "show.py")
    plain = subprocess.run([sys.executable, "show.py"], cwd=tp.cwd, capture_output=True, text=True, check=True)
    r = tp("run", "--quiet", *run_args, "show.py")
    assert r.rc == 0, r.err
    loaded = _modules(r.out)
    return loaded, loaded - _modules(plain.stdout)


def test_default_run_loads_no_heavy_module_the_program_did_not(tp):
    """A program under `default` starts with only what plain python would load, tpython's
    own modules, and a few small built-in ones: none of HEAVY."""
    loaded, extra = _loaded_beyond_plain(tp)
    assert "tpython.engine.engine" in loaded  # the list is the watched program's own sys.modules
    assert sorted(extra & HEAVY) == []
    assert "_socket" not in extra  # sockets and addresses through tpython._native (native/render.c)


SHOW_PYTHON_MODULES = """
import sys
import types
print(' '.join(sorted(n for n, m in sys.modules.items() if str(getattr(m, '__file__', '')).endswith('.py'))))
"""


@pytest.mark.parametrize("profile", ["default", "strict"])
def test_the_program_inherits_no_python_module_of_the_standard_library_plain_python_lacks(tp, profile):
    """Beyond tpython's own, the modules a program starts with under `tpython run` that
    plain python does not load are C modules only (such as _socket, _json): no `.py`
    module (not `__future__`, which every `from __future__ import annotations` imports
    at run time, nor `encodings.ascii`)."""
    tp.script(SHOW_PYTHON_MODULES, "show_py.py")
    plain = subprocess.run([sys.executable, "show_py.py"], cwd=tp.cwd, capture_output=True, text=True, check=True)
    r = tp("run", "--quiet", "--policy", profile, "show_py.py")
    assert r.rc == 0, r.err
    extra = {n for n in _modules(r.out) - _modules(plain.stdout) if n != "tpython" and not n.startswith("tpython.")}
    assert sorted(extra) == []


def test_strict_loads_no_heavy_module(tp):
    """strict's `arg` regexes are matched by PCRE2 in tpython._native, its event globs with
    string methods, its path and caller globs in C: no `re` at start."""
    _, extra = _loaded_beyond_plain(tp, "--policy", "strict")
    assert sorted(extra & HEAVY) == []


def test_a_host_condition_loads_ipaddress_before_the_program_runs(tp):
    """parse_address imports ipaddress lazily; the rules compile it first, so the
    program's own first connect is not where tpython imports a module."""
    tp.policy("""
        version = 1
        [[rules]]
        id = "lan"
        events = ["socket.connect"]
        when = { host = ["10.0.0.0/8"] }
        action = "deny"
    """)
    tp.script("import sys\nprint('ipaddress' in sys.modules)\n", "show.py")
    r = tp("run", "--quiet", "--policy", "policy.toml", "show.py")
    assert r.rc == 0, r.err
    assert r.out.strip() == "True"


LOCATIONS_AGAINST_SYSCONFIG = """
import sys, sysconfig
from tpython.locations import _find_locations
found = _find_locations()
prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
for prefix in prefixes:
    paths = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix,
                                      "installed_base": prefix, "installed_platbase": prefix})
    for key in ("purelib", "platlib"):
        assert paths[key].rstrip("/") in found.site, (key, paths[key], found)
base = sysconfig.get_paths()
for key in ("stdlib", "platstdlib"):
    assert base[key].rstrip("/") in found.stdlib, (key, base[key], found)
assert not set(found.site) & set(found.stdlib)
print("ok")
"""


def test_locations_hold_what_sysconfig_names_without_importing_it():
    """tpython.locations reads site's own list (a superset on Debian, which adds
    /usr/lib/python3/dist-packages) and the stdlib directory, as the bootstrap sees them (-I -S)."""
    import os

    src = os.path.dirname(os.path.dirname(os.path.abspath(__import__("tpython").__file__)))
    r = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {src!r})\n"
                        + LOCATIONS_AGAINST_SYSCONFIG], capture_output=True, text=True)
    assert r.stdout.strip() == "ok", r.stderr


# -- tpython.jsontext: json.dumps without importing json ---------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.booleans(), st.booleans())
def test_dumps_is_json_dumps_compact(value: Any, sort_keys: bool, ascii_only: bool):
    expected = json.dumps(value, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=ascii_only)
    assert dumps(value, sort_keys=sort_keys, ascii_only=ascii_only) == expected


def test_dumps_edge_values():
    for value in ["", "\ud800", "\u2028", "é", [(), ()], {"b": [1.5, -0.0], "a": math.inf}, 2**80, True]:
        assert dumps(value) == json.dumps(value, separators=(",", ":"))
    assert dumps("\udcff", ascii_only=False) == json.dumps("\udcff", separators=(",", ":"), ensure_ascii=False)


def test_dumps_refuses_what_json_refuses():
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"a": object()})
    with pytest.raises(TypeError):
        dumps({("tuple", "key"): 1})


# -- tpython.lean_typing: NamedTuple without typing or collections -------------------

class Lean(NamedTuple):
    """A lean record."""

    name: str
    size: int = 0
    tags: tuple[str, ...] = ()

    def label(self) -> str:
        return f"{self.name}:{self.size}"


Reference = collections.namedtuple("Reference", ["name", "size", "tags"], defaults=[0, ()])


def test_lean_named_tuple_behaves_as_namedtuple():
    lean, ref = Lean("a", 2), Reference("a", 2)
    assert tuple(lean) == tuple(ref) == ("a", 2, ())
    assert lean == ref and hash(lean) == hash(ref)
    assert repr(lean) == repr(ref).replace("Reference", "Lean")
    assert Lean._fields == Reference._fields and Lean._field_defaults == Reference._field_defaults
    assert lean._asdict() == ref._asdict()
    assert lean._replace(size=5) == ("a", 5, ()) and type(lean._replace(size=5)) is Lean
    assert Lean._make(["b", 1, ("x",)]).label() == "b:1"
    assert Lean(name="c", tags=("t",)) == ("c", 0, ("t",))
    assert Lean.__doc__ == "A lean record." and Lean.__qualname__ == "Lean" and Lean.__module__ == __name__
    name, size, tags = lean
    assert (name, size, tags) == ("a", 2, ())
    assert pickle.loads(pickle.dumps(lean)) == lean


@pytest.mark.parametrize("call, message", [
    (lambda: Lean(), "missing 1 required positional argument: 'name'"),
    (lambda: Lean("a", 1, (), 4), "positional arguments but 5 were given"),
    (lambda: Lean("a", name="b"), "multiple values for argument 'name'"),
    (lambda: Lean("a", colour=1), "unexpected keyword argument 'colour'"),
])
def test_lean_named_tuple_rejects_bad_arguments_as_python_does(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_lean_named_tuple_fields_are_read_only_and_checked():
    with pytest.raises(AttributeError):
        Lean("a").size = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="bad field name"):
        tuple_class("Bad", ["ok", "_private"])
    with pytest.raises(ValueError, match="Got unexpected field names"):
        Lean("a")._replace(colour=1)


@pytest.mark.parametrize("count", [1, 2, 11, 20, 21, 30])
def test_tuple_classes_of_every_field_count_take_their_fields_by_name_and_position(count):
    """Up to 20 fields the ``__new__`` is a written-out one; beyond, one compiled once."""
    fields = [f"f{i}" for i in range(count)]
    ours, ref = tuple_class("T", fields, defaults=[-1]), collections.namedtuple("T", fields, defaults=[-1])
    values = list(range(count))
    assert ours(*values) == ref(*values) == tuple(values)
    assert ours(**{f: i for i, f in enumerate(fields)}) == tuple(values)
    assert ours(*values[:-1]) == (*values[:-1], -1)  # the last field's default
    with pytest.raises(TypeError, match=f"takes from {count} to {count + 1} positional arguments"):
        ours(*values, 0)
    assert ours.__new__.__code__.co_varnames == ("_cls", *fields)


# -- facts.is_address: the socket guards' literal check, without ipaddress -----------

ADDRESS_LIKE = st.text(alphabet="0123456789abcdefxX.:%[]-/gz", max_size=24)


@settings(max_examples=1000, deadline=None)
@given(ADDRESS_LIKE)
def test_is_address_agrees_with_parse_address(host: str):
    assert is_address(host) == (parse_address(host) is not None)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "0x7f.1", "::1", "[::1]", "fe80::1%eth0", "4294967295",
                                  "::ffff:10.0.0.1"])
def test_is_address_literals(host: str):
    assert is_address(host) and parse_address(host) is not None


@pytest.mark.parametrize("host", ["localhost", "example.com", "", "1.2.3.4.5", "256.256.256.256.1", "deadbeef",
                                  "1::2::3"])
def test_is_address_names(host: str):
    assert not is_address(host) and parse_address(host) is None


# -- render.socket_class, inet_aton, is_ipv6: sockets and addresses without _socket ---

SOCKETISH = st.text(alphabet="0123456789abcdefxX.:%[]-/gz \x00\udc80", max_size=24)


@settings(max_examples=1000, deadline=None)
@given(SOCKETISH)
def test_the_c_librarys_address_readers_agree_with_socket(text: str):
    """tpython._native's inet_aton and is_ipv6 are the C library's, as _socket's are;
    a NUL or a lone surrogate makes no address (where _socket raises ValueError)."""
    import _socket

    from tpython import _native

    try:
        packed = _socket.inet_aton(text)
    except (OSError, ValueError, UnicodeEncodeError):
        packed = None
    try:
        _socket.inet_pton(_socket.AF_INET6, text)
        six = True
    except (OSError, ValueError, UnicodeEncodeError):
        six = False
    assert (_native.inet_aton(text), _native.is_ipv6(text)) == (packed, six)


def test_socket_class_is_the_genuine_one_along_a_values_own_type():
    import socket

    from tpython import _native

    def render(value: object) -> object:
        return json.loads(_native.render_args((value,)))[0]

    class Named:  # a class the program wrote, named after the socket class
        pass

    Named.__name__ = Named.__qualname__ = "_socket.socket"
    Named.__module__ = "_socket"

    class Sub(socket.socket):
        pass

    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as plain, Sub(socket.AF_UNIX, socket.SOCK_STREAM) as sub:
        assert _native.socket_class(plain) is _native.socket_class(sub) is socket.socket.__mro__[1]
        assert render(plain) == {"socket": {"family": "AF_INET6", "type": "SOCK_DGRAM"}}
        assert render(sub) == {"socket": {"family": "AF_UNIX", "type": "SOCK_STREAM"}}
    assert _native.socket_class(Named()) is None and _native.socket_class(socket) is None
    assert render(Named()) == "<_socket._socket.socket>"


@pytest.mark.parametrize("how", ["launcher", "exec"])
def test_the_program_runs_with_the_collector_enabled(tp, how):
    """tpython's own start-up runs with the cyclic collector off (the `tpython` command, the
    exec'd bootstrap); the program gets it on, as under python."""
    tp.script("import gc\nprint(gc.isenabled(), gc.get_freeze_count() > 0)\n", "show.py")
    if how == "launcher":
        r = tp("run", "--quiet", "show.py")
    else:  # not started as the `tpython` command: the launcher execs a fresh interpreter
        proc = subprocess.run([sys.executable, "-X", "dev", "-m", "tpython", "run", "--quiet", "--log",
                               f"jsonl:{tp.log}", "show.py"], cwd=tp.cwd, capture_output=True, text=True)
        r = Result(proc.returncode, proc.stdout, proc.stderr, tp.log)
    assert r.rc == 0, r.err
    assert r.events("tpython.start")[0]["args"]["boot"] == how
    assert r.out.split() == ["True", "True"]


# -- tpython.startup_bundle: start-up modules from one file of compiled code ---------

LOADERS = """
import sys
import types
mods = {n: type(m.__spec__.loader).__name__ for n, m in sys.modules.items() if n.startswith("tpython.")}
print(mods["tpython.cli"], mods["tpython.launcher.bootstrap"], sum(v == "BundleFinder" for v in mods.values()))
print(any(type(f).__name__ == "BundleFinder" for f in sys.meta_path))
"""


def _loaders(tp) -> list[str]:
    tp.script(LOADERS, "loaders.py")
    r = tp("run", "--quiet", "loaders.py")
    assert r.rc == 0, r.err
    return r.out.split()


def test_start_up_modules_come_from_the_bundle_which_the_program_never_meets(tp):
    from tpython import startup_bundle

    with open(startup_bundle.BUNDLE, "rb") as f:
        before = f.read()
    loaders = _loaders(tp)
    assert loaders[:2] == ["BundleFinder", "BundleFinder"] and int(loaders[2]) >= 30
    assert loaders[3] == "False"  # taken out of sys.meta_path before the program runs
    with open(startup_bundle.BUNDLE, "rb") as f:
        assert f.read() == before  # a run never writes it


@pytest.fixture
def built_copy(tmp_path):
    """A copy of the tpython package with its own bundle, as setup.py builds one."""
    from tpython import startup_bundle

    package = tmp_path / "tpython"
    shutil.copytree(startup_bundle.PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    return package


@pytest.mark.parametrize("sealed", [True, False])
def test_a_built_bundle_holds_every_module_and_entries_whose_source_changed_are_not_used(built_copy, sealed):
    """Editable builds check each source's size and mtime; installed (sealed) ones its size
    only, as pip keeps no mtimes: an installed bundle is replaced with its sources."""
    from tpython import startup_bundle

    path = startup_bundle.build(str(built_copy), sealed=sealed)
    entries = startup_bundle.read_bundle(path, str(built_copy))
    modules = {".".join(p.relative_to(built_copy.parent).with_suffix("").parts).replace(".__init__", "")
               for p in built_copy.rglob("*.py")} - {"tpython", "tpython.__main__"}
    assert set(entries) == modules
    finder = startup_bundle.BundleFinder(entries)
    spec = finder.find_spec("tpython.engine.plain")
    assert spec is not None and spec.origin == str(built_copy / "engine" / "plain.py") and not finder.missed
    module = types.ModuleType("tpython.engine.plain")
    module.__spec__ = spec
    finder.exec_module(module)
    assert module.exact_str.__code__.co_filename == spec.origin  # named where it lies, not where it was built
    source = built_copy / "engine" / "plain.py"
    os.utime(source, ns=(0, 0))  # touched: stale for an editable bundle only
    assert (finder.find_spec("tpython.engine.plain") is None) is (not sealed)
    source.write_text(source.read_text() + "\n# edited\n")  # another size: stale for both
    assert finder.find_spec("tpython.engine.plain") is None and "tpython.engine.plain" in finder.missed
    assert finder.find_spec("json") is None  # only tpython's own modules


def test_a_bundle_cut_short_or_broken_is_used_up_to_its_end_or_not_at_all(built_copy):
    from tpython import startup_bundle

    path = startup_bundle.build(str(built_copy), sealed=True)
    with open(path, "rb") as f:
        data = f.read()
    whole = startup_bundle.read_bundle(path, str(built_copy))
    with open(path, "wb") as f:  # the last module's code loses its end: a torn or short file
        f.write(data[:-200])
    assert len(startup_bundle.read_bundle(path, str(built_copy))) == len(whole) - 1
    for broken in (b"", b"not marshal data", data[:12]):
        with open(path, "wb") as f:
            f.write(broken)
        assert startup_bundle.read_bundle(path, str(built_copy)) == {}


def test_bundled_code_drops_docstrings_annotations_and_future_imports_but_keeps_lines_fields_and_features():
    from tpython.startup_bundle import lean_code

    source = b'''"""Module doc."""
from __future__ import annotations


class Point:
    """Class doc."""
    x: int
    y: "str" = "b"


def f(a: int, *rest: str, key: bytes = b"", **kw: float) -> list:
    """Function doc."""
    return [a, rest, key, kw]


async def g() -> None:
    "Only a docstring."


def where():
    raise ValueError("line 21")
'''
    namespace: dict = {"__name__": "lean"}
    exec(lean_code(source, "lean.py"), namespace)
    assert namespace.get("__doc__") is None and "annotations" not in namespace  # no `__future__` import ran
    assert namespace["Point"].__doc__ is None and namespace["f"].__doc__ is None and namespace["g"].__doc__ is None
    assert namespace["Point"].__annotations__ == {"x": "int", "y": "'str'"}  # lean_typing reads these
    assert namespace["f"].__annotations__ == {} and namespace["g"].__annotations__ == {}
    assert namespace["f"](1, "r", key=b"k", z=2.0) == [1, ("r",), b"k", {"z": 2.0}]
    try:
        namespace["where"]()
    except ValueError as exc:
        assert exc.__traceback__.tb_next.tb_lineno == 21
    # Exactly as compiled from the source apart from those: the same code for every function.
    plain: dict = {"__name__": "lean"}
    exec(compile(source, "lean.py", "exec", dont_inherit=True), plain)
    assert namespace["where"].__code__.co_code == plain["where"].__code__.co_code


def test_a_builtin_profile_comes_from_its_merged_cache_without_the_loader_and_unchanged(tp):
    """`tpython run --policy strict` takes strict's validated, merged policy from the cache
    made when tpython was built: the policy loader is never loaded, and the policy (its
    digest in `tpython.start`) and what it denies are exactly what the loader makes."""
    from tpython.policy import loader, profile_cache

    merged = profile_cache.merged_path(profile_cache.profile_path("strict"))
    stamp = os.stat(merged).st_mtime_ns
    tp.script("import sys\nprint('tpython.policy.loader' in sys.modules)\nimport ctypes\n", "app.py")
    r = tp("run", "--policy", "strict", "--quiet", "app.py")
    assert r.rc != 0 and "strict-native-import" in r.err, r.err
    assert r.out.split() == ["False"]
    made = loader.load_uncached("strict")[0].with_overrides(sinks=(f"jsonl:{tp.log}",))  # as `--log` makes it
    assert r.events("tpython.start")[-1]["args"]["policy"]["digest"] == made.digest
    assert os.stat(merged).st_mtime_ns == stamp  # a run never writes it
