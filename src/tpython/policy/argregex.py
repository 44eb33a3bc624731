"""`arg` conditions: Python regular expressions, matched in C where C agrees with Python.

A policy's `arg` regexes are Python's (SPEC: "regex on the event's arguments as
rendered in the log"). Importing and compiling them with `re` costs `strict` about
15 ms at every start, so a pattern that keeps to a subset on which POSIX extended
regular expressions find a match exactly where Python's do is translated
(:func:`to_posix`) and handed to ``tpython._native.Regex`` (glibc's regcomp and
regexec under C.UTF-8). Anything outside the subset, any interpreter without the
extension, and any text the C side declines (a line break, a lone surrogate) is
matched by `re`, imported then. Only "does it match" is ever asked, so greedy and
lazy quantifiers, and POSIX's leftmost-longest against Python's leftmost-first,
give the same answer.

The translator is a small hand-written parser because no library translates
between the two dialects; it refuses whatever it is unsure of (tests hold it to
`re` over generated patterns).
"""
from __future__ import annotations

from tpython.policy.patterns import PatternError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

# Characters special in a POSIX extended regex outside brackets.
_ERE_SPECIAL = frozenset(".[]()*+?{}|^$\\")
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_DIGITS = frozenset("0123456789")
_MAX_REPEAT = 255


class _Refused(Exception):
    """The pattern is outside the subset C takes."""


def to_posix(pattern: str) -> Optional[str]:
    """PATTERN (Python syntax) as an equivalent POSIX extended regex, or None."""
    try:
        return _Translator(pattern).run()
    except _Refused:
        return None


class _Translator:
    """One pass over a Python pattern; ``prev`` is what the last item was:
    None (start of a branch), "atom", "quant", "lazy" or "anchor"."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.out: list[str] = []
        self.prev: Optional[str] = None
        self.depth = 0

    def run(self) -> str:
        p = self.p
        if not p or "\0" in p:
            raise _Refused
        while self.i < len(p):
            c = p[self.i]
            self.i += 1
            if c == "\\":
                self._escape()
            elif c == "[":
                self._class()
            elif c == "(":
                self._open()
            elif c == ")":
                if self.depth == 0 or self.prev is None:
                    raise _Refused  # unbalanced, or an empty branch
                self.depth -= 1
                self._atom(")")
            elif c == "|":
                if self.prev is None:
                    raise _Refused  # an empty branch
                self.out.append("|")
                self.prev = None
            elif c in "*+?":
                self._quantifier(c)
            elif c == "{":
                self._braces()
            elif c == "}":
                raise _Refused  # literal in Python; not worth the difference
            elif c in "^$":
                self.out.append(c)
                self.prev = "anchor"
            else:
                self._atom(c)  # `.`, `]` and every other character stand for themselves
        if self.depth or self.prev is None:
            raise _Refused
        return "".join(self.out)

    def _atom(self, text: str) -> None:
        self.out.append(text)
        self.prev = "atom"

    def _escape(self) -> None:
        if self.i >= len(self.p):
            raise _Refused
        c = self.p[self.i]
        self.i += 1
        if c in _ASCII_ALNUM:
            raise _Refused  # \d \w \b \A \Z \1 \n ...: classes, anchors, back-references
        self._atom("\\" + c if c in _ERE_SPECIAL else c)

    def _open(self) -> None:
        if self.p.startswith("?", self.i):
            if not self.p.startswith("?:", self.i):
                raise _Refused  # look-around, flags, named groups, atomic groups
            self.i += 2
        self.depth += 1
        self.out.append("(")
        self.prev = None

    def _quantifier(self, c: str) -> None:
        if self.prev == "atom":
            self.out.append(c)
            self.prev = "quant"
        elif self.prev == "quant" and c == "?":
            self.prev = "lazy"  # lazy: the same language, so the same "does it match"
        else:
            raise _Refused  # nothing to repeat, a multiple repeat, or possessive

    def _braces(self) -> None:
        end = self.p.find("}", self.i)
        low, comma, high = self.p[self.i:end].partition(",") if end >= 0 else ("", "", "")
        if self.prev != "atom" or not _number(low) or (high and not _number(high)):
            raise _Refused  # a literal `{` in Python, {,n}, or nothing to repeat
        if int(low) > _MAX_REPEAT or (high and not int(low) <= int(high) <= _MAX_REPEAT):
            raise _Refused
        self.i = end + 1
        self.out.append("{" + low + comma + high + "}")
        self.prev = "quant"

    def _class(self) -> None:
        p = self.p
        negated = p.startswith("^", self.i)
        if negated:
            self.i += 1
        singles: list[str] = []
        ranges: list[str] = []
        first = True
        while True:
            if self.i >= len(p):
                raise _Refused  # unterminated
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            lo = self._class_char()
            first = False
            if p.startswith("-", self.i) and self.i + 1 < len(p) and p[self.i + 1] != "]":
                self.i += 1
                hi = self._class_char()
                if not (lo.isascii() and hi.isascii() and lo <= hi) or lo in "]-^" or hi in "]-^":
                    raise _Refused
                ranges.append(f"{lo}-{hi}")
            else:
                singles.append(lo)
        # POSIX brackets: `]` only first, `-` only last, `^` anywhere but first.
        members = set(singles)
        body = ("]" if "]" in members else "") + "".join(ranges) + "".join(
            sorted(members - {"]", "^", "-"})) + ("^" if "^" in members else "") + ("-" if "-" in members else "")
        if body.startswith("^") and not negated:
            if body == "^-":
                body = "-^"
            else:  # `^` alone
                self._atom("\\^")
                return
        self._atom("[" + ("^" if negated else "") + body + "]")

    def _class_char(self) -> str:
        p = self.p
        c = p[self.i]
        self.i += 1
        if c == "[" or (c == "-" and p.startswith("-", self.i)):
            raise _Refused  # POSIX's [: [= [. and Python's set-operation warnings
        if c == "\\":
            if self.i >= len(p) or p[self.i] in _ASCII_ALNUM:
                raise _Refused  # \d \w \s \n ... inside a class
            c = p[self.i]
            self.i += 1
        return c


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()


class ArgRegex:
    """One `arg` regular expression. ``search(text)`` tells whether it matches anywhere."""

    __slots__ = ("pattern", "_native", "_re")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._native = _native_regex(pattern)
        self._re: Any = None
        if self._native is None:
            self._compile_re()  # also what reports a bad pattern

    @property
    def native_regex(self) -> Any:
        """The ``tpython._native.Regex`` matching this pattern, or None (Python's re only)."""
        return self._native

    def _compile_re(self) -> Any:
        import re

        try:
            self._re = re.compile(self.pattern)
        except re.error as exc:
            raise PatternError(f"bad regex {exc.pattern!r}: {exc}") from None
        return self._re

    def search(self, text: str) -> bool:
        if self._native is not None:
            found = self._native.search(text)
            if found is not None:
                return bool(found)
        return (self._re or self._compile_re()).search(text) is not None


def _native_regex(pattern: str) -> Any:
    posix = to_posix(pattern)
    if posix is None:
        return None
    try:
        from tpython._native import Regex
    except ImportError:
        return None
    try:
        return Regex(posix)
    except (ValueError, OSError):
        return None  # regcomp refused it, or no C.UTF-8: Python's re decides


_cache: dict[str, ArgRegex] = {}


def compile_arg(pattern: str) -> ArgRegex:
    """The matcher for PATTERN (compiled once per process); PatternError if it is not a regex."""
    found = _cache.get(pattern)
    if found is None:
        found = _cache[pattern] = ArgRegex(pattern)
    return found
