"""tpython's own modules read from one file of compiled code, made when tpython is built.

`tpython run` imports about 45 of its own modules before the program starts;
finding, opening and reading each one's ``.pyc`` costs about 4 ms of every
start. ``__pycache__/startup.TAG.bundle`` beside the package holds the same
compiled code (every module of the package, compiled from its source) in one
file: an index, read at start, then each module's code, read (`pread`) only
when the module is imported: a run imports about half of them.

The bundle is written only when tpython is built (:func:`build`, called by
``setup.py``): into the wheel, so that it is one of the installed files that
``pip uninstall`` removes, or, for an editable install, beside the sources. No
run of tpython ever writes it: code that runs before any hook is not something
a watched program may leave behind for the next run.

Each entry records its source's size, and, for an editable install, its mtime:
one whose source changed is not used, and the module is imported the usual way.
pip does not keep files' mtimes, so an installed (sealed) bundle is checked by
size only; it is replaced with the sources it was made from whenever tpython is
installed again.

The `tpython` command installs the finder before importing its modules
(:func:`use_bundle`); `tpython run` takes it out of ``sys.meta_path`` before
the hooks are installed and the program starts (:func:`finish`). Any failure
here only means the usual imports.
"""
import marshal
import os
import sys
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import cache_from_source
from _imp import _fix_co_filename  # type: ignore[attr-defined]  # what the import system does for a .pyc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
BUNDLE = os.path.join(PACKAGE_DIR, "__pycache__", f"startup.{sys.implementation.cache_tag}.bundle")
FORMAT = 6  # 5: index, then code; 6: made at build time, paths relative to the package, sealed or not
_LENGTH_BYTES = 8  # the file begins with the index's length, little-endian
_ACTIVE: "list[BundleFinder]" = []
_OPEN: "list[int]" = []  # the bundle's descriptor while tpython starts


class BundleFinder:
    """A meta path finder and loader for ``tpython.*`` modules held in the bundle.
    ENTRIES: name -> (is_package, source path, source mtime_ns (None: not checked, a
    sealed bundle), source size, where its marshalled code is (the bundle's open
    descriptor, offset, length), cached path: the ``.pyc`` path cache_from_source gives, about 10 µs of
    importlib's path code for each of some 45 modules otherwise)."""

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
        entry = self.entries[module.__spec__.name]
        fd, offset, length = entry[4]
        code = marshal.loads(os.pread(fd, length, offset))
        _fix_co_filename(code, entry[1])  # compiled where it was built: named where it is (as a .pyc's is)
        exec(code, module.__dict__)


def _fresh(entry: "tuple[Any, ...]") -> bool:
    try:
        st = os.stat(entry[1])
    except OSError:
        return False
    return bool(st.st_size == entry[3] and (entry[2] is None or st.st_mtime_ns == entry[2]))


def read_bundle(path: str = BUNDLE, package_dir: str = PACKAGE_DIR) -> "dict[str, tuple[Any, ...]]":
    """The entries of the bundle at PATH (see :class:`BundleFinder`), its relative paths
    made absolute under PACKAGE_DIR; none when it cannot be used. Entries that would run
    past the file's end are left out. The bundle stays open (its code is read as it is
    imported) until :func:`finish`."""
    entries: dict[str, tuple[Any, ...]] = {}
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return {}
    _OPEN.append(fd)
    try:
        end = os.fstat(fd).st_size
        code_at = _LENGTH_BYTES + int.from_bytes(os.pread(fd, _LENGTH_BYTES, 0), "little")
        if not _LENGTH_BYTES < code_at <= end:
            return {}
        index = marshal.loads(os.pread(fd, code_at - _LENGTH_BYTES, _LENGTH_BYTES))
        if not (isinstance(index, dict) and index.get("format") == FORMAT and isinstance(index.get("modules"), dict)):
            return {}
        sealed = index.get("sealed") is True
        for name, (is_package, origin, mtime_ns, size, offset, length, cached) in index["modules"].items():
            start = code_at + offset
            if 0 <= offset and 0 <= length and start + length <= end:
                entries[name] = (is_package, os.path.join(package_dir, origin), None if sealed else mtime_ns, size,
                                 (fd, start, length), os.path.join(package_dir, cached))
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    return entries


def use_bundle() -> None:
    """Put the bundle's finder first on ``sys.meta_path`` (an empty one when there is no
    usable bundle: every module is then imported the usual way)."""
    entries = read_bundle()
    finder = BundleFinder(entries)
    sys.meta_path.insert(0, finder)
    _ACTIVE.append(finder)


def finish() -> None:
    """Take the finder out of ``sys.meta_path`` and close the bundle: the program never
    meets either."""
    while _OPEN:
        os.close(_OPEN.pop())
    if not _ACTIVE:
        return
    finder = _ACTIVE.pop()
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)


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


def build(package_dir: str, *, sealed: bool) -> str:
    """Compile every Python module under PACKAGE_DIR (a ``tpython`` package as built or as
    checked out) into its bundle, and return the bundle's path. SEALED: for an installed
    package (checked by source size; pip does not keep mtimes), else for an editable one
    (size and mtime). Raises OSError or SyntaxError: a build that cannot make its bundle
    says so. Called by setup.py, never by a run."""
    package_dir = os.path.abspath(package_dir)
    parent = os.path.dirname(package_dir)
    modules: dict[str, tuple[Any, ...]] = {}
    codes: dict[str, bytes] = {}
    for folder, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if os.path.isfile(os.path.join(folder, d, "__init__.py")))
        for file in sorted(f for f in files if f.endswith(".py")):
            origin = os.path.join(folder, file)
            dotted = os.path.relpath(origin, parent)[:-3].replace(os.sep, ".")
            is_package = file == "__init__.py"
            name = dotted[:-len(".__init__")] if is_package else dotted
            if name == "tpython" or name.endswith(".__main__"):
                continue  # imported before the finder exists / never at start-up
            relative = os.path.relpath(origin, package_dir)
            with open(origin, "rb") as source:
                st = os.fstat(source.fileno())
                codes[name] = marshal.dumps(lean_code(source.read(), origin))
            modules[name] = (is_package, relative, st.st_mtime_ns, st.st_size,
                             os.path.relpath(cache_from_source(origin), package_dir))
    return _write(os.path.join(package_dir, os.path.relpath(BUNDLE, PACKAGE_DIR)), modules, codes, sealed)


def _write(path: str, modules: "dict[str, tuple[Any, ...]]", codes: "dict[str, bytes]", sealed: bool) -> str:
    """MODULES (name -> is_package, relative source, mtime_ns, size, relative cached path)
    and their CODES, as one bundle at PATH, written atomically."""
    index: dict[str, tuple[Any, ...]] = {}
    offset = 0
    for name in sorted(modules):
        is_package, origin, mtime_ns, size, cached = modules[name]
        index[name] = (is_package, origin, mtime_ns, size, offset, len(codes[name]), cached)
        offset += len(codes[name])
    header = marshal.dumps({"format": FORMAT, "sealed": sealed, "modules": index})
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(len(header).to_bytes(_LENGTH_BYTES, "little"))
        f.write(header)
        for name in sorted(modules):
            f.write(codes[name])
    os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    return path
