"""Records per second through each sink, into real daemons.

The workload of record_rate.py (N logged ``bench.record`` events in one
process, pinned to one core, timing its own loop), once per sink: JSONL,
stderr (to /dev/null), syslog on a local socket, syslog over UDP and TCP
(rsyslogd with docs/rsyslog/tpython-collector.conf, started here), and
journald (systemd-journald in its own mount namespace, started here), with
the native engine. Each run is checked: the daemon stored every record (UDP
excepted: what arrived is reported, since UDP may drop).

Usage: ``python benchmarks/sink_rate.py [--records N] [--runs R] [--tpython PATH]`` (root; rsyslog and
systemd installed, as `.ci/run` does).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import record_rate  # noqa: E402
from daemons import DaemonUnavailable, Journald, Rsyslog, wait_for  # noqa: E402  (the tests' daemon fixtures)

# record_rate.py's policy and workload; the syslog sink is pointed at rsyslogd's socket
POLICY = record_rate.POLICY + '[log]\nsyslog_socket = "{socket}"\n'
WORKLOAD = record_rate.WORKLOAD


def run_once(tpython: str, sink: str, records: int, workdir: Path, wrap: list[str]) -> float:
    argv = [*wrap, tpython, "run", "--quiet", "--policy", str(workdir / "policy.toml"),
            "--log", sink, str(workdir / "workload.py"), str(records)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=workdir)
    if proc.returncode != 0:
        raise SystemExit(f"sink_rate.py: {' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tpython", default=os.path.join(os.path.dirname(sys.executable), "tpython"))
    args = parser.parse_args()
    tpython = shutil.which(args.tpython) or args.tpython
    with tempfile.TemporaryDirectory(prefix="tpython-sinks-") as tmp:
        workdir = Path(tmp)
        try:
            rsyslog = Rsyslog(workdir / "rsyslog").start()
            journald = Journald(workdir / "journald").start()
        except DaemonUnavailable as exc:
            raise SystemExit(f"sink_rate.py: {exc}") from None
        try:
            (workdir / "policy.toml").write_text(POLICY.format(socket=rsyslog.socket))
            (workdir / "workload.py").write_text(WORKLOAD)
            sinks = [
                ("jsonl", lambda i: f"jsonl:{workdir}/run{i}.jsonl", [], None),
                ("stderr", lambda i: "stderr", [], None),
                ("syslog (socket)", lambda i: "syslog", [], "unix"),
                ("syslog+udp", lambda i: f"syslog+udp://127.0.0.1:{rsyslog.udp_port}", [], "udp"),
                ("syslog+tcp", lambda i: f"syslog+tcp://127.0.0.1:{rsyslog.tcp_port}", [], "tcp"),
                ("journald", lambda i: "journald", journald.wrap(workdir), "journal"),
            ]
            print(f"records/s per sink, native engine, {args.records} records per process, median of "
                  f"{args.runs} processes, one core each; daemons: rsyslogd, systemd-journald")
            for name, spec, wrap, stored_in in sinks:
                times = []
                for i in range(args.runs):
                    times.append(run_once(tpython, spec(i), args.records, workdir, wrap))
                note = ""
                if stored_in == "journal":
                    count = len(journald.entries("TPYTHON_EVENT=bench.record", "--output-fields=TPYTHON_SEQ"))
                    note = f"; journal holds {count} of {args.records * args.runs}"
                elif stored_in is not None:
                    want = args.records * args.runs

                    def stored(where: str = stored_in) -> int:
                        return sum('event="bench.record"' in m for m in rsyslog.messages(where))

                    try:
                        wait_for(lambda want=want: stored() >= want, timeout=30, what="rsyslogd to store the records")
                    except TimeoutError:
                        pass
                    got = stored()
                    note = f"; rsyslogd stored {got} of {want}"
                median = statistics.median(times)
                print(f"  {name:<16} {args.records / median:>10,.0f} records/s  ({median * 1e6 / args.records:.1f}"
                      f" us per record; runs: " + ", ".join(f"{t:.3f}" for t in times) + f" s{note})", flush=True)
        finally:
            rsyslog.stop()
            journald.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
