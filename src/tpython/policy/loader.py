"""Load a policy: read TOML, follow `extends`, validate, merge.

Every error names the file, the line where it could be found, the rule id
and the key, and says what is wrong (:class:`tpython.errors.PolicyError`).
"""
from __future__ import annotations

import os
import sys

from tpython.errors import PolicyError
from tpython.policy import profile_cache
from tpython.policy.eventnames import declared_matcher, event_problem, toml_string
from tpython.policy.model import ACTIONS, CONDITION_KEYS, LAUNCH_KINDS, MODES, Policy, Rule
from tpython.policy.patterns import (
    PatternError,
    compile_arg_regex,
    compile_globs,
    expand_path_glob,
    native_glob_tokens,
    parse_host,
    parse_port,
    path_placeholders,
)
from tpython.policy.profile_cache import PROFILES, profile_path
from tpython.policy.settings import ON_SINK_FAILURE, IntegritySettings, LogSettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable



# `engine` was a choice between the C engine and a Python one; only C's is left, so the
# values that chose it are accepted (and change nothing) and any other is an error.
OLD_ENGINE_VALUES = ("auto", "native")
_TOP_KEYS = {"version", "extends", "mode", "engine", "description", "launch", "integrity", "log", "defaults", "rules",
             "custom_events"}
_LAUNCH_KEYS = {"allow", "refuse_ld_preload"}
_INTEGRITY_KEYS = {"manifest", "pubkey", "xattr", "kernel_check", "require", "seccomp", "max_size"}
_LOG_KEYS = {"sinks", "facility", "app_name", "syslog_socket", "on_sink_failure", "rotate_bytes", "rotate_keep"}
_RULE_KEYS = {"id", "events", "action", "when", "unless", "message", "description"}


class _Source:
    """One policy file's text, for locating keys (in error messages and each rule's origin)."""

    def __init__(self, label: str, text: str, path: str = "") -> None:
        self.label = label
        self.path = path
        self.text = text
        self.lines = text.splitlines()
        self._tables: list[int] | None = None
        self._rule_headers: list[int] | None = None

    def _table_lines(self) -> list[int]:
        """Indices of the lines that begin a table (``[x]`` or ``[[x]]``), found once."""
        if self._tables is None:
            self._tables = [i for i, line in enumerate(self.lines) if line.lstrip().startswith("[")]
        return self._tables

    def _rule_lines(self) -> list[int]:
        """Indices of the ``[[rules]]`` headers, found once (every rule's origin needs them)."""
        if self._rule_headers is None:
            self._rule_headers = [i for i in self._table_lines() if _squashed(self.lines[i]).startswith("[[rules]]")]
        return self._rule_headers

    def line_of(self, key: str, *, rule_index: int | None = None, table: str | None = None) -> int | None:
        start, end = 0, len(self.lines)
        if rule_index is not None:
            tables = self._table_lines()
            headers = self._rule_lines()
            if rule_index < len(headers):
                start = headers[rule_index]
                end = next((i for i in tables if i > start), len(self.lines))
        elif table is not None:
            for i, line in enumerate(self.lines):
                if _squashed(line).startswith(f"[{table}]"):
                    start = i
                    break
        for i in range(start, end):
            if _names_key(self.lines[i], key):
                return i + 1
        return start + 1 if rule_index is not None or table is not None else None

    def where(self, key: str, **kw: Any) -> str:
        line = self.line_of(key, **kw)
        return f"{self.label}:{line}" if line else self.label


def _squashed(line: str) -> str:
    """LINE without any whitespace (a table header as ``[[rules]]`` however it is spaced)."""
    return "".join(line.split())


def _names_key(line: str, key: str) -> bool:
    """Whether LINE sets KEY (``key =`` at the start, after whitespace, `{` or `,`) or opens
    the table ``[key]``. Plain string scanning: `re` is not loaded for a policy."""
    if _squashed(line).startswith(f"[{key}]") and not line.lstrip().startswith("[["):
        return True
    at = line.find(key)
    while at >= 0:
        after = line[at + len(key):].lstrip()
        if (at == 0 or line[at - 1].isspace() or line[at - 1] in "{,") and after.startswith("="):
            return True
        at = line.find(key, at + 1)
    return False


def _fail(src: _Source, key: str, message: str, **kw: Any) -> PolicyError:
    return PolicyError(f"{src.where(key, **kw)}: {message}")


