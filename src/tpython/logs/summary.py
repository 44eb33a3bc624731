"""The short summary printed on stderr when a run ends."""
from __future__ import annotations

from typing import Any


def format_summary(engine: Any) -> str:
    """A few lines: what was seen, what was stopped, where the log went."""
    rec = engine.recorder
    counted = sum(engine.counted().values())
    actions = dict(engine.actions)
    records = rec.written
    seen = counted + sum(actions.values())
    parts = [f"{actions.get('log', 0)} logged", f"{counted} counted"]
    for action, past in (("ask", "asked"), ("deny", "denied"), ("kill", "killed")):
        if actions.get(action):
            parts.append(f"{actions[action]} {past}")
    lines = [f"tpython: run {rec.run} (policy {engine.policy.name}, {engine.policy.mode} mode): "
             f"{max(seen, 0)} events: {', '.join(parts)}"]
    if engine.denials:
        verb = "denied" if engine.enforce else "would deny (audit mode)"
        items = sorted(engine.denials.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{event} by {rule or 'default'} x{n}" for (event, rule), n in items[:6])
        more = f", +{len(items) - 6} more" if len(items) > 6 else ""
        lines.append(f"tpython: {verb}: {shown}{more}")
    lost = rec.all_lost()
    if lost:
        lines.append("tpython: LOST records: " + ", ".join(f"{k}: {v}" for k, v in lost.items()))
    where = ", ".join(s.name.removeprefix("jsonl:") if hasattr(str, "removeprefix") else s.name for s in rec.sinks)
    lines.append(f"tpython: log: {where} ({records} records{', not all written: see LOST' if lost else ''})")
    return "\n".join(lines) + "\n"
