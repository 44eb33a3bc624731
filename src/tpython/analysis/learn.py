"""`tpython learn`: a least-privilege policy from what runs were seen doing.

Like ``audit2allow`` and ``aa-logprof``, it works from denials: run the
workload with ``--policy strict --mode audit`` and every event strict would
stop is recorded with action ``deny``. For each, learn writes the narrowest
rule letting it through that the policy language can say (this destination and port range,
this program, this exact path, this imported module), limited to the modules
seen doing it. The action is `log`: allowed, and still recorded, so runs
under the learned policy can be compared with the recorded ones. It also
confines writes: the directories the runs wrote to become the only ones the
learned policy lets the program write to. Rules of the learned file come
before strict's, so nothing else strict stops is opened, and every rule
carries a comment saying what was seen, by whom.
"""
from __future__ import annotations

import json
import re
from typing import Any, Optional, Union

from tpython.analysis.generalise import Places, port_entry
from tpython.analysis.observe import NETWORK_EVENTS, PROCESS_EVENTS, Observation
from tpython.analysis.stream import LogStream
from tpython.engine.eventargs import PATH_ARGS, WRITE_EVENTS
from tpython.policy.catalog import EVENTS

MAX_ITEMS = 200  # values kept per learned rule; more means the workload is too broad to learn from


class Learned:
    """One rule being learned: its events, condition values, and what was seen."""

    def __init__(self, kind: str, title: str) -> None:
        self.kind = kind
        self.title = title
        self.events: dict[str, None] = {}
        self.values: dict[str, dict[Any, None]] = {}
        self.modules: dict[Optional[str], None] = {}
        self.count = 0
        self.seen: dict[str, None] = {}  # concrete examples for the comment

    def add(self, obs: Observation, example: str, **values: list[Any]) -> None:
        """One more record of this behaviour (standing for ``obs.times`` occurrences)."""
        self.count += obs.times
        self.events[obs.event] = None
        if len(self.modules) < MAX_ITEMS:
            self.modules[obs.module] = None
        for key, items in values.items():
            bucket = self.values.setdefault(key, {})
            for item in items:
                if len(bucket) < MAX_ITEMS:
                    bucket[item] = None
        if example and len(self.seen) < 6:
            self.seen[example] = None


def _arg_prefix(args: Any) -> Optional[str]:
    """A regex for the leading string arguments as rendered (at most two), or None."""
    if not isinstance(args, list):
        return None
    lead = [a for a in args[:2] if isinstance(a, str)][: len(args)]
    if not lead or not isinstance(args[0], str):
        return None
    body = ",".join(json.dumps(a, ensure_ascii=False) for a in lead)
    return "^" + re.escape("[" + body) + r"[,\]]"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