def _read(ref: str, base_dir: str | None) -> tuple[_Source, dict[str, Any], str]:
    """Read a profile name or a file; return its source, data and a name."""
    if ref in PROFILES:
        path = profile_path(ref)
        label, name = f"<profile {ref}>", ref
    else:
        path = os.path.expanduser(ref)
        if base_dir is not None and not os.path.isabs(path):
            path = os.path.join(base_dir, path)
        path = os.path.abspath(path)
        label = name = path
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        hint = "" if os.sep in ref or ref.endswith(".toml") else f" (built-in profiles: {', '.join(PROFILES)})"
        raise PolicyError(f"policy {ref!r} not found: no such file{hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy {label}: cannot read: {exc}") from None
    src = _Source(label, text, path)
    data = profile_cache.load(path, text) if ref in PROFILES else None
    if data is None:
        data = _parse_toml(label, text)
    return src, data, name


def parse_profile(ref: str, text: str) -> dict[str, Any]:
    """The TOML data of the built-in profile REF whose text is TEXT (for its cache)."""
    return _parse_toml(f"<profile {ref}>", text)


def _parse_toml(label: str, text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{label}: not valid TOML: {exc}") from None


def load_policy(ref: str) -> Policy:
    """Load the policy named by REF (a profile name or a path), `extends` resolved."""
    cached = profile_cache.cached_policy(ref)
    if cached is not None:
        return cached
    return load_uncached(ref)[0]


def load_uncached(ref: str) -> tuple[Policy, list[tuple[str, str]], dict[str, list[str]]]:
    """The policy REF makes, loaded and validated without the merged cache, with the
    (path, text) of each file of its chain and the placeholder values it used."""
    places = path_placeholders()
    chain: list[tuple[_Source, dict[str, Any], str]] = []
    seen: set[str] = set()
    base_dir: str | None = None
    current: str | None = ref
    while current is not None:
        src, data, name = _read(current, base_dir)
        if name in seen:
            raise PolicyError(f"{src.label}: `extends` loops back to {name!r}")
        seen.add(name)
        _validate_top(src, data)
        chain.append((src, data, name))
        nxt = data.get("extends")
        if nxt is not None and not isinstance(nxt, str):
            raise _fail(src, "extends", "`extends` must be a profile name or a path")
        if name not in PROFILES:
            base_dir = os.path.dirname(name)
        current = nxt
    policy = _merge(chain, places)
    integrity = policy.integrity
    if integrity.require and not (integrity.manifest or integrity.xattr):
        raise PolicyError(f"{chain[0][0].label}: [integrity] require = true needs a manifest or xattr = true "
                          "(otherwise no code could run)")
    if integrity.pubkey and not integrity.manifest:
        raise PolicyError(f"{chain[0][0].label}: [integrity] pubkey is set but there is no manifest")
    return policy, [(src.path, src.text) for src, _, _ in chain], places


def _validate_log_options(src: _Source, log: dict[str, Any]) -> None:
    from tpython.sinks.fields import FACILITIES

    facility = log.get("facility")
    if facility is not None and facility not in FACILITIES:
        raise _fail(src, "facility", f"[log] facility must be one of {', '.join(FACILITIES)}, not {facility!r}",
                    table="log")
    app_name = log.get("app_name")
    if app_name is not None and not (isinstance(app_name, str) and 0 < len(app_name) <= 48
                                     and all(33 <= ord(c) <= 126 for c in app_name)):
        raise _fail(src, "app_name", "[log] app_name must be 1 to 48 printable ASCII characters without spaces",
                    table="log")
    socket = log.get("syslog_socket")
    if socket is not None and not (isinstance(socket, str) and socket.startswith("/")):
        raise _fail(src, "syslog_socket", "[log] syslog_socket must be an absolute path", table="log")
    for key, least, never in (("rotate_bytes", 1024, " (or 0: never rotate)"), ("rotate_keep", 1, "")):
        value = log.get(key)
        zero = type(value) is int and value == 0
        if value is not None and (type(value) is not int or value < least) and not (never and zero):
            raise _fail(src, key, f"[log] {key} must be a whole number of at least {least}{never}", table="log")
    on_failure = log.get("on_sink_failure")
    if on_failure is not None and on_failure not in ON_SINK_FAILURE:
        raise _fail(src, "on_sink_failure", '[log] on_sink_failure must be "continue" or "fail-closed"', table="log")


def _validate_top(src: _Source, data: dict[str, Any]) -> None:
    for key in data:
        if key not in _TOP_KEYS:
            raise _fail(src, key, f"unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    version = data.get("version", 1)
    if type(version) is not int:
        raise _fail(src, "version", f"version must be the number 1, not {_toml_kind(version)} {version!r} "
                                    "(write: version = 1)")
    if version != 1:
        raise _fail(src, "version", f"unsupported policy version {version} (this tpython reads version 1)")
    if "mode" in data and data["mode"] not in MODES:
        raise _fail(src, "mode", f"mode must be one of {', '.join(MODES)}, not {data['mode']!r}")
    if "engine" in data and data["engine"] not in OLD_ENGINE_VALUES:
        raise _fail(src, "engine", f"engine = {data['engine']!r} is not available: tpython has one engine, in C, "
                                   "and decides everything there; delete the line")
    for table, known in (("launch", _LAUNCH_KEYS), ("integrity", _INTEGRITY_KEYS), ("log", _LOG_KEYS)):
        value = data.get(table, {})
        if not isinstance(value, dict):
            raise _fail(src, table, f"[{table}] must be a table")
        for key in value:
            if key not in known:
                known_keys = ", ".join(sorted(known))
                raise _fail(src, key, f"unknown key {key!r} in [{table}] (known: {known_keys}){_top_level_hint(key)}",
                            table=table)
    for key, value in data.get("integrity", {}).items():
        want = {"manifest": str, "pubkey": str, "max_size": int}.get(key, bool)
        bad_size = want is int and (isinstance(value, bool) or not isinstance(value, int) or value <= 0)
        if not isinstance(value, want) or bad_size:
            kind = {str: "a path", int: "a positive number of bytes", bool: "true or false"}[want]
            raise _fail(src, key, f"[integrity] {key} must be {kind}, not {value!r}", table="integrity")
    allow = data.get("launch", {}).get("allow")
    if allow is not None:
        if not isinstance(allow, list) or any(k not in LAUNCH_KINDS for k in allow):
            raise _fail(src, "allow", f"[launch] allow must be a list of: {', '.join(LAUNCH_KINDS)}", table="launch")
    ld = data.get("launch", {}).get("refuse_ld_preload")
    if ld is not None and not isinstance(ld, bool):
        raise _fail(src, "refuse_ld_preload", "[launch] refuse_ld_preload must be true or false", table="launch")
    sinks = data.get("log", {}).get("sinks")
    if sinks is not None:
        if not isinstance(sinks, list) or not all(isinstance(s, str) for s in sinks):
            raise _fail(src, "sinks", "[log] sinks must be a list of sink strings", table="log")
        from tpython.sinks.spec import parse_sink_spec  # validated here, opened at launch

        for spec in sinks:
            try:
                parse_sink_spec(spec)
            except Exception as exc:  # SinkError
                raise _fail(src, "sinks", str(exc), table="log") from None
    _validate_log_options(src, data.get("log", {}))
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _fail(src, "defaults", "[defaults] must be a table of category = action")
    from tpython.policy.catalog import CATEGORIES

    for category, action in defaults.items():
        if category != "*" and category not in CATEGORIES:
            known_categories = ", ".join(CATEGORIES)
            raise _fail(src, category, f"unknown category {category!r} in [defaults] (known: {known_categories}, *)",
                        table="defaults")
        if action not in ACTIONS:
            raise _fail(src, category, f"unknown action {action!r} in [defaults] (known: {', '.join(ACTIONS)})",
                        table="defaults")
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise _fail(src, "rules", "`rules` must be an array of tables ([[rules]])")
    custom = data.get("custom_events", [])
    if not isinstance(custom, list) or not all(isinstance(e, str) and e for e in custom):
        raise _fail(src, "custom_events", "custom_events must be a list of event names or globs, "
                                          'as custom_events = ["myapp.login"]')
    try:
        if custom:
            compile_globs(custom, path=False)
    except PatternError as exc:
        raise _fail(src, "custom_events", f"bad event glob in custom_events: {exc}") from None


def _top_level_hint(key: str) -> str:
    """For a top-level key written after a table header (TOML puts it in that table)."""
    if key in _TOP_KEYS:
        return f"; {key} is a top-level key: write it before the first [table]"
    return ""


def _toml_kind(value: Any) -> str:
    """What VALUE is called in TOML (for "must be X, not Y" messages)."""
    if isinstance(value, bool):
        return "the boolean"
    kinds = ((str, "the string"), (float, "the float"), (list, "the array"), (dict, "the table"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "the value")


def _rule(src: _Source, index: int, raw: Any, places: dict[str, list[str]],
          declared: Callable[[str], bool]) -> Rule:
    if not isinstance(raw, dict):
        raise PolicyError(f"{src.label}: rule #{index + 1} must be a table")
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        raise _fail(src, "id", f"rule #{index + 1}: missing `id` (a non-empty string)", rule_index=index)
    label = f"rule {rid!r}"

    def fail(key: str, message: str) -> PolicyError:
        return _fail(src, key, f"{label}: {message}", rule_index=index)

    for key in raw:
        if key not in _RULE_KEYS:
            raise fail(key, f"unknown key {key!r} (known: {', '.join(sorted(_RULE_KEYS))}){_top_level_hint(key)}")
    events = raw.get("events")
    if isinstance(events, str):
        raise fail("events", f"`events` must be a list, not the string {events!r} "
                             f"(write: events = [{toml_string(events)}])")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) and e for e in events):
        raise fail("events", "`events` must be a non-empty list of event names or globs")
    try:
        compile_globs(events, path=False)
    except PatternError as exc:
        raise fail("events", f"bad event glob: {exc}") from None
    for name in events:
        problem = event_problem(name, declared)
        if problem is not None:
            raise fail("events", problem)
    action = raw.get("action")
    if action not in ACTIONS:
        raise fail("action", f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    conditions = {}
    for part in ("when", "unless"):
        value = raw.get(part, {})
        if not isinstance(value, dict):
            raise fail(part, f"`{part}` must be a table of conditions")
        conditions[part] = {k: _condition(k, v, fail, part, places) for k, v in value.items()}
    message = raw.get("message", raw.get("description", ""))
    if not isinstance(message, str):
        raise fail("message", "`message` must be a string")
    return Rule(
        id=rid, events=tuple(events), action=action, when=conditions["when"],
        unless=conditions["unless"], message=message, origin=src.where("id", rule_index=index),
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition(key: str, value: Any, fail: Any, part: str, places: dict[str, list[str]]) -> Any:
    """Validate one condition value and return it normalised (lists). PLACES: the
    placeholder values, worked out once per policy load."""
    if key not in CONDITION_KEYS:
        raise fail(key, f"unknown condition key {key!r} in `{part}` (known: {', '.join(CONDITION_KEYS)})")
    if key == "write":
        if not isinstance(value, bool):
            raise fail(key, f"condition `write` must be true or false, not {value!r}")
        return value
    items = _as_list(value)
    if not items:
        raise fail(key, f"condition `{key}` is an empty list: it could never match")
    if key == "port":
        try:
            for item in items:
                parse_port(item)
        except PatternError as exc:
            raise fail(key, str(exc)) from None
        return items
    if not all(isinstance(i, str) and i for i in items):
        raise fail(key, f"condition `{key}` must be a string or a list of non-empty strings")
    try:
        if key == "path":
            expanded = [g for p in items for g in expand_path_glob(p, places)]
            compile_globs(expanded, path=True)
            for glob in expanded:
                native_glob_tokens(glob)
        elif key == "host":
            for item in items:
                host = parse_host(item)
                if isinstance(host, str):
                    native_glob_tokens(host, path=False)
        elif key in ("module", "executable", "caller"):
            compile_globs(items, path=False)
            for item in items:
                native_glob_tokens(item, path=False)
        elif key == "arg":
            for item in items:
                compile_arg_regex(item)
    except PatternError as exc:
        raise fail(key, str(exc)) from None
    return items


def _merge(chain: list[tuple[_Source, dict[str, Any], str]], places: dict[str, list[str]]) -> Policy:
    """Merge base-first; the extending file's rules come first. PLACES: the placeholder
    values, each worked out when a path glob first names it."""
    mode = "enforce"
    launch_allow: list[str] = ["file", "module"]
    refuse_ld = False
    defaults: dict[str, str] = {}
    integrity: dict[str, Any] = {}
    log: dict[str, Any] = {}  # each table's keys, later files over earlier ones; typed at the end
    sinks: list[str] = []
    rules: list[Rule] = []
    ids: dict[str, str] = {}
    declared = declared_matcher([name for _, data, _ in chain for name in data.get("custom_events", [])])
    for src, data, _ in reversed(chain):
        mode = data.get("mode", mode)
        launch = data.get("launch", {})
        launch_allow = list(launch.get("allow", launch_allow))
        refuse_ld = launch.get("refuse_ld_preload", refuse_ld)
        defaults.update(data.get("defaults", {}))
        own_integrity = dict(data.get("integrity", {}))
        for key in ("manifest", "pubkey"):  # relative to the policy file that names them
            if isinstance(own_integrity.get(key), str) and not src.label.startswith("<"):
                own_integrity[key] = os.path.join(os.path.dirname(src.label), os.path.expanduser(own_integrity[key]))
        integrity.update(own_integrity)
        log_table = dict(data.get("log", {}))
        sinks = list(log_table.pop("sinks", sinks))
        log.update(log_table)
        own = [_rule(src, i, r, places, declared) for i, r in enumerate(data.get("rules", []))]
        for rule in own:
            if rule.id in ids and ids[rule.id] == src.label:
                raise PolicyError(f"{rule.origin}: rule {rule.id!r}: duplicate rule id (also at {ids[rule.id]})")
            ids[rule.id] = src.label
        rules = own + rules
    return Policy(
        name=chain[0][2], mode=mode, launch_allow=tuple(launch_allow), refuse_ld_preload=refuse_ld,
        defaults=defaults, rules=tuple(rules), sinks=tuple(sinks), integrity=IntegritySettings(**integrity),
        log=LogSettings(**log),
        sources=tuple(src.label for src, _, _ in chain),
    )
