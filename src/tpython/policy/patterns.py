"""Glob, host and port patterns used by rule conditions.

Path globs: ``*`` and ``?`` stay within one path component, ``**`` spans
any number of them, ``[...]`` is a character class, a leading ``~`` is the
home directory, and ``{prefix}``-style placeholders name interpreter
locations (see :func:`path_placeholders`). Name globs (modules, hosts,
events) are fnmatch-style, where ``*`` also spans dots.

Patterns are compiled with the policy, before the hooks are installed, with
string methods where they suffice: `re` is imported only when a glob needs a
regular expression, and then when it is first matched; `ipaddress` when a
host entry is an address. So the built-in profiles start without either (the
engine matches their globs in C, and `arg` patterns with PCRE2).
"""
from __future__ import annotations

import os

from tpython.locations import locations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ipaddress
    from typing import Any, Callable, Sequence, Union

    IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class PatternError(ValueError):
    """A pattern is malformed; the message says how."""


class _Places(dict):  # type: ignore[type-arg]
    """Placeholder values, each worked out when a glob first names it."""

    def __init__(self, makers: dict[str, Callable[[], list[str]]]) -> None:
        super().__init__()
        self.makers = makers

    def __missing__(self, name: str) -> list[str]:
        value = self[name] = self.makers[name]()
        return value


def _tmp() -> list[str]:
    import tempfile

    return [tempfile.gettempdir()]


def path_placeholders(policy_files: Sequence[str] = (), log_files: Sequence[str] = ()) -> dict[str, list[str]]:
    """Values for ``{name}`` placeholders in path globs, for this interpreter and run."""
    return _Places({
        "home": lambda: [os.path.expanduser("~")],
        "prefix": lambda: list(locations().prefixes),
        "site": lambda: list(locations().site),
        "stdlib": lambda: list(locations().stdlib),
        "tmp": _tmp,
        "cwd": lambda: [os.getcwd()],
        "tpython": lambda: [locations().tpython],
        "policy": lambda: [os.path.abspath(p) for p in policy_files] or ["/nonexistent/tpython-policy"],
        "logs": lambda: [os.path.abspath(p) for p in log_files] or ["/nonexistent/tpython-log"],
    })


PLACEHOLDER_NAMES = ("home", "prefix", "site", "stdlib", "tmp", "cwd", "tpython", "policy", "logs")


def expand_path_glob(pattern: str, values: dict[str, list[str]] | None = None) -> list[str]:
    """Expand ``~`` and placeholders; one pattern may become several."""
    if pattern == "~" or pattern.startswith("~/"):
        pattern = "{home}" + pattern[1:]
    names = _placeholder_names(pattern)
    for name in names:
        if name not in PLACEHOLDER_NAMES:
            raise PatternError(
                f"unknown placeholder {{{name}}} (known: {', '.join(PLACEHOLDER_NAMES)})"
            )
    if not names:
        return [pattern]
    if values is None:
        values = path_placeholders()
    results = [pattern]
    for name in dict.fromkeys(names):
        results = [
            r.replace("{" + name + "}", v.rstrip("/") or "/") for r in results for v in values[name]
        ]
    return results


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz_")


def _placeholder_names(pattern: str) -> list[str]:
    """The NAMEs of every ``{name}`` (lower-case letters and underscores) in PATTERN, in order."""
    names = []
    at = pattern.find("{")
    while at >= 0:
        end = pattern.find("}", at + 1)
        if end < 0:
            break
        name = pattern[at + 1:end]
        if name and set(name) <= _NAME_CHARS:
            names.append(name)
            at = pattern.find("{", end + 1)
        else:
            at = pattern.find("{", at + 1)
    return names


if TYPE_CHECKING:
    GlobToken = tuple[Any, ...]


_TOKENS: dict[tuple[str, bool], tuple[GlobToken, ...]] = {}


