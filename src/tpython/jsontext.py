"""Compact JSON text for tpython's records and policies, without importing `json`.

`json` imports `re` and `enum`, milliseconds that every `tpython run` would
pay before the program starts. The encoder here is the same C encoder `json`
uses (`_json.make_encoder`), so :func:`dumps` gives exactly what
``json.dumps(value, separators=(",", ":"), sort_keys=..., ensure_ascii=...)``
gives, at the same speed, except that a value holding itself is not detected
(tpython never encodes such values; Python's recursion limit still ends it).
Parsing is rarer (the launch spec, a Python sink fed by C) and uses `json`.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


def _not_serialisable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _c_encoders() -> dict[tuple[bool, bool], Callable[[Any, int], Any]]:
    """The C encoders by (sort_keys, ascii_only), made as `json.dumps` makes them."""
    try:
        from _json import encode_basestring, encode_basestring_ascii, make_encoder
    except ImportError:  # pragma: no cover - CPython builds _json; another build may not
        return {}
    return {(sort_keys, ascii_only): make_encoder(None, _not_serialisable,
                                                  encode_basestring_ascii if ascii_only else encode_basestring,
                                                  None, ":", ",", sort_keys, False, True)
            for sort_keys in (False, True) for ascii_only in (False, True)}


_ENCODERS = _c_encoders()


def dumps(value: Any, *, sort_keys: bool = False, ascii_only: bool = True) -> str:
    """VALUE as compact JSON text (``separators=(",", ":")``); non-ASCII characters
    escaped unless ASCII_ONLY is false; keys sorted when SORT_KEYS."""
    encode = _ENCODERS.get((sort_keys, ascii_only))
    if encode is None:  # pragma: no cover - see the import above
        import json

        return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=ascii_only)
    return "".join(encode(value, 0))
