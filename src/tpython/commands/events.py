"""`tpython events`: CPython's audit events, their arguments, and what each profile does."""
from __future__ import annotations

import json
import sys
from typing import Optional, TextIO

from tpython.errors import UsageError
from tpython.policy.catalog import CATEGORIES, EVENTS, category_of
from tpython.policy.loader import load_policy
from tpython.policy.model import Policy
from tpython.policy.patterns import compile_globs
from tpython.policy.profile_cache import PROFILES


def _describe(policy: Policy, event: str) -> str:
    """The rules that name EVENT, in order, up to the first without conditions, then the
    category default: what the policy says of it (C decides each event from the same)."""
    parts = []
    for rule in policy.rules:
        if not compile_globs(list(rule.events), path=False)(event):
            continue
        conditional = bool(rule.when or rule.unless)
        parts.append(f"{rule.action}{'?' if conditional else ''} ({rule.id})")
        if not conditional:
            return ", ".join(parts)
    default = policy.default_for(category_of(event))
    return ", ".join([*parts, f"else {default}"]) if parts else default


def list_events(*, as_json: bool = False, category: Optional[str] = None, out: TextIO = sys.stdout) -> int:
    """Print the table; `?` marks a rule that applies only when its conditions hold."""
    if category is not None and category not in CATEGORIES:
        raise UsageError(f"unknown category {category!r} (known: {', '.join(CATEGORIES)})")
    policies = {name: load_policy(name) for name in PROFILES}
    rows = []
    for name, info in sorted(EVENTS.items()):
        if category and info.category != category:
            continue
        rows.append({"event": name, "args": list(info.args), "category": info.category, "since": info.since,
                     **{p: _describe(policy, name) for p, policy in policies.items()}})
    if as_json:
        json.dump(rows, out, indent=1)
        out.write("\n")
        return 0
    width = max(len(r["event"]) for r in rows) if rows else 10
    print(f"{'EVENT':{width}}  {'CATEGORY':11}  {'DEFAULT':8}  STRICT / ARGUMENTS", file=out)
    for r in rows:
        print(f"{r['event']:{width}}  {r['category']:11}  {r['default']:8}  {r['strict']}", file=out)
        print(f"{'':{width}}  {'':11}  {'':8}  ({', '.join(r['args'])}; since {r['since']})", file=out)
    print(f"\n{len(rows)} events. '?' marks a rule that applies only when its conditions hold.", file=out)
    return 0
