"""tpython's own start-up modules read from one file of compiled code.

`tpython run` imports about 45 of its own modules before the program starts;
finding, opening and reading each one's ``.pyc`` costs about 4 ms of every
start. ``__pycache__/startup.TAG.bundle`` beside the package holds the same
compiled code (each module compiled from its source as the import system
compiles it) in one file, read once: an index, then each module's code, which is
unmarshalled where it lies in that one buffer. It is trusted exactly as far as the
``.pyc`` files beside it are: it lives in the same directory tree and is
written the same way (by the interpreter running tpython, atomically). Each entry records its source's
mtime and size, as a ``.pyc`` does, and one whose source changed is not used:
the module is imported the usual way and the bundle is written again.

The `tpython` command installs the finder before importing its modules
(:func:`use_bundle`); `tpython run` takes it out of ``sys.meta_path`` before
the hooks are installed and the program starts (:func:`finish`), writing the
bundle when a start-up module was missing from it. Any failure here only
means the usual imports.
"""
import marshal
import os
import sys
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import cache_from_source

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
BUNDLE = os.path.join(PACKAGE_DIR, "__pycache__", f"startup.{sys.implementation.cache_tag}.bundle")
FORMAT = 5  # 2: each entry holds its cached (.pyc) path; 3, 4: compiled by lean_code(); 5: index, then code
_LENGTH_BYTES = 8  # the file begins with the index's length, little-endian
_ACTIVE: "list[BundleFinder]" = []


class BundleFinder:
    """A meta path finder and loader for ``tpython.*`` modules held in the bundle.
    ENTRIES: name -> (is_package, source path, source mtime_ns, source size, marshalled
    code (bytes, or a view of the bundle as read), cached path: what cache_from_source
    gave when the bundle was written, about 10 µs of importlib's path code for each of
    some 45 modules otherwise)."""

    def __init__(self, entries: "dict[str, tuple[Any, ...]]") -> None:
        self.entries = entries
        self.missed: set[str] = set()  # tpython modules not in the bundle, or whose source changed

    def find_spec(self, name: str, path: "Any" = None, target: "Any" = None) -> "Optional[ModuleSpec]":
        if not name.startswith("tpython."):
            return None
        entry = self.entries.get(name)
        if entry is None or not _fresh(entry):
            self.missed.add(name)  # tpython._native among them: not Python source, never bundled
            return None
        is_package, origin = entry[0], entry[1]
        spec = ModuleSpec(name, self, origin=origin, is_package=is_package)  # type: ignore[arg-type]
        spec.has_location = True
        spec.cached = entry[5]
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    def create_module(self, spec: ModuleSpec) -> None:
        return None  # the default module

    def exec_module(self, module: "Any") -> None:
        exec(marshal.loads(self.entries[module.__spec__.name][4]), module.__dict__)


def _fresh(entry: "tuple[Any, ...]") -> bool:
    try:
        st = os.stat(entry[1])
    except OSError:
        return False
    return bool(st.st_mtime_ns == entry[2] and st.st_size == entry[3])


def use_bundle() -> None:
    """Put the bundle's finder first on ``sys.meta_path`` (an empty one when there is no
    usable bundle yet, so that :func:`finish` writes it)."""
    entries: dict[str, tuple[Any, ...]] = {}
    try:
        with open(BUNDLE, "rb") as f:
            data = memoryview(f.read())  # one read, no copy of each module's code (about 90 pages)
        code_at = _LENGTH_BYTES + int.from_bytes(data[:_LENGTH_BYTES], "little")
        index = marshal.loads(data[_LENGTH_BYTES:code_at])
        if isinstance(index, dict) and index.get("format") == FORMAT and index.get("package") == PACKAGE_DIR \
                and isinstance(index.get("modules"), dict):
            for name, (is_package, origin, mtime_ns, size, offset, length, cached) in index["modules"].items():
                start = code_at + offset
                if 0 <= offset and 0 <= length and start + length <= len(data):
                    entries[name] = (is_package, origin, mtime_ns, size, data[start:start + length], cached)
    except (OSError, ValueError, EOFError, TypeError):
        entries = {}
    finder = BundleFinder(entries)
    sys.meta_path.insert(0, finder)
    _ACTIVE.append(finder)


