"""`tpython diff BASELINE RUN`: what RUN did that BASELINE never did, riskiest first.

Both logs are reduced to behaviours that stay the same from run to run
(see :mod:`.generalise`): event kinds, modules imported, destinations,
programs, paths read and written, dynamic code, and which module did which
kind of thing; not the bytecode cache (a .pyc found or written depends on
what ran before). BASELINE's behaviours are kept as a set; RUN is streamed
against it. Exit status 1 when anything is new, so it can gate CI.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

from tpython.analysis.bounded import Group, Table
from tpython.analysis.generalise import Places, port_text
from tpython.analysis.observe import DYNAMIC_CODE, Observation, code_digest, program_run
from tpython.analysis.repeats import REPEATS
from tpython.analysis.stream import LogStream

MAX_BASELINE = 500_000  # behaviours kept from the baseline

# (risk, how to say it) per kind of behaviour; category risks for "module does X".
KINDS: dict[str, tuple[int, str]] = {
    "secret": (100, "reads a secret"),
    "program": (90, "runs a program"),
    "integrity": (85, "integrity failure"),
    "network": (80, "network destination"),
    "deny": (75, "denied by policy"),
    "write-outside": (70, "writes outside the working and temp directories"),
    "code": (50, "dynamic code"),
    "module": (40, "module does something it did not do before"),
    "write": (30, "writes"),
    "import": (20, "imports"),
    "read": (20, "reads"),
    "event": (15, "new event kind"),
}
CATEGORY_RISK = {"process": 60, "native": 60, "network": 55, "pickle": 50, "code": 45, "file": 40}
Behaviour = tuple[str, ...]


def _secret_matcher() -> Callable[[str], bool]:
    """Globs for credential files, from strict's own `strict-secrets` rule, with ``~``
    standing for any home directory (the analysing user's may not be the run's)."""
    from tpython.policy.loader import load_policy
    from tpython.policy.patterns import compile_globs

    globs: list[str] = []
    for rule in load_policy("strict").rules:
        if rule.id == "strict-secrets":
            globs = [("**" + g[1:]) if g.startswith("~/") else g for g in rule.when.get("path", ())]
    return compile_globs(globs, path=True)


class Behaviours:
    """Turns observations into behaviours."""

    def __init__(self) -> None:
        self.is_secret = _secret_matcher()

    def of(self, obs: Observation, record: dict[str, Any], places: Places) -> list[Behaviour]:
        """The behaviours one record shows."""
        event = obs.event
        if (event in BYTECODE_CACHE and obs.action not in ("deny", "kill")) or event == REPEATS:
            return []  # a summary's items come as observations of their own (LogStream)
        found: list[Behaviour] = [("event", event)]
        add = found.append
        if obs.module is not None and obs.category not in ("tpython", "frequent"):
            add(("module", obs.module, obs.category))
        if event in _SPECIAL or obs.action in ("deny", "kill"):
            self._special(obs, record, found)
        if obs.host is not None:
            add(("network", obs.host, port_text(obs.port)))
        if obs.programs:
            add(("program", program_run(obs) or "?"))
        for path in obs.written:
            if "/__pycache__/" not in path:
                add(("write" if places.in_work_area(path) else "write-outside", places.normal(path)))
        for path in obs.read:
            if "/__pycache__/" not in path:
                add(("secret" if self.is_secret(path) else "read", places.normal(path)))
        return found

    @staticmethod
    def _special(obs: Observation, record: dict[str, Any], found: list[Behaviour]) -> None:
        event, args = obs.event, record.get("args")
        if event == "tpython.exit" and isinstance(args, dict) and isinstance(args.get("counted"), dict):
            found.extend(("event", str(name)) for name in args["counted"])
        elif event == "import" and isinstance(args, list) and args and isinstance(args[0], str):
            found.append(("import", args[0]))
        elif event == "tpython.integrity" and isinstance(args, dict):
            found.append(("integrity", str(args.get("path")), str(args.get("reason"))))
        elif event in DYNAMIC_CODE:
            code = code_digest(obs, args)
            if code is not None:
                found.append(("code", obs.module or "-", code[0]))
        if obs.action in ("deny", "kill"):
            found.append(("deny", event, str(obs.rule)))


# Whether an import finds its .pyc or writes it depends on what ran before, not on
# what the program does: marshal traffic and __pycache__ files are not behaviour.
BYTECODE_CACHE = frozenset({"marshal.loads", "marshal.load", "marshal.dumps", "marshal.dump"})
_SPECIAL = frozenset({"tpython.exit", "import", "tpython.integrity"}) | DYNAMIC_CODE


def risk(behaviour: Behaviour) -> int:
    """How much a new BEHAVIOUR matters, 0-100."""
    if behaviour[0] == "module":
        return CATEGORY_RISK.get(behaviour[2], KINDS["module"][0] - 10)
    return KINDS[behaviour[0]][0]


def describe(behaviour: Behaviour) -> str:
    """One line for a behaviour."""
    kind = behaviour[0]
    if kind == "module":
        return f"module {behaviour[1]} does {behaviour[2]} events for the first time"
    if kind == "network":
        return f"{KINDS[kind][1]}: {behaviour[1]}:{behaviour[2]}"
    if kind == "deny":
        return f"{KINDS[kind][1]}: {behaviour[1]} by rule {behaviour[2]}"
    if kind == "code":
        return f"{KINDS[kind][1]} in {behaviour[1]}: {behaviour[2]}"
    return f"{KINDS[kind][1]}: {' '.join(behaviour[1:])}"


def diff_logs(baseline: Union[str, list[str]], run: Union[str, list[str]]) -> dict[str, Any]:
    """Compare two sets of logs; return the new behaviours, riskiest first, as data."""
    reader = Behaviours()
    base_stream = LogStream(baseline)
    known: set[Behaviour] = set()
    truncated = False
    for obs, record in base_stream:
        for behaviour in reader.of(obs, record, base_stream.places(obs.run)):
            if behaviour not in known:
                if len(known) >= MAX_BASELINE:
                    truncated = True
                    continue
                known.add(behaviour)
    run_stream = LogStream(run)
    new: Table[Group] = Table(Group, cap=5000)  # keyed by Behaviour
    for obs, record in run_stream:
        for behaviour in reader.of(obs, record, run_stream.places(obs.run)):
            if behaviour not in known:
                group: Optional[Group] = new.get(behaviour, obs.times)
                if group is not None:
                    group.add(obs.module, obs.run, obs.action, obs.ts, obs.event, obs.times)
    found: list[tuple[Behaviour, Group]] = [(b, g) for b, g in new.groups.items() if isinstance(b, tuple)]
    rows = sorted(found, key=lambda kv: (-risk(kv[0]), kv[0]))
    return {
        "baseline": base_stream.paths, "run": run_stream.paths,
        "baseline_records": base_stream.records, "run_records": run_stream.records,
        "baseline_truncated": truncated, "more_records": new.dropped,
        "new": [{"risk": risk(b), "kind": b[0], "what": describe(b), "behaviour": list(b), **g.as_dict()}
                for b, g in rows],
        "problems": {"baseline": base_stream.problems(), "run": run_stream.problems()},
    }


def render_diff(result: dict[str, Any], limit: int = 100) -> str:
    """The diff as terminal text."""
    new = result["new"]
    head = (f"tpython diff: {len(new)} new behaviour(s) in {', '.join(result['run'])} "
            f"({result['run_records']} records) not seen in {', '.join(result['baseline'])} "
            f"({result['baseline_records']} records)")
    lines = [head]
    if new:
        lines.append(f"  {'risk':>4}  what  (first seen: event, module, run, time; how often)")
    for row in new[:limit]:
        modules = ", ".join(row["modules"])
        lines.append(f"  {row['risk']:>4}  {row['what']}  ({row['example']} by {modules} in run "
                     f"{row['runs'][0]} at {row['first']}; {row['count']}x)")
    if len(new) > limit:
        lines.append(f"  ... {len(new) - limit} more (see --json)")
    if result["baseline_truncated"]:
        lines.append(f"note: the baseline holds more than {MAX_BASELINE} behaviours; later ones were not "
                     "kept, so some behaviours shown as new may not be")
    for side in ("baseline", "run"):
        for problem in result["problems"][side][:20]:
            lines.append(f"warning: {side}: {problem}")
    if not new:
        lines.append("nothing new")
    return "\n".join(lines) + "\n"
