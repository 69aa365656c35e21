"""``harness emulator``: emulated Android phones that speak the ADB protocol (start, stop, list).

The emulated phone has its own command line (``python -m harness.emulator``); this
subcommand hands its arguments over unchanged, so every option the emulator has —
profiles, fault knobs, device state, the app runner — is available here too.
"""
from __future__ import annotations

import argparse

from harness.cli import common


def add_parser(sub) -> None:
    p = common.add_command(
        sub, "emulator", help="emulated Android devices that speak the ADB protocol",
        description="Start, stop and list emulated phones (docs/emulator.md): each is a process that "
                    "the real adb server attaches with `adb connect`. `harness emulator start --help` "
                    "lists every option (profile, port, fault knobs, device state, ...).",
        examples="""harness emulator start --profile pixel7 --name demo
harness emulator start --name slow --faults '{"slow_factor": 1.2}'
harness emulator list
harness emulator stop demo      # or: harness emulator stop --all""",
        exits="0 done\n1 a user mistake (one line)\n2 usage error")
    p.add_argument("emulator_args", nargs=argparse.REMAINDER, metavar="{start,stop,list} ...",
                   help="passed to the emulated phone's own command line")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.emulator.__main__ import main as emulator_main

    argv = list(args.emulator_args)
    if not argv:
        argv = ["--help"]
    return emulator_main(argv, prog="harness emulator")
