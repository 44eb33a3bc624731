"""Glob, host and port patterns used by rule conditions.

Path globs: ``*`` and ``?`` stay within one path component, ``**`` spans
any number of them, ``[...]`` is a character class, a leading ``~`` is the
home directory, and ``{prefix}``-style placeholders name interpreter
locations (see :func:`path_placeholders`). Name globs (modules, hosts,
events) are fnmatch-style, where ``*`` also spans dots.

Patterns are compiled with the policy, before the hooks are installed; `re`
and `ipaddress` are imported then, by the functions that need them, so a
policy without conditions (`default`) starts without either.
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


_PLACEHOLDER = r"\{([a-z_]+)\}"
PLACEHOLDER_NAMES = ("home", "prefix", "site", "stdlib", "tmp", "cwd", "tpython", "policy", "logs")


def expand_path_glob(pattern: str, values: dict[str, list[str]] | None = None) -> list[str]:
    """Expand ``~`` and placeholders; one pattern may become several."""
    if pattern == "~" or pattern.startswith("~/"):
        pattern = "{home}" + pattern[1:]
    import re

    names = re.findall(_PLACEHOLDER, pattern)
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


if TYPE_CHECKING:
    GlobToken = tuple[Any, ...]


def glob_tokens(pattern: str, *, path: bool) -> list[GlobToken]:
    """GLOB as tokens: ("lit", text), ("any",), ("star",), ("dstar",) for ``**``,
    ("dstar/",) for ``**/`` (zero or more whole components), ("class", body).
    In a name glob (PATH false) ``**`` is two stars."""
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


def native_glob_tokens(pattern: str) -> tuple[GlobToken, ...]:
    """A path glob's tokens for tpython._native's matcher: a class becomes
    ("class", negated, "lohi..." code point pairs) as the regex reads it, or
    ("class", False, None) when it is not a plain set of characters and ranges
    (C then leaves the rule to the Python engine)."""
    import re

    out: list[GlobToken] = []
    for token in glob_tokens(pattern, path=True):
        if token[0] != "class":
            out.append(token)
            continue
        body = _class_regex(token[1])[1:-1]
        negated = body.startswith("^")
        rest = body[1:] if negated else body
        if not re.fullmatch(_SIMPLE_CLASS, rest):
            out.append(("class", False, None))
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


def compile_globs(patterns: list[str], *, path: bool) -> Callable[[str], bool]:
    """One matcher for a list of globs (any may match). A malformed glob raises
    PatternError here; the regular expression (always valid: glob_to_regex escapes
    everything else) is compiled when the matcher is first used, since compiling
    a profile's path globs costs tens of milliseconds that most runs never need
    (the native engine matches path globs in C)."""
    if not patterns:
        raise PatternError("empty list of patterns")
    import re

    source = rf"\A(?:{'|'.join(f'(?:{glob_to_regex(p, path=path)})' for p in patterns)})\Z"
    compiled: list[re.Pattern[str]] = []

    def match(text: str) -> bool:
        if not compiled:
            compiled.append(re.compile(source, re.DOTALL))
        return compiled[0].match(text) is not None

    return match


def parse_host(entry: str) -> IPNetwork | str:
    """A host entry: a network (CIDR or single address) or a hostname glob."""
    import ipaddress
    import re

    looks_numeric = bool(re.fullmatch(r"[0-9./]+", entry)) or ":" in entry
    if looks_numeric:
        try:
            return ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise PatternError(f"bad CIDR {entry!r}: {exc}") from None
    if not re.fullmatch(r"[A-Za-z0-9*?._\-\[\]!]+", entry):
        raise PatternError(f"bad host {entry!r}: neither a CIDR nor a hostname glob")
    return entry.lower()


def parse_port(entry: object) -> tuple[int, int]:
    """A port entry: an integer or a ``"low-high"`` range."""
    import re

    if isinstance(entry, bool):
        raise PatternError(f"bad port {entry!r}")
    if isinstance(entry, int):
        low = high = entry
    elif isinstance(entry, str) and re.fullmatch(r"\d+-\d+", entry):
        low, high = (int(x) for x in entry.split("-"))
    else:
        raise PatternError(f"bad port {entry!r}: an integer or \"low-high\"")
    if not (0 <= low <= high <= 65535):
        raise PatternError(f"bad port {entry!r}: out of range 0-65535")
    return low, high