class Learner:
    """Gathers the rules one record at a time."""

    def __init__(self) -> None:
        self.rules: dict[tuple[Any, ...], Learned] = {}
        self.writes: dict[str, dict[Optional[str], None]] = {}  # directory glob -> modules
        self.write_examples: dict[str, str] = {}
        self.runs: dict[str, str] = {}  # run -> "policy mode"
        self.untrusted: dict[str, str] = {}  # code files refused by integrity checks -> why
        self.records = 0

    def _rule(self, key: tuple[Any, ...], kind: str, title: str) -> Learned:
        rule = self.rules.get(key)
        if rule is None:
            rule = self.rules[key] = Learned(kind, title)
        return rule

    def add(self, obs: Observation, record: dict[str, Any], places: Places) -> None:
        """Take one record into account."""
        self.records += not obs.summarised
        args = record.get("args")
        if obs.event == "tpython.start" and isinstance(args, dict) and isinstance(args.get("policy"), dict):
            self.runs[obs.run] = f"{args['policy'].get('name')} {args['policy'].get('mode')}"
        for path in obs.written:
            glob = places.directory_glob(path)
            if glob not in self.writes and len(self.writes) >= MAX_ITEMS:
                continue
            self.writes.setdefault(glob, {})[obs.module] = None
            self.write_examples.setdefault(glob, path)
        if obs.action not in ("deny", "kill") or any(c in obs.event for c in "*?["):
            return  # a name with glob characters (a damaged log) cannot be written as an event
        if obs.event == "tpython.integrity":  # code refused: trust it, a rule cannot allow it
            if isinstance(args, dict) and len(self.untrusted) < MAX_ITEMS:
                self.untrusted[str(args.get("path"))] = str(args.get("reason"))
            return
        if obs.event in NETWORK_EVENTS and obs.host:
            has_port = obs.port is not None
            rule = self._rule(("network", obs.host, has_port), "network", f"network: {obs.host}")
            ports = [port_entry(obs.port)] if obs.port is not None else []
            rule.add(obs, f"{obs.event} {obs.host}:{obs.port}", host=[obs.host], port=ports)
        elif obs.event in PROCESS_EVENTS and obs.programs:
            rule = self._rule(("process", obs.programs[0].rsplit("/", 1)[-1]), "process",
                              f"program: {obs.programs[0]}")
            rule.add(obs, f"{obs.event} {json.dumps(args, ensure_ascii=False)[:100]}", executable=list(obs.programs))
        elif obs.event in PATH_ARGS and (obs.written or obs.read):
            paths = [places.normal(p) for p in obs.written + obs.read]
            rule = self._rule(("path", obs.event, obs.rule), "path", f"{obs.event} denied by {obs.rule}")
            rule.add(obs, " ".join(obs.written + obs.read), path=paths)
        else:
            prefix = _arg_prefix(args)
            rule = self._rule(("other", obs.event, obs.rule), "other", f"{obs.event} denied by {obs.rule}")
            rule.add(obs, json.dumps(args, ensure_ascii=False)[:100], arg=[prefix] if prefix else [])

    def render(self, files: list[str], extends: str) -> tuple[str, str]:
        """The policy text, and a short summary for the terminal."""
        lines = [
            f"# Learned by `tpython learn` from {len(self.runs)} run(s), {self.records} records, in:",
            *[f"#   {f}" for f in files],
            "# Each rule lets through (and logs, action \"log\") what the recorded runs did",
            "# that the extended policy denies, no more: review each one (the comment above",
            "# it says what was seen, by which modules) before enforcing the policy. Rules",
            "# here are tried before the extended policy's, so everything else it denies",
            "# stays denied.",
            "version = 1",
            f"extends = {_toml(extends)}",
            'mode = "enforce"',
            f"description = {_toml('learned from ' + ', '.join(files))}",
        ]
        custom = sorted({e for learned in self.rules.values() for e in learned.events if e not in EVENTS})
        if custom:  # events the program raises itself (not in CPython's catalogue), as seen
            lines.append(f"custom_events = {_toml(custom)}")
        lines.append("")
        kinds: dict[str, int] = {}
        for learned in self.rules.values():
            kinds[learned.kind] = kinds.get(learned.kind, 0) + 1
            lines += self._render_rule(learned, f"learned-{learned.kind}-{kinds[learned.kind]}")
        if self.writes:
            lines += self._render_writes()
        summary = (f"learned {len(self.rules)} allow rule(s) from {len(self.runs)} run(s) "
                   f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items())) or 'nothing was denied'})"
                   f"{'; writes confined to ' + str(len(self.writes)) + ' location(s)' if self.writes else ''}\n")
        if self.untrusted:
            summary += (f"note: {len(self.untrusted)} code file(s) were refused by integrity checks; a rule "
                        "cannot allow them: vouch for them with `tpython trust manifest` or `tpython trust stamp`:\n")
            summary += "".join(f"  {path}: {why}\n" for path, why in list(self.untrusted.items())[:20])
        if not self.rules:
            recorded = ", ".join(sorted(set(self.runs.values()))) or "no tpython.start record"
            summary += (f"note: no denials in these logs (recorded under: {recorded}); record the workload "
                        f"with `tpython run --policy {extends} --mode audit` to learn what {extends} would stop\n")
        return "\n".join(lines) + "\n", summary

    @staticmethod
    def _render_rule(learned: Learned, rule_id: str) -> list[str]:
        modules = [m for m in learned.modules if m is not None]
        when: dict[str, Any] = {}
        for key, bucket in learned.values.items():
            items = list(bucket)  # paths are globs already (Places.normal)
            if items:
                when[key] = items
        anonymous = None in learned.modules
        if modules and not anonymous:
            when["module"] = modules
        names = ", ".join(m or "(no module)" for m in learned.modules)
        lines = [f"# {learned.title}: {learned.count} record(s) by {names}"]
        lines += [f"#   seen: {s}" for s in learned.seen]
        if anonymous:
            lines.append("#   (some records name no module, so this rule is not limited by module)")
        if learned.kind == "process" and any("/" not in e for e in when.get("executable", [])):
            lines.append("#   (a program named without a path matches that name anywhere on PATH)")
        lines += ["[[rules]]", f"id = {_toml(rule_id)}", f"events = {_toml(list(learned.events))}",
                  'action = "log"']
        if when:
            lines.append(f"when = {_toml(when)}")
        return lines + [""]

    def _render_writes(self) -> list[str]:
        lines = ["# Writes: the runs wrote only to these places; writing anywhere else is denied.", "#   seen:"]
        for glob, modules in self.writes.items():
            names = ", ".join(m or "(no module)" for m in modules)
            lines.append(f"#   {glob}  e.g. {self.write_examples[glob]}  by {names}")
        events = ["open"] + sorted(e for e in WRITE_EVENTS if e in PATH_ARGS and e in EVENTS)
        return lines + ["[[rules]]", 'id = "learned-writes"',
                        'message = "writing outside the places this program was seen writing to"',
                        f"events = {_toml(events)}", 'action = "deny"', "when = { write = true }",
                        f"unless = {_toml({'path': list(self.writes)})}", ""]


def learn_policy(paths: Union[str, list[str]], extends: str = "strict") -> tuple[str, str]:
    """Read the logs once; return the learned policy's text and a summary."""
    stream = LogStream(paths)
    learner = Learner()
    for obs, record in stream:
        learner.add(obs, record, stream.places(obs.run))
    text, summary = learner.render(stream.paths, extends)
    problems = stream.problems()
    if problems:
        summary += (f"warning: {len(problems)} problem(s) in the logs (see `tpython log verify`); "
                    "learned from what could be read\n")
    return text, summary
