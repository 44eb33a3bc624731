"""`tpython policy check FILE`: validate and explain a policy."""
from __future__ import annotations

import sys
from typing import Any, TextIO

from tpython.policy.loader import load_policy
from tpython.policy.settings import IntegritySettings
from tpython.sinks.spec import DEFAULT_SPEC


def _conditions(table: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v if not isinstance(v, list) else '[' + ', '.join(map(str, v)) + ']'}"
                     for k, v in table.items())


def policy_check(ref: str, out: TextIO = sys.stdout) -> int:
    """Print a readable summary of a valid policy (errors raise PolicyError)."""
    policy = load_policy(ref)
    print(f"policy {policy.name}: valid", file=out)
    print(f"  reads:    {' -> '.join(policy.sources)}", file=out)
    print(f"  digest:   {policy.digest}", file=out)
    print(f"  mode:     {policy.mode}", file=out)
    print(f"  launch:   {', '.join(policy.launch_allow) or 'nothing'}"
          f"{'; refuses LD_PRELOAD' if policy.refuse_ld_preload else ''}", file=out)
    sinks = ", ".join(policy.sinks) if policy.sinks else f"{DEFAULT_SPEC} (default)"
    print(f"  sinks:    {sinks}", file=out)
    print(f"  defaults: {', '.join(f'{k} = {v}' for k, v in sorted(policy.defaults.items()))}", file=out)
    integrity = {k: v for k, v in policy.integrity._asdict().items() if v != IntegritySettings()._asdict()[k]}
    if integrity:  # what the policy sets, not the defaults
        print(f"  integrity: {', '.join(f'{k} = {v}' for k, v in sorted(integrity.items()))}", file=out)
    print(f"  rules ({len(policy.rules)}, first match decides):", file=out)
    for rule in policy.rules:
        events = ", ".join(rule.events)
        line = f"    {rule.id}: {rule.action} {events}"
        if rule.when:
            line += f" when {_conditions(rule.when)}"
        if rule.unless:
            line += f" unless {_conditions(rule.unless)}"
        print(line, file=out)
        print(f"      ({rule.origin})", file=out)
    return 0
