"""Reading logs for analysis: one record at a time, chain checked, nothing fatal.

Corrupt lines and broken chains are collected (as `tpython log verify`
words them) and reported by the command; the records around them are
still analysed.
"""
from __future__ import annotations

from typing import Any, Iterator, Union

from tpython.analysis.generalise import Places
from tpython.analysis.observe import Observation, observe
from tpython.analysis.repeats import REPEATS, expand_repeats
from tpython.errors import LogFileError
from tpython.logs.verify import ChainTracker, log_lines

MAX_PROBLEMS = 200  # problems kept word for word; the rest are counted


class LogStream:
    """Iterate over ``(observation, record)`` for every tpython record in PATHS.

    A ``tpython.repeats`` record comes as itself, then once per item with the record
    it repeats and ``times`` set to its count (``summarised``): consumers weigh by ``obs.times``."""

    def __init__(self, paths: Union[str, list[str]]) -> None:
        self.paths = [paths] if isinstance(paths, str) else list(paths)
        self.tracker = ChainTracker(MAX_PROBLEMS)
        self.runs: dict[str, Places] = {}  # run -> its directories, from tpython.start
        self.records = 0  # lines of the logs that are records (a summary's items are not)
        self._unknown = Places("/")

    def __iter__(self) -> Iterator[tuple[Observation, dict[str, Any]]]:
        tracker = self.tracker
        runs = self.runs
        lines = 0
        first_problem = ""
        for at, line in log_lines(self.paths):
            lines += 1
            record = tracker.feed(at, line)
            if record is None:
                first_problem = first_problem or tracker.problems()[0]
                continue
            self.records += 1
            run = record["run"]
            event = record.get("event")
            if event == "tpython.start":
                runs[run] = _places(record.get("args"))
            places = runs.get(run, self._unknown)
            yield observe(record, places.cwd), record
            if event == REPEATS:
                for repeated, count in expand_repeats(record):
                    yield observe(repeated, places.cwd)._replace(times=count, summarised=True), repeated
        if not self.records:  # nothing to analyse must not pass for "nothing happened"
            why = f"{lines} line(s), none a tpython record; the first: {first_problem}" if lines else "empty"
            raise LogFileError(f"no tpython run in {', '.join(self.paths)} ({why})")

    def places(self, run: str) -> Places:
        """The working, home and temp directories of RUN (as tpython.start gave them;
        this process's home and temp directory where the record does not say)."""
        return self.runs.get(run, self._unknown)

    def problems(self) -> list[str]:
        """Corrupt lines and chain problems, in the words of `tpython log verify`."""
        return self.tracker.problems()


def _places(args: Any) -> Places:
    if not isinstance(args, dict):
        return Places("/")
    text = {k: args.get(k) if isinstance(args.get(k), str) else None for k in ("cwd", "home", "tmp")}
    return Places(text["cwd"] or "/", text["home"], text["tmp"])
