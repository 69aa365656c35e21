"""Android 14's ``logcat``: dump, tail, clear or follow the emulated logd's buffers (logcat.cpp's options).

Supported: ``-d -c -s -t N|TIME -T N|TIME -v FORMAT -b BUFFER[,..] -e REGEX --pid PID``
(also ``--name=value``) and ``TAG:LEVEL`` filter specs; without ``-d`` it follows the log
until the host closes the stream (or a pipe's reader goes).
"""
from __future__ import annotations

import dataclasses
import datetime
import re
import time

from harness.emulator.android.options import MissingValue, scan
from harness.emulator.logd import LogcatPrinter
from harness.emulator.sh.streams import Ctx

LOGCAT_FOLLOW_WAIT_S = 0.2   # how often a following logcat checks that the host still listens
_LEVELS = "VDIWEFS"
_ARITY = {option: 1 for option in ("-v", "--format", "-b", "--buffer", "-e", "--regex", "--pid", "-t", "-T")}
_JOINED = ("--pid", "--buffer", "--format", "--regex")
_UNMODELLED_FORMATS = ("color", "epoch", "monotonic", "uid", "usec", "UTC", "year", "zone", "long")
_KNOWN_BUFFERS = ("main", "system", "crash", "radio", "events", "kernel", "stats", "security")
_DEFAULT_BUFFERS = ("main", "system", "crash")


class _BadOption(Exception):
    """What logcat prints to stderr before it exits with status 1."""


@dataclasses.dataclass
class _Options:
    dump: bool = False
    clear: bool = False
    silent_default: bool = False
    tail: int | None = None
    since: float | None = None
    fmt: str = "threadtime"
    buffers: list = dataclasses.field(default_factory=list)
    regex: re.Pattern | None = None
    pid: int | None = None
    specs: dict = dataclasses.field(default_factory=dict)


def cmd_logcat(ctx: Ctx) -> int:
    try:
        opts = _parse(ctx.argv[1:])
    except _BadOption as e:
        ctx.err(str(e))
        return 1
    if opts.clear:
        ctx.device.logcat.clear(set(opts.buffers) if opts.buffers else None)
        return 0
    printer = LogcatPrinter(opts.fmt, opts.buffers or _DEFAULT_BUFFERS, opts.specs,
                            "S" if opts.silent_default else "V", opts.regex, opts.pid)
    entries, seq = ctx.device.logcat.entries()
    if opts.since is not None:
        entries = [e for e in entries if e[0] >= opts.since]
    if opts.tail is not None:
        chosen = [e for e in entries if printer.accepts(e)]
        entries = chosen[-opts.tail:] if opts.tail else []
    ctx.out(printer.render(entries))
    follow = not opts.dump and ctx.conn_stream is not None
    if not follow or ctx.device.faults.snapshot().logcat_no_follow:
        ctx.device.count_logcat("dump")
        return 0
    ctx.device.count_logcat("follow")
    _follow(ctx, printer, seq)
    return 0


def _follow(ctx: Ctx, printer: LogcatPrinter, seq: int) -> None:
    """Print the lines logged after line ``seq`` as they come, until the host or the pipe's reader goes."""
    while not ctx.cancelled():
        entries, seq = ctx.device.logcat.entries(since=seq, wait_s=LOGCAT_FOLLOW_WAIT_S)
        text = printer.render(entries)
        if text:
            ctx.out(text)
        elif getattr(ctx.out_sink, "broken", False):
            break


def _parse(args: list[str]) -> _Options:
    """logcat's options, read in order; raises _BadOption at the first bad one."""
    opts = _Options()
    try:
        for word, values in scan(args, _ARITY, _JOINED):
            if word in _ARITY:
                _option(opts, word, values[0])
            elif word == "-d":
                opts.dump = True
            elif word == "-c":
                opts.clear = True
            elif word == "-s":
                opts.silent_default = True
            elif not word.startswith("-"):
                _filter_spec(opts, word)
    except MissingValue as e:
        raise _BadOption(f"logcat: option requires an argument -- '{e.option.lstrip('-')}'\n") from None
    return opts


def _option(opts: _Options, option: str, value: str) -> None:
    if option in ("-v", "--format"):
        if value not in LogcatPrinter.FORMATS:
            if value in _UNMODELLED_FORMATS:
                raise _BadOption(f"logcat: -v {value} is not modelled by the emulated phone\n")
            raise _BadOption(f"logcat: Invalid parameter \"{value}\" to -v\n")
        opts.fmt = value
    elif option in ("-b", "--buffer"):
        for b in value.split(","):
            if b in ("all", "default"):
                opts.buffers += list(_DEFAULT_BUFFERS)
            elif b in _KNOWN_BUFFERS:
                opts.buffers.append(b)
            else:
                raise _BadOption(f"logcat: Unknown buffer '{b}'\n")
    elif option in ("-e", "--regex"):
        try:
            opts.regex = re.compile(value)
        except re.error:
            raise _BadOption(f"logcat: Invalid regex: {value}\n") from None
    elif option == "--pid":
        if not value.isdigit():
            raise _BadOption(f"logcat: Invalid --pid '{value}'\n")
        opts.pid = int(value)
    else:   # -t / -T: a count, or a time 'MM-DD hh:mm:ss.mmm' (-t implies -d)
        opts.dump = opts.dump or option == "-t"
        if value.isdigit():
            opts.tail = int(value)
        else:
            try:
                opts.since = _parse_logcat_time(value)
            except ValueError:
                raise _BadOption(f"logcat: Invalid -{option[1]} parameter '{value}'\n") from None


def _filter_spec(opts: _Options, spec: str) -> None:
    """``TAG:LEVEL`` (``*:S`` silences every tag not named)."""
    tag, _, level = spec.partition(":")
    level = (level or "V").upper()[:1]
    if level not in _LEVELS:
        raise _BadOption(f"Invalid filter expression '{spec}'\n")
    if tag == "*":
        opts.silent_default = level == "S"
    else:
        opts.specs[tag] = level


def _parse_logcat_time(text: str) -> float:
    now = time.localtime()
    for fmt in ("%m-%d %H:%M:%S.%f", "%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            dt = datetime.datetime.strptime(text, fmt)
            if "%Y" not in fmt:
                dt = dt.replace(year=now.tm_year)
            return dt.timestamp()
        except ValueError:
            continue
    raise ValueError(text)


COMMANDS = {"logcat": cmd_logcat}
