"""Step 8 of the pipeline: the ``harness`` command, one module per subcommand.

Each subcommand module has ``add_parser(subparsers)`` and ``run(args) -> exit status``,
callable from Python as well. Exit status: 0 success; 1 a user mistake or a failed run
(one line, ``harness: <message>``, never a traceback); 2 a usage error (argparse's
convention); ``compare`` exits 1 only for a regression and 2 for anything else; 130 when
interrupted (Ctrl-C, SIGTERM, SIGHUP).
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness.errors import HarnessError  # noqa: E402

# In the order a newcomer meets them.
COMMANDS = ("run", "convert", "devices", "runs", "report", "compare", "baseline", "emulator")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from harness import __version__
    from harness.cli.common import Formatter

    p = argparse.ArgumentParser(
        prog="harness", formatter_class=Formatter,
        description="Benchmark TensorFlow Lite LLMs (Keras GPT-2) on Android devices over ADB, or on this host.",
        epilog="Start with `harness run` (an emulated Pixel 7, no phone needed); `harness COMMAND --help` "
               "describes each command with examples.")
    p.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"harness.cli.{name}").add_parser(sub)
    return p


def _interrupted(exiting: bool) -> int:
    """Exit 130 after an interrupt. When the process is about to exit, a signal arriving
    later (while Python finishes) is ignored: it must not turn 130 into a death by signal."""
    from harness import signals

    if exiting:
        signals.ignore_further()
    print("harness: interrupted", file=sys.stderr)
    return 130


def main(argv: list[str] | None = None) -> int:
    from harness import signals

    signals.install()     # first: a SIGTERM while the commands' modules load is an interrupt too
    argv_given = argv
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
    except KeyboardInterrupt:
        return _interrupted(exiting=argv_given is None)
    args = parser.parse_args(argv)        # usage errors: argparse prints usage and exits 2
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    args.argv = ["harness", *argv]
    on_error = getattr(args, "exit_on_error", 1)
    try:
        return args.func(args)
    except HarnessError as e:
        print(f"harness: {e}", file=sys.stderr)
        return on_error
    except KeyboardInterrupt:
        return _interrupted(exiting=argv_given is None)
    except BrokenPipeError:
        return on_error
    except Exception as e:  # noqa: BLE001  a bug: one line, the traceback on request
        if os.environ.get("HARNESS_DEBUG"):
            traceback.print_exc()
        print(f"harness: internal error: {type(e).__name__}: {e} (HARNESS_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return on_error
