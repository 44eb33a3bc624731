"""Parse the `tpython` command line and dispatch to one function per subcommand."""
from __future__ import annotations

import os
import sys

from tpython import __version__
from tpython import exit_status as status
from tpython.errors import Error, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Optional

EXIT_OK = status.OK
EXIT_USAGE = status.USAGE

RUN_USAGE = ("tpython run [--policy FILE|PROFILE] [--mode audit|enforce]\n"
             "            [--log SINK]... [--quiet]\n"
             "            [--] (SCRIPT | -m MODULE | -c CODE | -) [ARGS...]")


def _parser() -> argparse.ArgumentParser:
    import argparse  # not for `run`, the command that starts programs

    parser = argparse.ArgumentParser(
        prog="tpython", description="Security transparency for CPython: audit, log and enforce.")
    version = f"tpython {__version__}"
    parser.add_argument("--version", action="version", version=version)
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
    show.add_argument("--since", metavar="TIME",
                      help="from this time (UTC): 2026-11-27T20:00:00Z, 2026-11-27, today, yesterday, "
                           "or an age: 1h, 2d")
    show.add_argument("--until", metavar="TIME", help="up to this time (the same forms)")
    show.add_argument("-f", "--follow", action="store_true",
                      help="keep printing records as they are appended (across rotations), like tail -F")
    show.add_argument("--json", action="store_true", help="print matching records as JSONL")
    verify = log_sub.add_parser("verify", help="check the hash chain of every run in a log (or a rotated set)")
    verify.add_argument("files", nargs="+", metavar="FILE")

    trust = sub.add_parser("trust", help="code integrity: keys, manifests, xattr stamps, checks")
    trust_sub = trust.add_subparsers(dest="trust_command", metavar="ACTION")
    keygen = trust_sub.add_parser("keygen", help="make an Ed25519 key pair for signing manifests")
    keygen.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.key and PREFIX.pub")
    mani = trust_sub.add_parser("manifest", help="hash code files into a manifest")
    mani.add_argument("paths", nargs="+", metavar="PATH")
    mani.add_argument("--out", required=True, metavar="FILE")
    mani.add_argument("--sign", metavar="PREFIX.key", help="also write FILE.sig, signed with this key")
    mani.add_argument("--all-files", action="store_true", help="every file, not only code files")
    stamp = trust_sub.add_parser("stamp", help="store each code file's hash in its xattr (as spython's mkxattr)")
    stamp.add_argument("paths", nargs="+", metavar="PATH")
    stamp.add_argument("--all-files", action="store_true", help="every file, not only code files")
    stamp.add_argument("-v", "--verbose", action="store_true", help="name each file stamped")
    check = trust_sub.add_parser("check", help="check code files against a manifest and/or xattrs")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.add_argument("--manifest", metavar="FILE")
    check.add_argument("--pubkey", metavar="FILE", help="required when the manifest is signed")
    check.add_argument("--xattr", action="store_true", help="accept files whose xattr hash matches")
    check.add_argument("--all-files", action="store_true", help="every file, not only code files")

    report = sub.add_parser("report", help="summarise what runs did: denials, network, programs, writes")
    report.add_argument("files", nargs="+", metavar="FILE")
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report to OUT")
    learn = sub.add_parser("learn", help="write a least-privilege policy from runs recorded in audit mode")
    learn.add_argument("files", nargs="+", metavar="FILE")
    learn.add_argument("--out", required=True, metavar="POLICY.toml")
    learn.add_argument("--extends", default="strict", help="the profile or policy file to extend (default strict)")
    diff = sub.add_parser("diff", help="behaviour in RUN not seen in BASELINE; exit 1 when there is any")
    diff.add_argument("baseline", metavar="BASELINE", help="a log (repeat with a comma: a,b for several)")
    diff.add_argument("run", metavar="RUN", help="a log (repeat with a comma for several)")
    diff.add_argument("--json", action="store_true", help="machine-readable output")

    sub.add_parser("info", help="whether the C engine loads, and platform features")
    return parser


def dispatch(args_list: list[str], base_sys_path: Optional[list[str]] = None) -> int:
    """Run one subcommand; errors a user can cause become one line and a status.
    BASE_SYS_PATH: see :func:`tpython.cli.main`."""
    verbose = "--verbose" in args_list[:1]
    if verbose:
        args_list = args_list[1:]
    try:
        if args_list[:1] == ["run"]:
            from tpython.launcher.command import run_command

            try:
                return run_command(args_list[1:], base_sys_path=base_sys_path)
            except (Error, BrokenPipeError):
                raise
            except Exception as exc:  # tpython itself failed: the program must not start unwatched
                from tpython.sinks.critical import critical_failure

                critical_failure(f"{type(exc).__name__}: {exc}")
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
                            run=args.run, since=args.since, until=args.until, as_json=args.json,
                            follow=args.follow)
        if args.command == "log" and args.log_command == "verify":
            from tpython.logs.verify import verify_log

            return verify_log(args.files)
        if args.command == "trust" and args.trust_command:
            from tpython.commands import trust as trust_cmd

            if args.trust_command == "keygen":
                return trust_cmd.trust_keygen(args.out)
            if args.trust_command == "manifest":
                return trust_cmd.trust_manifest(args.paths, args.out, args.sign, args.all_files)
            if args.trust_command == "stamp":
                return trust_cmd.trust_stamp(args.paths, args.all_files, args.verbose)
            if args.pubkey and not args.manifest:
                raise UsageError("tpython trust check: --pubkey goes with --manifest")
            return trust_cmd.trust_check(args.paths, args.manifest, args.pubkey, args.xattr, args.all_files)
        if args.command in ("report", "learn", "diff"):
            from tpython.commands import analysis

            if args.command == "report":
                return analysis.report(args.files, as_json=args.json, html=args.html)
            if args.command == "learn":
                return analysis.learn(args.files, args.out, args.extends)
            return analysis.diff(args.baseline.split(","), args.run.split(","), as_json=args.json)
        if args.command == "info":
            from tpython.commands.info import info

            return info()
        sub = {"policy": "policy", "log": "log", "trust": "trust"}.get(args.command or "")
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

