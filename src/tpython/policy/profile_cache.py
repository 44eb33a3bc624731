"""The built-in profiles, parsed when tpython is built: a cache beside them, as byte code is.

Every `tpython run` reads a built-in profile (`default` at least); parsing it
needs `tomllib`, whose import (with `datetime`, `string` and its regular
expressions) is a measurable part of start-up. The parsed data is kept in
``profiles/__pycache__/NAME.TAG.policy`` (``marshal``), together with the
exact text it was parsed from: the cache is used only when that text equals
the profile's current text, so an edited profile is never read stale.

The policy a built-in profile makes, validated and merged over its `extends`
chain, is kept too (``NAME.TAG.merged``): validating `strict` (its globs,
its `arg` regexes, every key) costs about a millisecond of each start. It is
used only when every file of the chain still has the text it was made from,
the path placeholders it expanded still have the same values, and the
loader's own code (``CODE_FILES``: size, and mtime unless the cache was made
for an installed package, whose mtimes pip does not keep) is unchanged.

Both are written only by :func:`build`, which ``setup.py`` calls when tpython
is built (into the wheel, so that ``pip uninstall`` removes them, or beside the
sources of an editable install); no run writes them. A cache that is missing,
unreadable or stale is ignored and the profile is parsed and validated.
"""
from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping, Optional, Sequence

    from tpython.policy.model import Policy


_FORMAT = 1
_MERGED_FORMAT = 2  # 2: [integrity] and [log] as the tuples of their settings

PROFILES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")
PROFILES = ("default", "strict")
# The code a merged profile is made by (the loader, the policy model and the patterns it
# validates with), named without importing it: a start that finds the merged profile
# cached need not load the loader.
CODE_FILES = tuple(os.path.join(os.path.dirname(PROFILES_DIR), name)
                   for name in ("loader.py", "model.py", "patterns.py", "eventnames.py", "catalog.py"))


def profile_path(ref: str) -> str:
    """The TOML file of the built-in profile REF."""
    return os.path.join(PROFILES_DIR, f"{ref}.toml")


def cached_policy(ref: str) -> Optional[Policy]:
    """The built-in profile REF as the loader would make it, when the merged cache holds
    it (:func:`load_merged`); None for anything else."""
    if ref not in PROFILES:
        return None
    from tpython.policy.model import Policy, Rule
    from tpython.policy.patterns import path_placeholders
    from tpython.policy.settings import IntegritySettings, LogSettings

    data = load_merged(profile_path(ref), CODE_FILES, path_placeholders())
    if data is None:
        return None
    try:
        return Policy(**{**data, "rules": tuple(Rule(*rule) for rule in data["rules"]),
                         "integrity": IntegritySettings(*data["integrity"]), "log": LogSettings(*data["log"])})
    except (TypeError, KeyError):  # made by another version of the model: made again
        return None


def _cache_path(profile: str) -> str:
    folder, name = os.path.split(profile)
    stem = os.path.splitext(name)[0]
    return os.path.join(folder, "__pycache__", f"{stem}.{sys.implementation.cache_tag}.policy")


def load(profile: str, text: str) -> Optional[dict[str, Any]]:
    """The parsed data of PROFILE when the cache holds it for exactly TEXT, else None."""
    cached = _read(_cache_path(profile))
    if type(cached) is not tuple or len(cached) != 3 or cached[0] != _FORMAT or cached[1] != text:
        return None
    data = cached[2]
    return data if type(data) is dict else None


def store(profile: str, text: str, data: dict[str, Any]) -> None:
    """Keep DATA for TEXT; silently nothing when the directory is not writable."""
    _write(_cache_path(profile), (_FORMAT, text, data))


def merged_path(profile: str) -> str:
    """Where the merged policy of the built-in PROFILE (its path) is kept."""
    return os.path.splitext(_cache_path(profile))[0] + ".merged"


