"""toybox's commands that look at files: ls, cat, stat, sha256sum, md5sum, df.

Messages follow toybox's wording ("ls: /x: No such file or directory") so code written
against a phone sees the same.
"""
from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import stat as stat_mod
import time

from harness.emulator.cmds.common import errmsg, for_each, parse_args, split_flags
from harness.emulator.sh.streams import Ctx


def _mode_string(mode: int) -> str:
    return stat_mod.filemode(mode)


_IDS = {"root": 0, "system": 1000, "shell": 2000, "sdcard_rw": 1015, "ext_data_rw": 1078}


def _owner(dev_path: str) -> tuple[str, str]:
    if dev_path.startswith("/sdcard"):
        return "root", "sdcard_rw"
    if dev_path == "/data/local/tmp" or dev_path.startswith("/data/local/tmp/"):
        return "shell", "shell"
    if dev_path.startswith("/data") and dev_path not in ("/data/local",):
        return "system", "system"
    return "root", "root"


def _lstat(ctx: Ctx, dev_path: str):
    if ctx.device.fs.is_virtual(dev_path):
        return os.stat_result((stat_mod.S_IFREG | 0o444, 4026531840, 0, 1, 0, 0, 0, 0, int(time.time()),
                               int(time.time())))
    return os.lstat(ctx.device.fs.host(dev_path))


def _ls_rows(ctx: Ctx, entries: list[tuple[str, str]]) -> list[str]:
    """toybox ls -l: columns as wide as their widest entry."""
    rows = []
    for dev_path, name in entries:
        st = _lstat(ctx, dev_path)
        user, group = _owner(dev_path)
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
        rows.append((_mode_string(st.st_mode), str(st.st_nlink), user, group, str(st.st_size), stamp, name))
    if not rows:
        return []
    w = [max(len(r[k]) for r in rows) for k in range(5)]
    return [f"{r[0]} {r[1]:>{w[1]}} {r[2]:<{w[2]}} {r[3]:<{w[3]}} {r[4]:>{w[4]}} {r[5]} {r[6]}" for r in rows]


def cmd_ls(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "la1dhAR")
    if parsed is None:
        return 1
    flags, _, operands = parsed
    operands = operands or ["."]
    fs = ctx.device.fs
    status = 0
    files, dirs = [], []
    for op in operands:
        dev = ctx.path(op)
        host = fs.host(dev)
        if fs.is_virtual(dev):
            files.append((op, dev))
        elif not os.path.lexists(host) or not fs.traversable(dev, "shell"):
            ctx.err(f"ls: {op}: {'No such file or directory' if fs.traversable(dev, 'shell') else 'Permission denied'}\n")
            status = 1
        elif os.path.isdir(host) and "d" not in flags:
            dirs.append((op, dev))
        else:
            files.append((op, dev))
    if "l" in flags:
        for line in _ls_rows(ctx, [(dev, op) for op, dev in files]):
            ctx.out(line + "\n")
    else:
        for op, _dev in files:
            ctx.out(op + "\n")
    for k, (op, dev) in enumerate(dirs):
        if len(operands) > 1:
            ctx.out(("\n" if k or files else "") + f"{op}:\n")
        if not fs.listable(dev, "shell"):
            ctx.err(f"ls: {op}: Permission denied\n")
            status = 1
            continue
        try:
            names = sorted(os.listdir(fs.host(dev)))
        except OSError as e:
            errmsg(ctx, op, e)
            status = 1
            continue
        if dev == "/proc":
            names = sorted(set(names) | set(ctx.device.proc_entries()))
        if "a" in flags:
            names = [".", ".."] + names
        elif "A" not in flags:
            names = [n for n in names if not n.startswith(".")]
        if "l" in flags:
            paths = [(posixpath.normpath(posixpath.join(dev, nm)), nm) for nm in names]
            blocks = sum(getattr(_lstat(ctx, p), "st_blocks", 0) for p, _ in paths) // 2
            ctx.out(f"total {blocks}\n")
            for line in _ls_rows(ctx, paths):
                ctx.out(line + "\n")
        else:
            for nm in names:
                ctx.out(nm + "\n")
    return status


def cmd_cat(ctx: Ctx) -> int:
    operands = [a for a in ctx.argv[1:] if a not in ("-u", "-v")]

    def cat(op: str) -> None:
        if op == "-":
            while chunk := ctx.stdin.read_chunk():
                ctx.out(chunk)
        else:
            ctx.out(ctx.device.fs.read_bytes(ctx.path(op), who="shell"))

    return for_each(ctx, operands or ["-"], cat)


def _hash_cmd(algo: str):
    """sha256sum / md5sum: ``<hex>  <name>`` per file, ``-`` for stdin."""
    def run(ctx: Ctx) -> int:
        operands = [a for a in ctx.argv[1:] if a != "-b"]
        if not operands:
            ctx.out(hashlib.new(algo, ctx.stdin.read()).hexdigest() + "  -\n")
            return 0
        return for_each(ctx, operands, lambda op: ctx.out(f"{_file_hash(ctx, algo, op)}  {op}\n"))
    return run


