"""The policy as data: validated, merged over its `extends` chain, serialisable.

A :class:`Policy` is what the loader produces and what the engine compiles
into its dispatch table. It round-trips through JSON so that the launcher
can hand the exact policy it validated to the interpreter it starts.
"""
from __future__ import annotations

from tpython.jsontext import dumps
from tpython.policy.settings import IntegritySettings, LogSettings
from tpython.sha256 import sha256_hex

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from tpython.lean_typing import NamedTuple


ACTIONS = ("allow", "count", "log", "ask", "deny", "kill")
MODES = ("audit", "enforce")
LAUNCH_KINDS = ("file", "module", "command", "stdin", "interactive")
CONDITION_KEYS = ("path", "write", "host", "port", "executable", "module", "arg", "caller")


class Rule(NamedTuple):
    """One `[[rules]]` entry; `when`/`unless` hold validated condition values."""

    id: str
    events: tuple[str, ...]
    action: str
    when: dict[str, Any] = {}  # never mutated: NamedTuple defaults are shared
    unless: dict[str, Any] = {}
    message: str = ""
    origin: str = ""  # "file:line" where the rule was written


class Policy(NamedTuple):
    """A complete policy, built-in profiles merged in."""

    name: str
    mode: str = "enforce"
    launch_allow: tuple[str, ...] = ("file", "module")
    refuse_ld_preload: bool = False
    defaults: dict[str, str] = {}  # category -> action; "*" catch-all
    rules: tuple[Rule, ...] = ()
    sinks: tuple[str, ...] = ()
    integrity: IntegritySettings = IntegritySettings()
    log: LogSettings = LogSettings()
    sources: tuple[str, ...] = ()

    def default_for(self, category: str) -> str:
        """The action an event of CATEGORY gets when no rule decides."""
        return self.defaults.get(category, self.defaults.get("*", "log"))

    def to_json(self) -> str:
        """Serialise for the launched interpreter (and for the digest)."""
        data = {**self._asdict(), "rules": [rule._asdict() for rule in self.rules],
                "integrity": self.integrity._asdict(), "log": self.log._asdict()}
        return dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        """Inverse of :meth:`to_json`."""
        import json  # the launch spec, read before the hooks

        data = json.loads(text)
        data["rules"] = tuple(Rule(**{**r, "events": tuple(r["events"])}) for r in data["rules"])
        for key in ("launch_allow", "sinks", "sources"):
            data[key] = tuple(data[key])
        data["integrity"] = IntegritySettings(**data["integrity"])
        data["log"] = LogSettings(**data["log"])
        return cls(**data)

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical serialisation; names this exact policy in logs."""
        return sha256_hex(self.to_json().encode())

    def with_overrides(self, *, mode: str | None = None, sinks: tuple[str, ...] | None = None) -> Policy:
        """A copy with the command line's --mode / --log applied."""
        policy = self
        if mode is not None:
            policy = policy._replace(mode=mode)
        if sinks:
            policy = policy._replace(sinks=sinks)
        return policy