def _code_stamp(code_files: Sequence[str], sealed: bool = False) -> Optional[tuple[Any, ...]]:
    """What identifies the loader's code: each file's name, size and (unless SEALED)
    modification time."""
    stamp = []
    for path in code_files:
        try:
            st = os.stat(path)
        except OSError:
            return None
        stamp.append((os.path.basename(path), st.st_size, None if sealed else st.st_mtime_ns))
    return tuple(stamp)


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def load_merged(profile: str, code_files: Sequence[str], places: Mapping[str, list[str]]) -> Optional[dict[str, Any]]:
    """The merged policy data kept for the built-in PROFILE (its path), when it still holds:
    the same chain texts, placeholder values (PLACES, worked out as they are asked
    for) and loader code. None otherwise."""
    cached = _read(merged_path(profile))
    if type(cached) is not tuple or len(cached) != 5 or cached[0] != _MERGED_FORMAT:
        return None
    _, stamp, chain, used_places, data = cached
    sealed = type(stamp) is tuple and bool(stamp) and all(type(s) is tuple and s[-1:] == (None,) for s in stamp)
    if type(chain) is not tuple or type(used_places) is not tuple or type(data) is not dict \
            or stamp != _code_stamp(code_files, sealed):
        return None
    folder = os.path.dirname(profile)
    for name, text in chain:
        if _read_text(os.path.join(folder, name)) != text:
            return None
    for name, values in used_places:
        if list(places[name]) != list(values):
            return None
    return data


def store_merged(profile: str, code_files: Sequence[str], chain: Sequence[tuple[str, str]],
                 places: Mapping[str, list[str]], data: dict[str, Any], sealed: bool = False) -> None:
    """Keep DATA, the merged policy of PROFILE made from CHAIN ((path, text) of each file,
    all in PROFILE's folder) with the placeholder values PLACES; silently nothing when the
    directory is not writable. SEALED: for an installed package (see :func:`_code_stamp`)."""
    stamp = _code_stamp(code_files, sealed)
    if stamp is None:
        return
    used = tuple((name, tuple(values)) for name, values in places.items())
    named = tuple((os.path.basename(path), text) for path, text in chain)
    _write(merged_path(profile), (_MERGED_FORMAT, stamp, named, used, data))


def build(*, sealed: bool, installed_at: Optional[str] = None) -> list[str]:
    """Parse, validate and merge every built-in profile and keep both caches beside them;
    the paths written. Called by setup.py on the package being built (this module's own
    copy), never by a run. SEALED: the package is to be installed (pip keeps no mtimes).
    INSTALLED_AT: where the package will most likely be installed, the value `{tpython}`
    is merged with (a merged cache whose placeholders differ where it is installed is
    not used: the profile is then validated at each start)."""
    from tpython import locations as where
    from tpython.policy import loader

    if installed_at is not None:
        where._FOUND[:] = [where.locations()._replace(tpython=installed_at)]

    written = []
    for ref in PROFILES:
        path = profile_path(ref)
        text = _read_text(path)
        if text is None:
            raise OSError(f"cannot read {path}")
        store(path, text, loader.parse_profile(ref, text))
        written.append(_cache_path(path))
        policy, chain, places = loader.load_uncached(ref)
        data = {**policy._asdict(), "rules": tuple(tuple(rule) for rule in policy.rules),
                "integrity": tuple(policy.integrity), "log": tuple(policy.log)}  # marshal takes plain tuples
        store_merged(path, CODE_FILES, chain, places, data, sealed)
        written.append(merged_path(path))
    return written


def _read(path: str) -> Any:
    """The value kept at PATH, or None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return marshal.loads(f.read())  # one read: marshal.load(f) reads object by object
    except (OSError, EOFError, ValueError, TypeError):
        return None


def _write(path: str, value: Any) -> None:
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        blob = marshal.dumps(value)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temp, "wb") as f:
            f.write(blob)
        os.replace(temp, path)  # readers see the old file or the new one, never half of one
    except (OSError, ValueError):  # an unwritable folder: the build goes on, runs parse the profiles
        try:
            os.unlink(temp)
        except OSError:
            pass