def _file_hash(ctx: Ctx, algo: str, op: str) -> str:
    """The hex digest of file ``op`` as the shell user may read it; raises OSError."""
    dev = ctx.path(op)
    fs = ctx.device.fs
    h = hashlib.new(algo)
    if fs.is_virtual(dev):
        h.update(fs.read_bytes(dev))
    else:
        if not fs.traversable(dev, "shell") or (os.path.exists(fs.host(dev))
                                                 and not fs.allowed(dev, "shell", "r")):
            raise OSError(errno.EACCES, "Permission denied")
        with open(fs.host(dev), "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + f".{int((t % 1) * 1e9):09d} " \
        + time.strftime("%z", time.localtime(t))


def cmd_stat(ctx: Ctx) -> int:
    """toybox stat: the default seven-line form, ``-c FORMAT`` and ``-L``."""
    parsed = parse_args(ctx, "stat", "Ltf", with_value="c", need=1)
    if parsed is None:
        return 1
    _, values, operands = parsed
    fmt = values.get("c", "  File: %N\n  Size: %s\t Blocks: %b\t IO Blocks: %B\t%F\nDevice: %Dh/%dd\t Inode: %i\t "
                           "Links: %h\nAccess: (%a/%A)\tUid: (%5u/%8U)\tGid: (%5g/%8G)\nAccess: %x\nModify: %y\n"
                           "Change: %z")
    return for_each(ctx, operands, lambda op: ctx.out(_stat_text(ctx, op, fmt) + "\n"), name="stat", quote="'")


def _stat_text(ctx: Ctx, op: str, fmt: str) -> str:
    """``fmt`` with its %-sequences filled in for file ``op``; raises OSError."""
    dev = ctx.path(op)
    if not ctx.device.fs.traversable(dev, "shell"):
        raise OSError(errno.EACCES, "Permission denied")
    st = _lstat(ctx, dev)
    user, group = _owner(dev)
    kind = ("directory" if stat_mod.S_ISDIR(st.st_mode) else "symbolic link" if stat_mod.S_ISLNK(st.st_mode)
            else "regular empty file" if st.st_size == 0 else "regular file")
    dev_no = getattr(st, "st_dev", 0) & 0xFFFF
    table = {"s": str(st.st_size), "Y": str(int(st.st_mtime)), "y": _stamp(st.st_mtime),
             "X": str(int(st.st_atime)), "x": _stamp(st.st_atime), "Z": str(int(st.st_ctime)),
             "z": _stamp(st.st_ctime), "a": f"{stat_mod.S_IMODE(st.st_mode):o}", "A": _mode_string(st.st_mode),
             "n": op, "N": op, "F": kind, "f": f"{st.st_mode:x}", "U": user, "G": group,
             "u": str(_IDS.get(user, 0)), "g": str(_IDS.get(group, 0)), "i": str(getattr(st, "st_ino", 0)),
             "h": str(st.st_nlink), "b": str(getattr(st, "st_blocks", 0)), "B": "4096", "d": str(dev_no),
             "D": f"{dev_no:x}", "o": "4096", "%": "%"}

    def sub(m):
        width, key = m.group(1), m.group(2)
        val = table.get(key)
        if val is None:
            return m.group(0)
        return f"{val:>{width}}" if width else val

    return re.sub(r"%(\d*)(.)", sub, fmt)


def cmd_df(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "hkPa")
    if parsed is None:
        return 1
    flags, _, operands = parsed
    dev = ctx.device
    total_kb = dev.quota_total_bytes() // 1024
    used_kb = dev.fs.used_bytes() // 1024
    avail_kb = max(0, total_kb - used_kb)
    pct = f"{(100 * used_kb + total_kb - 1) // total_kb if total_kb else 100}%"
    mounts = {"/data": "/dev/block/dm-46", "/storage/emulated": "/dev/fuse"}
    if operands:
        chosen = []
        for op in operands:
            p = ctx.path(op)
            if not dev.fs.host(p).exists():
                ctx.err(f"df: {op}: No such file or directory\n")
                return 1
            chosen.append("/storage/emulated" if p.startswith("/sdcard") else "/data")
    else:
        chosen = list(mounts)
    if "h" in flags:        # toybox df -h: Size Used Avail, human readable (1024-based)
        def human(kb: int) -> str:
            value, unit = float(kb), "K"
            for unit in "KMGT":
                if value < 1024 or unit == "T":
                    break
                value /= 1024
            return f"{value:.1f}{unit}" if value < 10 and unit != "K" else f"{value:.0f}{unit}"
        ctx.out("Filesystem        Size  Used Avail Use% Mounted on\n")
        for mnt in dict.fromkeys(chosen):
            ctx.out(f"{mounts[mnt]:<16} {human(total_kb):>5} {human(used_kb):>5} {human(avail_kb):>5} {pct:>4} {mnt}\n")
        return 0
    ctx.out("Filesystem       1K-blocks     Used Available Use% Mounted on\n")
    for mnt in dict.fromkeys(chosen):
        ctx.out(f"{mounts[mnt]:<16} {total_kb:>9} {used_kb:>8} {avail_kb:>9} {pct:>4} {mnt}\n")
    return 0


COMMANDS = {"ls": cmd_ls, "cat": cmd_cat, "sha256sum": _hash_cmd("sha256"), "md5sum": _hash_cmd("md5"),
            "stat": cmd_stat, "df": cmd_df}
