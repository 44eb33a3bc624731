"""`arg` regexes matched in C (tpython.policy.argregex, native/regex.c), held to Python's `re`.

The translator takes a pattern only where a POSIX extended regex under C.UTF-8
matches exactly where Python's does; these tests generate patterns and texts and
compare the two, and check what is refused and what falls back.
"""
from __future__ import annotations

import re
import warnings

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tpython.policy.argregex import ArgRegex, compile_arg, to_posix
from tpython.policy.patterns import PatternError

_native = pytest.importorskip("tpython._native")

# Characters that mean something in one dialect or the other, plus plain ones and non-ASCII.
PATTERN_CHARS = 'ab"[],.x-^$*+?{}()|\\:12é_ '
TEXT_CHARS = 'ab"[],.x-^$*+?{}()|\\:12é_ €'


def _python(pattern: str) -> re.Pattern[str] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FutureWarning for set-like classes
        try:
            return re.compile(pattern)
        except re.error:
            return None


@settings(max_examples=3000, deadline=None)
@given(st.text(PATTERN_CHARS, min_size=1, max_size=12), st.lists(st.text(TEXT_CHARS, max_size=12), max_size=8))
@example('^\\["(_?ctypes|_cffi_backend|cffi)[".]', ['["ctypes.util"', '["_ctypes"', '["xctypes"'])
@example("[]a]", ["]", "a", "b"])
@example("[^]a]", ["]", "a", "b"])
@example("a.b", ["aéb", "a€b", "ab"])
@example("[é-€]", ["é"])
@example("x{2,3}?y", ["xxy", "xxxy", "xy"])
def test_c_matches_where_python_matches(pattern, texts):
    posix = to_posix(pattern)
    compiled = _python(pattern)
    if posix is None:
        return
    assert compiled is not None, f"translated a pattern Python refuses: {pattern!r} -> {posix!r}"
    regex = _native.Regex(posix)
    for text in texts:
        assert regex.search(text) == (compiled.search(text) is not None), (pattern, posix, text)


@settings(max_examples=1500, deadline=None)
@given(st.text(PATTERN_CHARS + "\\dwsAZb", min_size=1, max_size=10), st.lists(st.text(TEXT_CHARS + "\n"), max_size=6))
def test_arg_regex_answers_as_python_whichever_matcher_runs(pattern, texts):
    compiled = _python(pattern)
    if compiled is None:
        with pytest.raises(PatternError, match="bad regex"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ArgRegex(pattern)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matcher = ArgRegex(pattern)
    for text in texts:
        assert matcher.search(text) == (compiled.search(text) is not None), (pattern, text)


@pytest.mark.parametrize("pattern", [
    r"\d", r"\w+", r"a\b", r"\Aa", r"a\Z", r"(a)\1", "(?=a)", "(?i)a", "(?P<n>a)", "a*+", "a**", "*a", "^*",
    "a{,3}", "a{3,2}", "a{", "}", "[[:alpha:]]", "[a--]", "[z-a]", "(a|)", "()", "a|", "(a", "a)", "", "a\0",
    r"[\d]", "[\\n]",
])
def test_refused_patterns_stay_with_python(pattern):
    assert to_posix(pattern) is None


def test_every_strict_arg_pattern_is_matched_in_c():
    from tpython.policy.loader import load_policy

    patterns = [p for r in load_policy("strict").rules for part in (r.when, r.unless) for p in part.get("arg", [])]
    assert len(patterns) >= 8
    assert all(compile_arg(p)._native is not None for p in patterns)


def test_texts_c_declines_are_matched_by_python():
    assert _native.Regex("a$").search("a\n") is None  # a line break: Python's `$` and `.` differ
    assert ArgRegex("a$").search("a\n") is True
    assert ArgRegex("a.b").search("a\nb") is False
    assert _native.Regex("a").search("a\udc80") is None  # a lone surrogate has no UTF-8 form
    assert ArgRegex("a.").search("a\udc80") is True


def test_the_program_locale_does_not_change_matching():
    """C matches under C.UTF-8 whatever LC_CTYPE the program sets (uselocale per call)."""
    import locale

    previous = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C")
        assert _native.Regex("^caf.$").search("café") is True
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)


def test_native_regex_rejects_bad_input():
    with pytest.raises(ValueError, match="regcomp"):
        _native.Regex("a(")
    with pytest.raises(TypeError):
        _native.Regex("a").search(b"a")


@pytest.mark.parametrize("engine", ["native", "python"])
@pytest.mark.parametrize("pattern, allowed, denied", [
    ("caf.\\.txt", "coffee.txt", "café.txt"),  # C: `.` is one code point, as in Python
    ("secret\\d+", "secret.txt", "secret42"),  # outside C's subset: Python's re
])
def test_an_arg_rule_is_enforced_whichever_matcher_runs(tp, engine, pattern, allowed, denied):
    tp.policy(f"""
        version = 1
        [[rules]]
        id = "named"
        events = ["open"]
        when = {{ arg = ['{pattern}'] }}
        action = "deny"
    """)
    tp.script(f"open({allowed!r}, 'w').close()\nprint('allowed')\nopen({denied!r}, 'w')\nprint('not reached')\n")
    r = tp("run", "--quiet", "--policy", "policy.toml", "--engine", engine, "app.py")
    assert r.out.split() == ["allowed"]
    assert r.rc != 0 and "named" in r.err
