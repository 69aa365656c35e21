"""What toybox's commands share: option parsing, error messages, the loop over operands, reading files."""
from __future__ import annotations

import errno
import os
from typing import Callable

from harness.emulator.sh.streams import Ctx


def split_flags(ctx: Ctx, allowed: str, with_value: str = "") -> tuple[set[str], dict[str, str], list[str]] | None:
    """Toybox-style flags (``-la`` == ``-l -a``). Returns None after printing an error."""
    flags: set[str] = set()
    values: dict[str, str] = {}
    operands: list[str] = []
    args = ctx.argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            operands += args[i + 1:]
            break
        if a.startswith("-") and len(a) > 1 and not operands:
            for j, ch in enumerate(a[1:]):
                if ch in with_value:
                    rest = a[j + 2:]
                    if rest:
                        values[ch] = rest
                    elif i + 1 < len(args):
                        i += 1
                        values[ch] = args[i]
                    else:
                        ctx.err(f"{ctx.argv[0]}: Missing argument to -{ch}\n")
                        return None
                    break
                if ch not in allowed:
                    ctx.err(f"{ctx.argv[0]}: Unknown option '{ch}'\n")
                    return None
                flags.add(ch)
        else:
            operands.append(a)
        i += 1
    return flags, values, operands


def parse_args(ctx: Ctx, name: str, allowed: str, with_value: str = "",
               need: int = 0) -> tuple[set[str], dict[str, str], list[str]] | None:
    """``split_flags``, and at least ``need`` operands (else toybox's ``NAME: Needs N argument(s)``);
    None after printing an error."""
    parsed = split_flags(ctx, allowed, with_value)
    if parsed is not None and len(parsed[2]) < need:
        ctx.err(f"{name}: Needs {need} argument{'s' if need > 1 else ''}\n")
        return None
    return parsed


def errmsg(ctx: Ctx, path: str, e: OSError | int) -> None:
    """toybox's perror_msg: ``<argv0>: <path>: <strerror>``."""
    code = e if isinstance(e, int) else (e.errno or errno.EIO)
    ctx.err(f"{ctx.argv[0]}: {path}: {os.strerror(code)}\n")


def fail(ctx: Ctx, message: str) -> bool:
    """Print ``message`` for an operand that failed; True, for ``for_each``."""
    ctx.err(message)
    return True


def for_each(ctx: Ctx, operands: list[str], action: Callable[[str], bool | None], name: str | None = None,
             quote: str = "") -> int:
    """Run ``action(op)`` on each operand; exit status 1 if any failed, else 0.

    An action fails by returning True (it printed its own message, see ``fail``) or by
    raising OSError, which is printed as ``<name or argv0>: <quote><op><quote>: <strerror>``."""
    status = 0
    for op in operands:
        try:
            failed = action(op)
        except OSError as e:
            ctx.err(f"{name or ctx.argv[0]}: {quote}{op}{quote}: {os.strerror(e.errno or errno.EIO)}\n")
            failed = True
        if failed:
            status = 1
    return status


def file_lines(ctx: Ctx, name: str):
    """The lines of file ``name`` as the shell user reads them, or None after printing why not."""
    try:
        return ctx.device.fs.read_bytes(ctx.path(name), who="shell").splitlines(keepends=True)
    except OSError as e:
        errmsg(ctx, name, e)
        return None