def glob_tokens(pattern: str, *, path: bool) -> tuple[GlobToken, ...]:
    """GLOB as tokens: ("lit", text), ("any",), ("star",), ("dstar",) for ``**``,
    ("dstar/",) for ``**/`` (zero or more whole components), ("class", body).
    In a name glob (PATH false) ``**`` is two stars. Worked out once per process
    (the loader validates each glob, then the engine compiles it)."""
    found = _TOKENS.get((pattern, path))
    if found is None:
        found = _TOKENS[(pattern, path)] = tuple(_glob_tokens(pattern, path))
    return found


def _glob_tokens(pattern: str, path: bool) -> list[GlobToken]:
    tokens: list[GlobToken] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if path and pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                    tokens.append(("dstar/",))
                else:
                    tokens.append(("dstar",))
                continue
            tokens.append(("star",))
        elif c == "?":
            tokens.append(("any",))
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern.startswith("[!", i) or pattern.startswith("[]", i) else i + 1)
            if end < 0:
                raise PatternError(f"unclosed '[' in glob {pattern!r}")
            tokens.append(("class", pattern[i + 1 : end]))
            i = end
        elif tokens and tokens[-1][0] == "lit":
            tokens[-1] = ("lit", tokens[-1][1] + c)
        else:
            tokens.append(("lit", c))
        i += 1
    return tokens


def _class_regex(body: str) -> str:
    if body.startswith("!"):
        body = "^" + body[1:]
    return "[" + body.replace("\\", "\\\\") + "]"


def glob_to_regex(pattern: str, *, path: bool) -> str:
    """Translate a glob to a regex body (unanchored)."""
    import re

    single = "[^/]" if path else "."
    out: list[str] = []
    for token in glob_tokens(pattern, path=path):
        kind = token[0]
        if kind == "lit":
            out.append(re.escape(token[1]))
        elif kind == "any":
            out.append(single)
        elif kind == "star":
            out.append(single + "*")
        elif kind == "dstar":
            out.append(".*")
        elif kind == "dstar/":
            out.append("(?:.*/)?")
        else:
            out.append(_class_regex(token[1]))
    return "".join(out)


_SIMPLE_CLASS = r"(?:[^\\\[\]\-^](?:-[^\\\[\]\-^])?)+"


def native_glob_tokens(pattern: str, *, path: bool = True) -> tuple[GlobToken, ...]:
    """A glob's tokens for tpython._native's matcher: a class becomes
    ("class", negated, "lohi..." code point pairs) as the regex reads it. The matcher
    reads path globs; a name glob (PATH false: ``*`` and ``?`` cross ``/`` too) is given
    as the path glob that means the same: ``*`` as ``**``, ``?`` as a class of every
    character. A class the regex refuses raises PatternError."""
    out: list[GlobToken] = []
    for token in glob_tokens(pattern, path=path):
        if not path and token[0] in ("star", "any"):
            out.append(("dstar",) if token[0] == "star" else ("class", True, ""))
            continue
        if token[0] != "class":
            out.append(token)
            continue
        import re

        body = _class_regex(token[1])[1:-1]
        negated = body.startswith("^")
        rest = body[1:] if negated else body
        if not re.fullmatch(_SIMPLE_CLASS, rest):
            out.append(_parsed_class(_class_regex(token[1]), pattern))
            continue
        pairs, j = [], 0
        while j < len(rest):
            if j + 2 < len(rest) and rest[j + 1] == "-":
                pairs.append(rest[j] + rest[j + 2])
                j += 3
            else:
                pairs.append(rest[j] * 2)
                j += 1
        out.append(("class", negated, "".join(pairs)))
    return tuple(out)


def _parsed_class(regex: str, pattern: str) -> GlobToken:
    """A class that is not a plain list of characters and ranges (a `[`, `-` or `^` in
    it), as ("class", negated, pairs) from the regex parser's own reading of it."""
    import warnings

    try:
        import re._parser as parser  # type: ignore[import-not-found]
    except ImportError:  # Python 3.9, 3.10
        import sre_parse as parser
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning: possible nested set
            items = list(parser.parse(regex))
    except Exception as exc:  # re.error
        raise PatternError(f"bad character class in glob {pattern!r}: {exc}") from None
    negated, pairs = False, []
    if len(items) == 1 and str(items[0][0]) in ("LITERAL", "NOT_LITERAL"):
        negated = str(items[0][0]) == "NOT_LITERAL"
        pairs.append(chr(items[0][1]) * 2)
    elif len(items) == 1 and str(items[0][0]) == "IN":
        for op, value in items[0][1]:
            if str(op) == "NEGATE":
                negated = True
            elif str(op) == "LITERAL":
                pairs.append(chr(value) * 2)
            elif str(op) == "RANGE":
                pairs.append(chr(value[0]) + chr(value[1]))
            else:
                raise PatternError(f"bad character class in glob {pattern!r}")
    else:
        raise PatternError(f"bad character class in glob {pattern!r}")
    return ("class", negated, "".join(pairs))


def compile_globs(patterns: list[str], *, path: bool) -> Callable[[str], bool]:
    """One matcher for a list of globs (any may match). A malformed glob raises
    PatternError here. Globs that are plain names, or names followed by one ``*``
    (event names such as ``ctypes.*``), are matched with string methods; the rest
    become one regular expression (always valid: glob_to_regex escapes everything
    else), compiled when the matcher first needs it, since `re` and compiling a
    profile's globs cost milliseconds that most runs never spend (the engine
    matches path globs in C)."""
    if not patterns:
        raise PatternError("empty list of patterns")
    exact: set[str] = set()
    prefixes: list[str] = []
    rest: list[str] = []
    for p in patterns:
        tokens = glob_tokens(p, path=path)  # validates
        kinds = [t[0] for t in tokens]
        if kinds in (["lit"], []):
            exact.add(p)
        elif not path and kinds in (["star"], ["lit", "star"]):
            prefixes.append(tokens[0][1] if kinds[0] == "lit" else "")
        else:
            rest.append(p)
    starts = tuple(prefixes)
    compiled: list[Any] = []

    def match(text: str) -> bool:
        if text in exact or (starts and text.startswith(starts)):
            return True
        if not rest:
            return False
        if not compiled:
            import re

            source = rf"\A(?:{'|'.join(f'(?:{glob_to_regex(p, path=path)})' for p in rest)})\Z"
            compiled.append(re.compile(source, re.DOTALL))
        return compiled[0].match(text) is not None

    return match


_NUMERIC = frozenset("0123456789./")
_HOST_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*?._-[]!")


def parse_host(entry: str) -> IPNetwork | str:
    """A host entry: a network (CIDR or single address) or a hostname glob."""
    looks_numeric = (entry and set(entry) <= _NUMERIC) or ":" in entry
    if looks_numeric:
        import ipaddress

        try:
            return ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise PatternError(f"bad CIDR {entry!r}: {exc}") from None
    if not entry or not set(entry) <= _HOST_CHARS:
        raise PatternError(f"bad host {entry!r}: neither a CIDR nor a hostname glob")
    return entry.lower()


def parse_port(entry: object) -> tuple[int, int]:
    """A port entry: an integer or a ``"low-high"`` range."""
    if isinstance(entry, bool):
        raise PatternError(f"bad port {entry!r}")
    low_text, dash, high_text = entry.partition("-") if isinstance(entry, str) else ("", "", "")
    if isinstance(entry, int):
        low = high = entry
    elif dash and low_text.isdecimal() and high_text.isdecimal():
        low, high = int(low_text), int(high_text)
    else:
        raise PatternError(f"bad port {entry!r}: an integer or \"low-high\"")
    if not (0 <= low <= high <= 65535):
        raise PatternError(f"bad port {entry!r}: out of range 0-65535")
    return low, high


def compile_arg_regex(pattern: str) -> Any:
    """An `arg` pattern compiled by PCRE2 (tpython._native.Regex: ``.search(text)``);
    PatternError with PCRE2's own message when it refuses the pattern."""
    from tpython._native import Regex

    try:
        return Regex(pattern)
    except ValueError as exc:
        raise PatternError(str(exc)) from None
