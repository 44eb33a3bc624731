"""Parse the `tpython` command line and dispatch to one function per subcommand."""
from __future__ import annotations

import argparse
import os
import sys

from tpython import __version__
from tpython.errors import Error

EXIT_OK = 0
EXIT_USAGE = 2

RUN_USAGE = ("tpython run [--policy FILE|PROFILE] [--mode audit|enforce] [--log SINK]... [--quiet]\n"
             "            [--] (SCRIPT | -m MODULE | -c CODE | -) [ARGS...]")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tpython", description="Security transparency for CPython: audit, log and enforce.")
    parser.add_argument("--version", action="version", version=f"tpython {__version__} (engine: python)")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("run", help="run a program under tpython", usage=RUN_USAGE, add_help=False)

    policy = sub.add_parser("policy", help="work with policy files")
    policy_sub = policy.add_subparsers(dest="policy_command", metavar="ACTION")
    check = policy_sub.add_parser("check", help="validate a policy and summarise it")
    check.add_argument("file", help="a policy file or a built-in profile name")

    events = sub.add_parser("events", help="list CPython's audit events and what each profile does")
    events.add_argument("--json", action="store_true", help="machine-readable output")
    events.add_argument("--category", help="only this category")

    log = sub.add_parser("log", help="read tpython logs")
    log_sub = log.add_subparsers(dest="log_command", metavar="ACTION")
    show = log_sub.add_parser("show", help="print records in a readable form")
    show.add_argument("file")
    show.add_argument("--event", help="event glob, e.g. 'socket.*'")
    show.add_argument("--action", action="append", help="only these actions (repeatable)")
    show.add_argument("--module", help="module glob")
    show.add_argument("--run", help="run id (a prefix is enough)")
    show.add_argument("--since", help="RFC 3339 time, e.g. 2026-11-27T20:00:00Z")
    show.add_argument("--until", help="RFC 3339 time")
    show.add_argument("--json", action="store_true", help="print matching records as JSONL")
    verify = log_sub.add_parser("verify", help="check the hash chain of every run in a log")
    verify.add_argument("file")

    sub.add_parser("info", help="engine in use and platform features")
    return parser


def dispatch(args_list: list[str]) -> int:
    """Run one subcommand; errors a user can cause become one line and a status."""
    verbose = "--verbose" in args_list[:1]
    if verbose:
        args_list = args_list[1:]
    try:
        if args_list[:1] == ["run"]:
            from tpython.launcher.command import run_command

            return run_command(args_list[1:])
        parser = _parser()
        args = parser.parse_args(args_list)
        verbose = verbose or args.verbose
        if args.command == "policy" and args.policy_command == "check":
            from tpython.commands.policy_check import policy_check

            return policy_check(args.file)
        if args.command == "events":
            from tpython.commands.events import list_events

            return list_events(as_json=args.json, category=args.category)
        if args.command == "log" and args.log_command == "show":
            from tpython.logs.show import show_log

            return show_log(args.file, event=args.event, actions=args.action, module=args.module,
                            run=args.run, since=args.since, until=args.until, as_json=args.json)
        if args.command == "log" and args.log_command == "verify":
            from tpython.logs.verify import verify_log

            return verify_log(args.file)
        if args.command == "info":
            from tpython.commands.info import info

            return info()
        sub = {"policy": "policy", "log": "log"}.get(args.command or "")
        if sub:
            parser.parse_args([sub, "--help"])
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    except Error as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        print(f"tpython: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK

