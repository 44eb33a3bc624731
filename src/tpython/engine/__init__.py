"""The engine: one audit hook deciding each event from a compiled policy."""
