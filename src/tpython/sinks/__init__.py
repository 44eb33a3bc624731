"""Sinks: where records go (JSONL file, stderr; syslog and journald later)."""
from tpython.sinks.interface import Sink
from tpython.sinks.spec import SinkSpec, open_sink, parse_sink_spec

__all__ = ["Sink", "SinkSpec", "open_sink", "parse_sink_spec"]
