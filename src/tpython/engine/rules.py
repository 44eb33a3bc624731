"""Compile a :class:`~tpython.policy.Policy` into the engine's dispatch table.

Each event name maps, on first sight, to a :class:`Decision`: the
constant action when no rule names the event (one dict lookup from then
on), or the candidate rules in order with the category default behind
them. Conditions become small predicates over an :class:`EventFacts`.
"""
from __future__ import annotations

import sys

from tpython.engine import facts as _facts
from tpython.engine.eventargs import MOVED_LINKS, NEW_LINKS
from tpython.engine.render import render_args
from tpython.jsontext import dumps
from tpython.policy.catalog import category_of
from tpython.policy.model import Policy, Rule
from tpython.policy.patterns import (
    compile_arg_regex,
    compile_globs,
    expand_path_glob,
    native_glob_tokens,
    parse_host,
    parse_port,
    path_placeholders,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional


class EventFacts:
    """Facts about one event, each worked out on first use."""

    __slots__ = ("event", "args", "_rendered", "_json", "_paths", "_hostport", "_exes", "_module", "locate",
                 "caller")

    def __init__(self, event: str, args: tuple[Any, ...],
                 locate: Callable[[], tuple[Optional[str], Optional[str]]],
                 caller: Optional[str] = None) -> None:
        self.event = event
        self.args = args
        self.locate = locate
        self.caller = caller  # the module whose code raised the event (stdlib included)
        self._rendered: Optional[list[Any]] = None
        self._json: Optional[str] = None
        self._paths: Any = False
        self._hostport: Any = None
        self._exes: Any = False
        self._module: Any = False

    @property
    def rendered(self) -> list[Any]:
        if self._rendered is None:
            self._rendered = render_args(self.event, self.args)
        return self._rendered

    @property
    def args_json(self) -> str:
        if self._json is None:
            self._json = dumps(self.rendered, ascii_only=False)
        return self._json

    @property
    def paths(self) -> Optional[list[str]]:
        if self._paths is False:
            self._paths = _facts.event_paths(self.event, self.args)
        return self._paths  # type: ignore[no-any-return]

    @property
    def host_port(self) -> tuple[Optional[str], Optional[int]]:
        if self._hostport is None:
            self._hostport = _facts.event_host_port(self.event, self.args)
        return self._hostport  # type: ignore[no-any-return]

    @property
    def executables(self) -> Optional[list[str]]:
        if self._exes is False:
            self._exes = _facts.event_executables(self.event, self.args)
        return self._exes  # type: ignore[no-any-return]

    @property
    def module(self) -> Optional[str]:
        """The responsible module (SPEC 4), found on first use."""
        if self._module is False:
            self._module = self.locate()
        return self._module[0]  # type: ignore[no-any-return]

    @property
    def module_file(self) -> Optional[str]:
        """The file of the responsible module's frame."""
        if self._module is False:
            self._module = self.locate()
        return self._module[1]  # type: ignore[no-any-return]


if TYPE_CHECKING:
    Predicate = Callable[[EventFacts], bool]


def _any_or_all(values: Optional[list[str]], match: Callable[[str], bool], strict_all: bool) -> bool:
    """Match a list of candidates: any (widens a denial) or all (narrows an exemption).

    Unknown values (None) count as matching when widening and as not
    matching when narrowing, so an unknowable argument never opens a hole.
    """
    if values is None:
        return not strict_all
    if not values:
        return False
    return all(match(v) for v in values) if strict_all else any(match(v) for v in values)


def compile_condition(key: str, value: Any, strict_all: bool, placeholders: dict[str, list[str]]) -> Predicate:
    """One condition as a predicate; STRICT_ALL says how multi-valued facts match."""
    if key == "write":
        want = bool(value)
        return lambda f: _facts.is_write(f.event, f.args) == want
    if key == "path":
        globs = [g for p in value for g in expand_path_glob(p, placeholders)]
        match = compile_globs(globs, path=True)
        if strict_all:
            return lambda f: _any_or_all(f.paths, match, strict_all)
        roots = tuple(filter(None, map(_fixed_dir, globs)))

        def match_or_contains(path: str) -> bool:  # moving a directory moves what is in it
            prefix = path.rstrip("/") + "/"
            return match(path) or any(root == path or root.startswith(prefix) for root in roots)

        return lambda f: _any_or_all(f.paths, match_or_contains if f.event in MOVE_EVENTS else match, False)
    if key == "host":
        import ipaddress  # noqa: F401 - parse_address needs it when the hooks run; loaded now

        entries = [parse_host(v) for v in value]
        networks = [e for e in entries if not isinstance(e, str)]
        names = [e for e in entries if isinstance(e, str)]
        name_match = compile_globs(names, path=False) if names else (lambda _: False)

        def host_ok(f: EventFacts) -> bool:
            host, _ = f.host_port
            if host is None:
                return not strict_all
            addr = _facts.parse_address(host)
            if addr is not None:
                return any(addr in n for n in networks) or name_match(host)
            return name_match(host)

        return host_ok
    if key == "port":
        ranges = [parse_port(v) for v in value]

        def port_ok(f: EventFacts) -> bool:
            _, port = f.host_port
            if port is None:
                return not strict_all
            return any(lo <= port <= hi for lo, hi in ranges)

        return port_ok
    if key == "executable":
        slashed = [v for v in value if "/" in v]
        plain = [v for v in value if "/" not in v]
        with_slash = compile_globs(slashed, path=False) if slashed else None
        bare = compile_globs(plain, path=False) if plain else None

        def exe_match(path: str) -> bool:
            if with_slash is not None and with_slash(path):
                return True
            return bare is not None and bare(path.rsplit("/", 1)[-1])

        return lambda f: _any_or_all(f.executables, exe_match, strict_all)
    if key == "module":
        match = compile_globs(list(value), path=False)

        def module_ok(f: EventFacts) -> bool:
            module = f.module
            return match(module) if module is not None else False

        return module_ok
    if key == "caller":
        match = compile_globs(list(value), path=False)
        return lambda f: f.caller is not None and match(f.caller)
    if key == "arg":
        regexes = [compile_arg_regex(v) for v in value]
        return lambda f: any(rx.search(f.args_json) for rx in regexes)
    raise ValueError(f"unknown condition {key!r}")  # the loader rejects these first


# Events that move or copy whole directories: a path condition that widens a
# denial also holds for a directory that contains what the glob names.
MOVE_EVENTS = frozenset({"os.rename", "os.link", "os.symlink", "shutil.move", "shutil.copytree", "os.rmdir",
                         "shutil.rmtree", "os.remove"})


def _fixed_dir(glob: str) -> Optional[str]:
    """The leading directories of GLOB that hold no wildcard (at least two levels deep)."""
    parts: list[str] = []
    for part in glob.split("/"):
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    fixed = "/".join(parts)
    return fixed if fixed.startswith("/") and fixed.count("/") >= 2 else None


# A symbolic link points where its target leads from the link's directory. Events that
# make one, with the positions of its target text and of the link (eventargs.NEW_LINKS),
# and events that may give one a new name, with the positions of the name and of the new
# name (MOVED_LINKS: when the name is a link), as tpython._native reads them.
NEW_LINK_EVENTS = tuple(sorted((event, target, link) for event, (target, link) in NEW_LINKS.items()))
MOVED_LINK_NAMES = tuple(sorted((event, source, new) for event, (source, new) in MOVED_LINKS.items()))


def lets_through(rule: Rule) -> bool:
    """True for a rule that lets its events through (allow, count, log): its `when`
    must then hold for every candidate value and an unknowable one never matches, so
    it can only narrow what a later denial catches, never open a hole in it."""
    return rule.action in ("allow", "count", "log")


def native_conditions(rule: Rule, placeholders: dict[str, list[str]]) -> Optional[tuple[Any, ...]]:
    """RULE's conditions as tpython._native evaluates them (every kind; None: it has none):
    (when, unless), each a tuple of ("write", want), ("path", strict_all, glob tokens, move
    roots, NEW_LINK_EVENTS, MOVED_LINK_NAMES), ("host", strict_all, name glob tokens,
    ((packed network, prefix length), ...)), ("port", strict_all, ((low, high), ...)),
    ("executable", strict_all, tokens of globs with a slash, tokens of bare globs),
    ("module", name glob tokens), ("caller", name glob tokens) or ("arg", strict_all,
    PCRE2 patterns). STRICT_ALL: every candidate value must match and an unknowable one
    fails (a `when` that narrows an exemption, an `unless` that widens a denial)."""
    if not (rule.when or rule.unless):
        return None
    narrowing = lets_through(rule)

    def names(globs: list[str]) -> tuple[Any, ...]:
        return tuple(native_glob_tokens(g, path=False) for g in globs)

    def one(key: str, value: Any, strict_all: bool) -> tuple[Any, ...]:
        if key == "write":
            return ("write", bool(value))
        if key in ("caller", "module"):
            return (key, names(value))
        if key == "arg":
            return ("arg", strict_all, tuple(value))
        if key == "port":
            return ("port", strict_all, tuple(parse_port(v) for v in value))
        if key == "host":
            entries = [parse_host(v) for v in value]
            networks = tuple((e.network_address.packed, e.prefixlen) for e in entries if not isinstance(e, str))
            return ("host", strict_all, names([e for e in entries if isinstance(e, str)]), networks)
        if key == "executable":
            return ("executable", strict_all, names([v for v in value if "/" in v]),
                    names([v for v in value if "/" not in v]))
        if key == "path":
            globs = [g for p in value for g in expand_path_glob(p, placeholders)]
            return ("path", strict_all, tuple(native_glob_tokens(g) for g in globs),
                    tuple(filter(None, map(_fixed_dir, globs))), NEW_LINK_EVENTS, MOVED_LINK_NAMES)
        raise ValueError(f"unknown condition {key!r}")  # the loader rejects these first

    return (tuple(one(k, v, narrowing) for k, v in rule.when.items()),
            tuple(one(k, v, not narrowing) for k, v in rule.unless.items()))


class CompiledRule:
    """A rule ready to test: its event matcher and its when/unless predicates."""

    __slots__ = ("rule", "id", "action", "event_match", "when", "unless")

    def __init__(self, rule: Rule, placeholders: dict[str, list[str]]) -> None:
        self.rule = rule
        self.id = rule.id
        self.action = rule.action
        self.event_match = compile_globs(list(rule.events), path=False)
        narrowing = lets_through(rule)  # must hold for every candidate
        self.when = [compile_condition(k, v, narrowing, placeholders) for k, v in rule.when.items()]
        self.unless = [compile_condition(k, v, not narrowing, placeholders) for k, v in rule.unless.items()]

    def applies(self, f: EventFacts) -> bool:
        for pred in self.when:
            if not pred(f):
                return False
        if self.unless and all(pred(f) for pred in self.unless):
            return False
        return True


class Decision:
    """How one event name is decided: candidate rules, then the category default."""

    __slots__ = ("candidates", "default", "category")

    def __init__(self, candidates: list[CompiledRule], default: str, category: str) -> None:
        self.candidates = candidates
        self.default = default
        self.category = category

    def decide(self, f: EventFacts) -> tuple[str, Optional[str]]:
        for rule in self.candidates:
            if rule.applies(f):
                return rule.action, rule.id
        return self.default, None


class DispatchTable:
    """event name -> action string (no rule names it) or :class:`Decision`."""

    def __init__(self, policy: Policy, placeholders: Optional[dict[str, list[str]]] = None) -> None:
        self.policy = policy
        values = placeholders if placeholders is not None else path_placeholders()
        self.placeholders = values
        self.rules = [CompiledRule(r, values) for r in policy.rules]
        self.table: dict[str, Any] = {}

    def lookup(self, event: str) -> Any:
        """The cached entry for EVENT, computing it on first sight."""
        entry = self.table.get(event)
        if entry is None:
            entry = self._resolve(event)
            self.table[event] = entry
        return entry

    def _resolve(self, event: str) -> Any:
        category = category_of(event)
        default = sys.intern(self.policy.default_for(category))  # the hook compares by identity
        candidates = [r for r in self.rules if r.event_match(event)]
        if not candidates:
            return default
        return Decision(candidates, default, category)
