"""Which event names a rule may name, so that a rule that could never fire is an error.

A name in a rule's `events` must be one of these:

* an event of the catalogue (CPython's events, ``tpython events`` lists them), or a
  glob matching at least one (``ctypes.*``);
* an event of the program's own (``sys.audit("myapp.login")``): a dotted name whose
  namespace, the part before the first dot, is not one CPython uses and does not
  look like a misspelling of one (``myapp.login``, ``myapp.*``; ``sokcet.connect`` is
  refused), or ``tpython``;
* a name or glob declared in the policy's ``custom_events`` (or in a policy it
  extends): the way to name anything else, such as an event without a namespace,
  or one a newer CPython raises that this catalogue does not list.

Everything else is refused with the closest catalogue name (difflib).
"""
from __future__ import annotations

from tpython.policy.catalog import EVENTS
from tpython.policy.patterns import compile_globs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

GLOB_CHARS = "*?["
OWN_NAMESPACES = frozenset({"tpython"})  # tpython's own events, and its tests'
# How close (difflib ratio) a namespace may come to one of CPython's before it reads as a
# misspelling of it: "sokcet", "shuitl", "pickel" (0.83) are; "db" and "osx" (0.80 to
# "pdb" and "os") and "socks" (0.73) are not.
NAMESPACE_CUTOFF = 0.82

_namespaces: list[frozenset[str]] = []


def cpython_namespaces() -> frozenset[str]:
    """The first dotted component of every catalogue event with a dot."""
    if not _namespaces:
        _namespaces.append(frozenset(name.split(".", 1)[0] for name in EVENTS if "." in name))
    return _namespaces[0]


def toml_string(text: str) -> str:
    """TEXT as a TOML basic string (for the fix a message suggests)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_glob(name: str) -> bool:
    return any(c in name for c in GLOB_CHARS)


def declared_matcher(declared: list[str]) -> Callable[[str], bool]:
    """Whether a rule's event name is covered by DECLARED (custom_events: names or globs):
    equal to one, matched by one of its globs, or a glob matching one of its names."""
    if not declared:
        return lambda name: False
    match = compile_globs(list(declared), path=False)
    literal = [d for d in declared if not is_glob(d)]

    def covered(name: str) -> bool:
        if match(name):
            return True
        if literal and is_glob(name):
            own = compile_globs([name], path=False)
            return any(own(d) for d in literal)
        return False

    return covered


def _own_namespace(name: str) -> bool:
    """NAME is dotted, in a namespace that is the program's own: not CPython's, not a
    near miss of one (a misspelt CPython event), and written out (no glob in it)."""
    namespace, dot, rest = name.partition(".")
    if not (dot and namespace and rest) or is_glob(namespace):
        return False
    if namespace in OWN_NAMESPACES:
        return True
    namespaces = cpython_namespaces()
    if namespace in namespaces:
        return False
    near = [n for n in namespaces if _quick_ratio(namespace, n) >= NAMESPACE_CUTOFF]
    if not near:  # most names: difflib, which the program would find loaded, is not needed
        return True
    from difflib import get_close_matches

    return not get_close_matches(namespace, near, 1, NAMESPACE_CUTOFF)


def _quick_ratio(a: str, b: str) -> float:
    """An upper bound of difflib's ratio of A and B (its quick_ratio: the characters they
    share, however ordered)."""
    shared = sum(min(a.count(c), b.count(c)) for c in set(a))
    return 2.0 * shared / (len(a) + len(b))


def closest_event(name: str) -> Optional[str]:
    """The catalogue name (or ``NAMESPACE.*`` for a glob) closest to NAME, by difflib."""
    from difflib import get_close_matches

    choices = list(EVENTS)
    if is_glob(name):
        choices += [f"{namespace}.*" for namespace in cpython_namespaces()]
    found = get_close_matches(name, choices, 1, 0.6)
    return found[0] if found else None


def event_problem(name: str, declared: Callable[[str], bool]) -> Optional[str]:
    """Why NAME, in a rule's `events`, could never match an event (None when it can).
    DECLARED: the policy's custom_events (:func:`declared_matcher`)."""
    if name in EVENTS or declared(name):
        return None
    if is_glob(name):
        match = compile_globs([name], path=False)
        if any(match(event) for event in EVENTS):
            return None
    if _own_namespace(name):
        return None
    what = "event glob" if is_glob(name) else "event"
    closest = closest_event(name)
    hint = f": did you mean {closest!r}?" if closest else ""
    return (f"unknown {what} {name!r}{hint} (`tpython events` lists CPython's; an event your program "
            f"raises itself needs a namespace of its own, as 'myapp.login', or custom_events = [{toml_string(name)}])")
