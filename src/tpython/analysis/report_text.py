"""The terminal form of `tpython report`."""
from __future__ import annotations

from typing import Any, Callable

ROWS = 15  # rows per table on the terminal; --json and --html have them all


def _table(title: str, section: dict[str, Any], cells: Callable[[dict[str, Any]], str], empty: str) -> list[str]:
    rows = section["rows"]
    lines = [f"\n{title} ({len(rows)})" if rows else f"\n{title}", ""]
    if not rows:
        return lines[:1] + [f"  {empty}"]
    lines.pop()
    for row in rows[:ROWS]:
        lines.append("  " + cells(row))
    if len(rows) > ROWS:
        lines.append(f"  ... {len(rows) - ROWS} more (see --json or --html)")
    if section["more_records"]:
        lines.append(f"  ... and {section['more_records']} events in groups beyond the table's limit")
    return lines


def _by(row: dict[str, Any]) -> str:
    modules = ", ".join(row["modules"])
    return f"by {modules}" if modules else ""


def repeats_note(repeats: int) -> str:
    """What the header adds when tpython.repeats records counted repeats ("" when none)."""
    return f"; {repeats} repeats counted in tpython.repeats records, included below" if repeats else ""


def _plus(repeats: int) -> str:
    return f" (+{repeats} repeats)" if repeats else ""


def render_text(data: dict[str, Any]) -> str:
    """The report as terminal text."""
    runs = data["runs"]
    out = [f"tpython report: {data['records']} records, {len(runs)} runs, from {', '.join(data['files'])}"
           + repeats_note(data.get("repeats", 0))]
    out.append("\nRuns")
    for run in runs[:ROWS]:
        status = "no tpython.exit" if run["status"] is None else f"exit {run['status']}"
        parent = f" (child of {run['parent']})" if run["parent"] else ""
        argv = " ".join(str(a) for a in run["argv"])[:80]
        out.append(f"  {run['run']} pid {run['pid']}{parent}: {argv}  [{run['policy']}, {run['mode']}] "
                   f"{run['first'][:19]}  {run['records']} records{_plus(run.get('repeats', 0))}, "
                   f"{run['denials']} denials, {status}")
    if len(runs) > ROWS or data["more_runs"]:
        out.append(f"  ... {len(runs) - min(len(runs), ROWS) + data['more_runs']} more runs")
    out.append("\nEvents by category")
    for cat in data["categories"]:
        top = ", ".join(f"{name} {n}" for name, n in cat["top"])
        out.append(f"  {cat['category']:<12} {cat['count']:>9}  {top}")
    out += _table("Denials and kills", data["denials"],
                  lambda r: (f"{r['count']:>6}  {r['action']}{'' if r['enforced'] else ' (audit: not enforced)'} "
                             f"{r['event']} by rule {r['rule'] or '(default)'} in {r['module'] or '-'}: "
                             f"{r['example']}"),
                  "none")
    out += _table("Network destinations", data["network"],
                  lambda r: f"{r['count']:>6}  {r['host']}:{r['port'] if r['port'] is not None else '-'}"
                            f"  {r['kind']}  {', '.join(r['actions'])}  {_by(r)}",
                  "none")
    out += _table("Programs run", data["programs"],
                  lambda r: f"{r['count']:>6}  {r['program']}  {r['example']}  {_by(r)}", "none")
    out += _table("Files written outside the working and temp directories", data["writes_outside"],
                  lambda r: f"{r['count']:>6}  {r['path']}  ({r['example']})  {_by(r)}", "none")
    out += _table("Dynamic code (strings compiled, code run that no file holds)", data["dynamic_code"],
                  lambda r: f"{r['count']:>6}  {r['event']} in {r['module'] or '-'}: {r['example'] or r['code']!r}",
                  "none")
    out += _table("Integrity failures", data["integrity"],
                  lambda r: f"{r['count']:>6}  {r['path']}: {r['reason']}", "none")
    out.append("\nLog problems (corrupt lines, broken chains)")
    out += [f"  {p}" for p in data["problems"][:50]] or ["  none: every chain holds"]
    if len(data["problems"]) > 50:
        out.append(f"  ... {len(data['problems']) - 50} more")
    return "\n".join(out) + "\n"
