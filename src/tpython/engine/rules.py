"""The policy's rule conditions compiled into the tables C evaluates (native/conditions.c).

Python compiles them once, at start (globs into tokens, host networks into packed
addresses, placeholders expanded), hands them to C with the rest of the frozen
policy (engine.engine.Engine.install) and never evaluates a condition itself.
"""
from __future__ import annotations

from tpython.engine.eventargs import MOVED_LINKS, NEW_LINKS
from tpython.policy.model import Rule
from tpython.policy.patterns import expand_path_glob, native_glob_tokens, parse_host, parse_port

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


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


