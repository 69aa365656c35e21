"""toybox's commands that change files: mkdir, rm, mv, cp, chmod, touch (within the shell user's rights)."""
from __future__ import annotations

import errno
import os
import posixpath
import re
import shutil
import stat as stat_mod
from typing import Callable

from harness.emulator.cmds.common import fail, for_each, parse_args, split_flags
from harness.emulator.sh.streams import Ctx


def cmd_mkdir(ctx: Ctx) -> int:
    parsed = parse_args(ctx, "mkdir", "pv", with_value="m", need=1)
    if parsed is None:
        return 1
    flags, values, operands = parsed

    def make(op: str) -> None:
        dev = ctx.path(op)
        host = ctx.device.fs.host(dev)
        ctx.device.fs.check_writable(dev) if not host.exists() else None
        if "p" in flags:
            host.mkdir(parents=True, exist_ok=True)
        else:
            host.mkdir()
        if "m" in values:
            os.chmod(host, int(values["m"], 8))

    return for_each(ctx, operands, make, name="mkdir", quote="'")


def cmd_rm(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "frRiv")
    if parsed is None:
        return 1
    flags, _, operands = parsed
    force, recursive = "f" in flags, bool({"r", "R"} & flags)
    if not operands and not force:
        ctx.err("rm: Needs 1 argument\n")
        return 1

    def remove(op: str) -> bool | None:
        dev = ctx.path(op)
        host = ctx.device.fs.host(dev)
        if not os.path.lexists(host):
            return None if force else fail(ctx, f"rm: {op}: No such file or directory\n")
        if not ctx.device.fs.writable(dev) or dev in ("/data/local/tmp", "/sdcard"):
            if recursive and dev in ("/data/local/tmp", "/sdcard") and os.path.isdir(host):
                for child in os.listdir(host):    # toybox empties it, then cannot unlink the root
                    path = os.path.join(host, child)
                    shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
            return fail(ctx, f"rm: {op}: Permission denied\n")
        if os.path.isdir(host) and not os.path.islink(host):
            if not recursive:
                return fail(ctx, f"rm: {op}: Is a directory\n")
            shutil.rmtree(host)
        else:
            os.unlink(host)
        return None

    return for_each(ctx, operands, remove)


def _for_each_source(ctx: Ctx, operands: list[str], action: Callable[[str, str, str], bool | None]) -> int:
    """mv and cp: ``action(op, src, target)`` for each source; the last operand is the
    destination, and a source goes into it if it is a directory."""
    dst = ctx.path(operands[-1])

    def one(op: str) -> bool | None:
        src = ctx.path(op)
        target = posixpath.join(dst, posixpath.basename(src)) if ctx.device.fs.host(dst).is_dir() else dst
        return action(op, src, target)

    return for_each(ctx, operands[:-1], one)


def cmd_mv(ctx: Ctx) -> int:
    parsed = parse_args(ctx, "mv", "fnvi", need=2)
    if parsed is None:
        return 1
    fs = ctx.device.fs

    def move(op: str, src: str, target: str) -> bool | None:
        if not os.path.lexists(fs.host(src)):
            return fail(ctx, f"mv: {op}: No such file or directory\n")
        if not (fs.writable(src) and fs.writable(target)):
            return fail(ctx, f"mv: {op}: Permission denied\n")
        os.replace(fs.host(src), fs.host(target))
        return None

    return _for_each_source(ctx, parsed[2], move)


def cmd_cp(ctx: Ctx) -> int:
    parsed = parse_args(ctx, "cp", "rRfpa", need=2)
    if parsed is None:
        return 1
    flags, _, operands = parsed
    fs = ctx.device.fs

    def copy(op: str, src: str, target: str) -> bool | None:
        fs.check_writable(target)
        if fs.host(src).is_dir():
            if not {"r", "R", "a"} & flags:
                return fail(ctx, f"cp: {op}: Is a directory\n")
            shutil.copytree(fs.host(src), fs.host(target), dirs_exist_ok=True)
        else:
            shutil.copyfile(fs.host(src), fs.host(target))
        return None

    return _for_each_source(ctx, operands, copy)


_SYMBOLIC = re.compile(r"^([ugoa]*)([+\-=])([rwxst]*)$")


def _apply_mode(old: int, spec: str) -> int:
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    mode = stat_mod.S_IMODE(old)
    for clause in spec.split(","):
        m = _SYMBOLIC.match(clause)
        if not m:
            raise ValueError(spec)
        who, op, perms = m.groups()
        who = who or "a"
        bits = 0
        for w in who:
            shift = {"u": [6], "g": [3], "o": [0], "a": [6, 3, 0]}[w]
            for s in shift:
                bits |= sum({"r": 4, "w": 2, "x": 1}.get(p, 0) << s for p in perms)
        mode = mode | bits if op == "+" else mode & ~bits if op == "-" else (mode & ~0o777) | bits
    return mode


def cmd_chmod(ctx: Ctx) -> int:
    parsed = parse_args(ctx, "chmod", "Rfv", need=2)
    if parsed is None:
        return 1
    flags, _, operands = parsed
    spec, paths = operands[0], operands[1:]

    def change(op: str) -> None:
        dev = ctx.path(op)
        host = ctx.device.fs.host(dev)
        if not ctx.device.fs.writable(dev):
            raise OSError(errno.EPERM, "Operation not permitted")
        targets = [host]
        if "R" in flags and host.is_dir():
            targets += list(host.rglob("*"))
        for t in targets:
            os.chmod(t, _apply_mode(os.lstat(t).st_mode, spec))

    try:
        return for_each(ctx, paths, change, name="chmod")
    except ValueError:
        ctx.err(f"chmod: bad mode '{spec}'\n")
        return 1


def cmd_touch(ctx: Ctx) -> int:
    def touch(op: str) -> None:
        dev = ctx.path(op)
        ctx.device.fs.check_writable(dev)
        ctx.device.fs.host(dev).touch()

    return for_each(ctx, [a for a in ctx.argv[1:] if not a.startswith("-")], touch, name="touch", quote="'")


COMMANDS = {"mkdir": cmd_mkdir, "rm": cmd_rm, "mv": cmd_mv, "cp": cmd_cp, "chmod": cmd_chmod, "touch": cmd_touch}
