"""Policies: the TOML format, the built-in profiles and their validation."""
from tpython.policy.loader import load_policy
from tpython.policy.model import ACTIONS, LAUNCH_KINDS, Policy, Rule

__all__ = ["ACTIONS", "LAUNCH_KINDS", "Policy", "Rule", "load_policy"]
