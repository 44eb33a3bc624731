"""`tpython report`, `tpython learn` and `tpython diff`: the analysis commands."""
from __future__ import annotations

import json
import sys
from typing import Optional, TextIO

from tpython.errors import UsageError


def _write(path: str, text: str, what: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path}: {exc.strerror}") from None


def report(files: list[str], as_json: bool = False, html: Optional[str] = None, out: TextIO = sys.stdout) -> int:
    """Print the report (text or JSON), write HTML if asked; 1 when the logs have problems."""
    from tpython.analysis.report import build_report

    data = build_report(files)
    if html:
        from tpython.analysis.report_html import render_html

        _write(html, render_html(data), "HTML report")
    if as_json:
        json.dump(data, out, ensure_ascii=False, indent=1)
        out.write("\n")
    else:
        from tpython.analysis.report_text import render_text

        out.write(render_text(data))
        if html:
            out.write(f"\nHTML report: {html}\n")
    return 1 if data["problems"] else 0


def learn(files: list[str], out_path: str, extends: str = "strict", out: TextIO = sys.stdout) -> int:
    """Write a policy allowing what the runs in FILES did; say what it holds."""
    import os

    from tpython.analysis.learn import learn_policy

    if os.path.exists(extends):  # a policy file: name it so the learned policy finds it from anywhere
        extends = os.path.abspath(extends)
    text, summary = learn_policy(files, extends)
    _write(out_path, text, "policy")
    out.write(summary + f"policy written to {out_path}; check it with `tpython policy check {out_path}`\n")
    return 0


def diff(baseline: list[str], run: list[str], as_json: bool = False, out: TextIO = sys.stdout) -> int:
    """Print what RUN did that BASELINE did not, riskiest first; 1 when anything is new."""
    from tpython.analysis.diff import diff_logs, render_diff

    result = diff_logs(baseline, run)
    if as_json:
        json.dump(result, out, ensure_ascii=False, indent=1)
        out.write("\n")
    else:
        out.write(render_diff(result))
    return 1 if result["new"] else 0
