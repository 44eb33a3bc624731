"""Aggregates whose memory does not grow with the number of records.

Analysis commands read logs of millions of records; everything they keep
is a bounded table of groups (beyond its cap, further groups are only
counted) or a timeline whose bins widen as the span grows.
"""
from __future__ import annotations

import calendar
from typing import Any, Callable, Generic, Hashable, Optional, TypeVar

G = TypeVar("G")
SAMPLE_CAP = 8  # modules, runs or examples kept per group


class Group:
    """One row of a table: how often, by which modules, in which runs, one example."""

    __slots__ = ("count", "modules", "runs", "actions", "example", "first", "last")

    def __init__(self) -> None:
        self.count = 0
        self.modules: dict[str, None] = {}
        self.runs: dict[str, None] = {}
        self.actions: dict[str, int] = {}
        self.example: Any = None
        self.first = ""
        self.last = ""

    def add(self, module: Optional[str], run: str, action: str, ts: str, example: Any = None, n: int = 1) -> None:
        """Count one more record in this group, standing for N occurrences (a repeat count)."""
        self.count += n
        name = module or "-"
        if name not in self.modules and len(self.modules) < SAMPLE_CAP:
            self.modules[name] = None
        if run not in self.runs and len(self.runs) < SAMPLE_CAP:
            self.runs[run] = None
        self.actions[action] = self.actions.get(action, 0) + n
        if self.example is None:
            self.example = example
        if not self.first:
            self.first = ts
        self.last = ts

    def as_dict(self) -> dict[str, Any]:
        """The group as plain data (for --json and the renderers)."""
        return {"count": self.count, "modules": list(self.modules), "runs": list(self.runs),
                "actions": dict(self.actions), "example": self.example, "first": self.first, "last": self.last}


class Table(Generic[G]):
    """At most CAP groups by key; occurrences in groups beyond the cap are only counted."""

    def __init__(self, make: Callable[[], G], cap: int = 1000) -> None:
        self.make = make
        self.cap = cap
        self.groups: dict[Hashable, G] = {}
        self.dropped = 0  # occurrences that fell into groups past the cap

    def get(self, key: Hashable, n: int = 1) -> Optional[G]:
        """The group for KEY, made if there is room; None when the table is full (the
        N occurrences about to be added are then counted as dropped)."""
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= self.cap:
                self.dropped += n
                return None
            group = self.groups[key] = self.make()
        return group

    def __len__(self) -> int:
        return len(self.groups)


class Timeline:
    """Records per category over time, in at most MAX_BINS bins of equal width
    (one second at first; doubled, merging neighbours, whenever the span needs it)."""

    MAX_BINS = 240

    def __init__(self) -> None:
        self.width = 1
        self.bins: dict[str, dict[int, int]] = {}
        self.low: Optional[int] = None
        self.high: Optional[int] = None
        self._minutes: dict[str, int] = {}

    def seconds(self, ts: str) -> Optional[int]:
        """Whole seconds since the epoch of an RFC 3339 UTC time (cached per minute)."""
        minute = ts[:16]
        base = self._minutes.get(minute)
        if base is None:
            try:
                base = calendar.timegm((int(ts[0:4]), int(ts[5:7]), int(ts[8:10]),
                                        int(ts[11:13]), int(ts[14:16]), 0, 0, 0, 0))
            except ValueError:
                return None
            if len(self._minutes) > 10000:
                self._minutes.clear()
            self._minutes[minute] = base
        try:
            return base + int(ts[17:19])
        except ValueError:
            return None

    def add(self, category: str, ts: str, n: int = 1) -> None:
        """Count N records of CATEGORY at time TS."""
        sec = self.seconds(ts)
        if sec is None:
            return
        if self.low is None or self.high is None:
            self.low = self.high = sec
        elif sec < self.low or sec > self.high:
            self.low, self.high = min(self.low, sec), max(self.high, sec)
            while (self.high - self.low) // self.width + 1 > self.MAX_BINS:
                self._widen()
        row = self.bins.setdefault(category, {})
        slot = sec // self.width
        row[slot] = row.get(slot, 0) + n

    def _widen(self) -> None:
        self.width *= 2
        for category, row in self.bins.items():
            merged: dict[int, int] = {}
            for slot, n in row.items():
                merged[slot // 2] = merged.get(slot // 2, 0) + n
            self.bins[category] = merged

    def as_dict(self) -> dict[str, Any]:
        """Start, bin width and one list of counts per category."""
        if self.low is None or self.high is None:
            return {"start": None, "width": self.width, "bins": 0, "series": {}}
        first, last = self.low // self.width, self.high // self.width
        series = {cat: [row.get(slot, 0) for slot in range(first, last + 1)]
                  for cat, row in sorted(self.bins.items())}
        return {"start": first * self.width, "width": self.width, "bins": last - first + 1, "series": series}
