"""Android 14's activity manager shell command (``am`` / ``cmd activity``): start, force-stop, kill.

``am start`` follows ActivityManagerShellCommand.runStartActivity: ``-S`` stops the app
first, ``-W`` waits for the launch and prints its figures, errors go to stdout with
``-W`` and to stderr without it, and the exit status stays 0.
"""
from __future__ import annotations

import dataclasses
import time

from harness.emulator.android.options import MissingValue, scan
from harness.emulator.app import LAUNCH_S
from harness.emulator.sh.streams import Ctx

# Intent options that take values (Intent.parseCommandArgs); the rest are flags.
_ARITY = {**{option: 1 for option in ("-n", "-a", "-c", "-d", "-t", "--user", "-R", "-f", "--display")},
          **{option: 2 for option in ("--es", "--ei", "--ez", "--el", "--ef", "--eu")}}
_IGNORED_FLAGS = ("-D", "-N", "--activity-clear-task", "--activity-new-task")


class _Refused(Exception):
    """Intent.parseCommandArgs threw IllegalArgumentException with this message."""


@dataclasses.dataclass
class _Start:
    component: str | None = None
    extras: dict = dataclasses.field(default_factory=dict)
    stop_first: bool = False
    wait: bool = False


def cmd_am(ctx: Ctx, args: list[str] | None = None) -> int:
    args = ctx.argv[1:] if args is None else args
    if not args:
        ctx.err("usage: am [start|force-stop|kill] ...\n")
        return 1
    verb, rest = args[0], args[1:]
    if verb in ("force-stop", "stop-app"):
        for pkg in [a for a in rest if not a.startswith("-")][:1]:
            ctx.device.apps.force_stop(pkg)
        return 0
    if verb == "kill":   # killBackgroundProcesses: only a cached (not running) process goes
        for pkg in [a for a in rest if not a.startswith("-")][:1]:
            proc = ctx.device.apps.procs.get(pkg)
            if proc is not None and (proc.run is None or proc.run.done.is_set()):
                ctx.device.apps.force_stop(pkg, quiet=True)
        return 0
    if verb not in ("start", "start-activity"):
        ctx.err(f"Unknown command: {verb}\n")
        return 255
    try:
        start = _parse_start(rest)
    except _Refused as e:
        return _am_exception(ctx, str(e))
    if start.component is None:
        return _am_exception(ctx, "No intent supplied")
    return _start(ctx, start)


def _parse_start(rest: list[str]) -> _Start:
    """``am start``'s options and intent, in order; raises _Refused at the first bad one."""
    start = _Start()
    try:
        for word, values in scan(rest, _ARITY):
            if word == "-S":
                start.stop_first = True
            elif word == "-W":
                start.wait = True
            elif word in _IGNORED_FLAGS:
                pass
            elif word == "-n":
                start.component = values[0]
            elif len(values) == 2:
                start.extras[values[0]] = values[1]
            elif values:
                pass
            elif word.startswith("-"):
                raise _Refused(f"Unknown option: {word}")
            else:
                start.component = start.component or word
    except MissingValue as e:
        raise _Refused(f"No argument given after {e.option}") from None
    return start


def _start(ctx: Ctx, start: _Start) -> int:
    component = start.component
    pkg = component.split("/", 1)[0]
    if start.stop_first:
        ctx.out(f"Stopping: {pkg}\n")
        ctx.device.apps.force_stop(pkg)
        time.sleep(0.25)                  # Thread.sleep(250) after forceStopPackage
    suffix = " (has extras)" if start.extras else ""
    ctx.out(f"Starting: Intent {{ cmp={component}{suffix} }}\n")
    t0 = time.monotonic()
    result = ctx.device.apps.start(component, start.extras)
    # Errors go to stdout with -W, else to stderr; the exit status stays 0 (Android 14).
    say = ctx.out if start.wait else ctx.err
    if result["result"] == "class_not_found":
        say(f"Error type 3\nError: Activity class {{{result['class']}}} does not exist.\n")
        return 0
    if result["result"] == "task_to_front":
        say("Warning: Activity not started, its current task has been brought to the front\n")
    if start.wait:
        total = LAUNCH_S[result["launch_state"]]
        time.sleep(total)
        short = component if "/." in component else component.replace(pkg + "/" + pkg, pkg + "/")
        ctx.out(f"Status: ok\nLaunchState: {result['launch_state']}\nActivity: {short}\n"
                f"TotalTime: {int(total * 1000)}\nWaitTime: {int((time.monotonic() - t0) * 1000)}\nComplete\n")
    return 0


def _am_exception(ctx: Ctx, message: str) -> int:
    ctx.err(f"\nException occurred while executing 'start':\njava.lang.IllegalArgumentException: {message}\n"
            "\tat android.content.Intent.parseCommandArgs(Intent.java:12345)\n")
    return 255


COMMANDS = {"am": cmd_am}