def finish(write: bool) -> None:
    """Take the finder out of ``sys.meta_path`` (the program never meets it); with WRITE,
    write the bundle again when a start-up module was missing from it or changed."""
    if not _ACTIVE:
        return
    finder = _ACTIVE.pop()
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
    if not write:
        return
    missing = {name for name in finder.missed if _source_of(sys.modules.get(name)) is not None}
    if missing:
        _write({name: entry for name, entry in finder.entries.items() if _fresh(entry)}, missing)


def _source_of(module: "Any") -> "Optional[str]":
    """MODULE's source file when it is one of tpython's own Python modules."""
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    if isinstance(origin, str) and origin.endswith(".py") and origin.startswith(PACKAGE_DIR + os.sep):
        return origin
    return None


def lean_code(source: bytes, filename: str) -> "Any":
    """SOURCE compiled without what a running `tpython run` never reads: docstrings
    (``__doc__`` is None), the annotations of function parameters and returns (each
    ``def`` built a tuple of them), and the run-time import of `__future__` that each
    ``from __future__ import ...`` makes (its features become compiler flags, as the
    statement itself would have made them). Class-level annotations stay:
    `lean_typing.NamedTuple` reads its fields from them. About a tenth of the bundle's
    bytes and of the time spent unmarshalling them; line numbers, and so tracebacks,
    are unchanged.

    Built on `_ast`, the compiler's own node types: the `ast` module would load
    `contextlib`, `collections` and `functools` into the launcher, which the program
    then inherits."""
    import _ast

    functions = (_ast.FunctionDef, _ast.AsyncFunctionDef)
    tree: Any = compile(source, filename, "exec", _ast.PyCF_ONLY_AST, dont_inherit=True)
    features = 0
    for index, statement in enumerate(tree.body):
        if isinstance(statement, _ast.ImportFrom) and statement.module == "__future__":
            import __future__

            for alias in statement.names:
                features |= getattr(__future__, alias.name).compiler_flag
            tree.body[index] = _pass_at(statement)
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (_ast.Module, _ast.ClassDef, *functions)):
            body = node.body
            if body and isinstance(body[0], _ast.Expr) and isinstance(body[0].value, _ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [_pass_at(body[0])]
        if isinstance(node, functions):
            node.returns = None
            arguments = node.args
            for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                        arguments.vararg, arguments.kwarg):
                if arg is not None:
                    arg.annotation = None
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, list):
                todo.extend(item for item in value if isinstance(item, _ast.AST))
            elif isinstance(value, _ast.AST):
                todo.append(value)
    return compile(tree, filename, "exec", features, dont_inherit=True)


def _pass_at(node: "Any") -> "Any":
    """A `pass` statement where NODE stood (a statement taken out keeps its lines)."""
    import _ast

    return _ast.Pass(lineno=node.lineno, col_offset=node.col_offset, end_lineno=node.end_lineno,
                     end_col_offset=node.end_col_offset)


def _write(entries: "dict[str, tuple[Any, ...]]", missing: "set[str]") -> None:
    """ENTRIES plus the MISSING modules, compiled from their sources as the import
    system compiles them, to BUNDLE (nothing is compiled where it cannot be written)."""
    tmp = f"{BUNDLE}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(BUNDLE), exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError:  # a read-only installation: the usual imports, every time
        return
    try:
        with os.fdopen(fd, "wb") as f:
            for name in sorted(missing):
                module: Any = sys.modules[name]
                origin = _source_of(module)
                assert origin is not None
                with open(origin, "rb") as source:
                    st = os.fstat(source.fileno())
                    code = lean_code(source.read(), origin)
                entries[name] = (module.__spec__.submodule_search_locations is not None, origin, st.st_mtime_ns,
                                 st.st_size, marshal.dumps(code), cache_from_source(origin))
            index: dict[str, tuple[Any, ...]] = {}
            codes = []
            offset = 0
            for name, (is_package, origin, mtime_ns, size, code, cached) in sorted(entries.items()):
                index[name] = (is_package, origin, mtime_ns, size, offset, len(code), cached)
                codes.append(code)
                offset += len(code)
            header = marshal.dumps({"format": FORMAT, "package": PACKAGE_DIR, "modules": index})
            f.write(len(header).to_bytes(_LENGTH_BYTES, "little"))
            f.write(header)
            for code in codes:
                f.write(code)
        os.replace(tmp, BUNDLE)  # readers see the old file or the new one, never half of one
    except (OSError, SyntaxError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass
