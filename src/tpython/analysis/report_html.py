"""The HTML form of `tpython report`: one self-contained page.

The page draws the same data as the terminal report (:mod:`.report_text`),
with every row, plus a timeline of events per category as inline SVG. It
fetches nothing (inline CSS, no scripts, no fonts or images) and its Content
Security Policy forbids scripts and network fetches. Everything taken from a
log is attacker-controlled text: it all goes through :func:`html.escape`.
"""
from __future__ import annotations

import html
import time
from typing import Any, Callable, Optional

from tpython.analysis.report_text import repeats_note

Column = tuple[str, Callable[[dict[str, Any]], Any], str]  # header, cell value, CSS class

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"
COLOURS = ("#3b6fb6", "#d07a1f", "#2e8b57", "#8a4fb5", "#b8433c", "#2a8f9c", "#7a7f2a", "#b5527f", "#5b6770")
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:75em;padding:0 1em;color:#1c1f23;background:#fff}
h1{margin:0 0 .2em}h2{margin:1.6em 0 .4em;font-size:1.15em;border-bottom:1px solid #d5d9de}
.meta{color:#555;margin:0}
.summary{display:flex;flex-wrap:wrap;gap:.5em;margin:1em 0;padding:0;list-style:none}
.summary li{border:1px solid #d5d9de;border-radius:6px;padding:.35em .8em;background:#f6f8fa}
.summary b{display:block;font-size:1.35em}
.summary li.alert{background:#fdecea;border-color:#d93025;color:#a50e0e}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border:1px solid #d5d9de;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eef1f4}td.num{text-align:right;white-space:nowrap}
td.mono,td.long{font-family:ui-monospace,monospace}td.long{word-break:break-all}
tr.deny td{background:#fff4f2}
.none,.note{color:#555;font-style:italic}
.tl-row,.tl-axis{display:grid;grid-template-columns:9em 1fr 6em;align-items:center;gap:.6em;margin:2px 0}
.tl-row svg{width:100%;height:22px;background:#f6f8fa;display:block}
.tl-total{text-align:right}
.tl-axis>div{color:#555;font-size:12px}
.tl-ends{display:flex;justify-content:space-between}
"""


def _e(value: Any) -> str:
    """VALUE as escaped HTML text; None as a dash."""
    return html.escape("-" if value is None else str(value), quote=True)


def _utc(seconds: float) -> str:
    """Epoch SECONDS as readable UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _list(values: Any) -> str:
    """A list of names, or a dict of name -> count, as one line."""
    if isinstance(values, dict):
        return ", ".join(f"{k} {v}" for k, v in values.items())
    return ", ".join(str(v) for v in values or [])


def _count(section: dict[str, Any]) -> int:
    """Records in a table's groups, and in those beyond its limit."""
    return sum(int(r.get("count", 0)) for r in section["rows"]) + int(section.get("more_records", 0))


def _section(ident: str, title: str, body: str) -> str:
    """One titled section of the page."""
    return f'<section id="{_e(ident)}"><h2>{_e(title)}</h2>\n{body}</section>\n'


def _table(ident: str, title: str, section: dict[str, Any], columns: list[Column],
           empty: str = "none", row_class: Optional[Callable[[dict[str, Any]], str]] = None,
           note: str = "") -> str:
    """A table section with one row per group, all rows; 'none' when empty; NOTE below it."""
    rows = section["rows"]
    tail = f'<p class="note">{_e(note)}</p>\n' if note else ""
    if not rows:
        return _section(ident, title, f'<p class="none">{_e(empty)}</p>\n' + tail)
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h, _, _ in columns)
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        cls = row_class(row) if row_class else ""
        cells = "".join(f'<td class="{c}">{_e(get(row))}</td>' if c else f"<td>{_e(get(row))}</td>"
                        for _, get, c in columns)
        lines.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    more = int(section.get("more_records", 0))
    if more:
        lines.append(f'<p class="note">… and {more} events in groups beyond the table\'s limit</p>')
    return _section(ident, f"{title} ({len(rows)})", "\n".join(lines) + "\n" + tail)


def _summary(data: dict[str, Any]) -> str:
    """The strip of key counts; denials and problems stand out when non-zero."""
    items = [("runs", len(data["runs"]) + data["more_runs"], False),
             ("records", data["records"], False),
             ("repeats", data.get("repeats", 0), False),
             ("denials", _count(data["denials"]), True),
             ("network destinations", len(data["network"]["rows"]), False),
             ("programs", len(data["programs"]["rows"]), False),
             ("writes outside", len(data["writes_outside"]["rows"]), False),
             ("dynamic code", len(data["dynamic_code"]["rows"]), False),
             ("integrity failures", _count(data["integrity"]), True),
             ("log problems", len(data["problems"]), True)]
    lis = "".join(f'<li class="{"alert" if alarm and n else "ok"}" data-key="{_e(label)}"><b>{_e(n)}</b>'
                  f"{_e(label)}</li>" for label, n, alarm in items)
    return f'<ul class="summary" id="summary">{lis}</ul>\n'


def _timeline(tl: Optional[dict[str, Any]]) -> str:
    """One inline-SVG bar row per category, with the start time and bin width."""
    series = (tl or {}).get("series") or {}
    start, bins, width = (tl or {}).get("start"), int((tl or {}).get("bins") or 0), (tl or {}).get("width") or 1
    if start is None or not bins or not series:
        return _section("timeline", "Timeline", '<p class="none">none: no timestamped records</p>\n')
    rows = []
    for i, (category, counts) in enumerate(series.items()):
        peak = max(counts, default=0) or 1
        bars = []
        for slot, n in enumerate(counts):
            if n:
                h = max(n / peak, 0.15)  # the smallest count stays visible
                when = _utc(start + slot * width)
                bars.append(f'<rect x="{slot + 0.1:.2f}" y="{1 - h:.3f}" width="0.8" height="{h:.3f}">'
                            f"<title>{_e(when)}: {_e(n)}</title></rect>")
        svg = (f'<svg viewBox="0 0 {bins} 1" preserveAspectRatio="none" role="img" '
               f'aria-label="{_e(category)} events over time" fill="{COLOURS[i % len(COLOURS)]}">'
               f'{"".join(bars)}</svg>')
        rows.append(f'<div class="tl-row" data-category="{_e(category)}"><span class="tl-name">{_e(category)}</span>'
                    f'{svg}<span class="tl-total">{_e(sum(counts))}</span></div>')
    plural = "bin" if bins == 1 else "bins"
    axis = (f'<div class="tl-axis"><span></span><div><div class="tl-ends"><span>{_e(_utc(start))}</span>'
            f'<span>{_e(_utc(start + bins * width))}</span></div>'
            f"{bins} {plural} of {_e(width)} s each; bars scaled per row</div><span></span></div>")
    return _section("timeline", "Timeline (events per category)", "\n".join(rows) + "\n" + axis + "\n")


def _runs(data: dict[str, Any]) -> str:
    """The runs table, with a note for runs beyond the limit."""
    section = {"rows": data["runs"], "more_records": 0}
    return _table("runs", "Runs", section, [
        ("Run", lambda r: r["run"], "mono"), ("PID", lambda r: r["pid"], "num"),
        ("Parent", lambda r: r["parent"], "mono"),
        ("Command", lambda r: " ".join(str(a) for a in r["argv"] or []), "long"),
        ("Policy", lambda r: r["policy"], ""), ("Mode", lambda r: r["mode"], ""),
        ("Working directory", lambda r: r["cwd"], "long"), ("Started", lambda r: r["first"][:19], ""),
        ("Records", lambda r: r["records"], "num"), ("Repeats", lambda r: r.get("repeats", 0), "num"),
        ("Denials", lambda r: r["denials"], "num"),
        ("Status", lambda r: "no tpython.exit" if r["status"] is None else f"exit {r['status']}", "")],
        row_class=lambda r: "deny" if r["denials"] else "",
        note=f"… and {data['more_runs']} more runs" if data["more_runs"] else "")


def render_html(data: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    runs = data["runs"]
    total_runs = len(runs) + data["more_runs"]
    meta = (f'{data["records"]} records, {total_runs} runs, from {", ".join(data["files"])}'
            + repeats_note(data.get("repeats", 0)))
    parts = [f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
             f'<meta name="viewport" content="width=device-width,initial-scale=1">'
             f"<title>tpython report</title><style>{CSS}</style></head>\n<body>\n"
             f'<header><h1>tpython report</h1><p class="meta">{_e(meta)}</p></header>\n',
             _summary(data), _timeline(data.get("timeline")), _runs(data)]
    cats = {"rows": data["categories"], "more_records": 0}
    parts.append(_table("categories", "Events by category", cats, [
        ("Category", lambda r: r["category"], ""), ("Events", lambda r: r["count"], "num"),
        ("Top events", lambda r: ", ".join(f"{name} {n}" for name, n in r["top"]), "long")]))
    parts.append(_table("denials", "Denials and kills", data["denials"], [
        ("Count", lambda r: r["count"], "num"),
        ("Action", lambda r: r["action"] + ("" if r["enforced"] else " (audit: not enforced)"), ""),
        ("Event", lambda r: r["event"], "mono"), ("Rule", lambda r: r["rule"] or "(default)", "mono"),
        ("Module", lambda r: r["module"], "mono"), ("Example", lambda r: r["example"], "long")],
        row_class=lambda r: "deny"))
    by = ("Modules", lambda r: _list(r["modules"]), "mono")
    acts = ("Actions", lambda r: _list(r["actions"]), "")
    parts.append(_table("network", "Network destinations", data["network"], [
        ("Count", lambda r: r["count"], "num"), ("Host", lambda r: r["host"], "mono"),
        ("Port", lambda r: r["port"], "num"), ("Kind", lambda r: r["kind"], ""),
        ("Event", lambda r: r["example"], "mono"), acts, by]))
    parts.append(_table("programs", "Programs run", data["programs"], [
        ("Count", lambda r: r["count"], "num"), ("Program", lambda r: r["program"], "long"),
        ("Example", lambda r: r["example"], "long"), acts, by]))
    parts.append(_table("writes", "Files written outside the working and temp directories", data["writes_outside"], [
        ("Count", lambda r: r["count"], "num"), ("Path", lambda r: r["path"], "long"),
        ("Event", lambda r: r["example"], "mono"), acts, by]))
    parts.append(_table("dynamic-code", "Dynamic code (strings compiled, code run that no file holds)",
                        data["dynamic_code"], [
        ("Count", lambda r: r["count"], "num"), ("Event", lambda r: r["event"], "mono"),
        ("Module", lambda r: r["module"], "mono"), ("Code", lambda r: r["code"], "long"),
        ("Excerpt", lambda r: r["example"], "long")]))
    parts.append(_table("integrity", "Integrity failures", data["integrity"], [
        ("Count", lambda r: r["count"], "num"), ("Path", lambda r: r["path"], "long"),
        ("Reason", lambda r: r["reason"], ""), by]))
    problems = {"rows": [{"problem": p} for p in data["problems"]], "more_records": 0}
    parts.append(_table("problems", "Log problems (corrupt lines, broken chains)", problems,
                        [("Problem", lambda r: r["problem"], "long")], empty="none: every chain holds",
                        row_class=lambda r: "deny"))
    parts.append("</body></html>\n")
    return "".join(parts)
