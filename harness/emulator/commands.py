"""Toybox-like file and system commands of the emulated shell.

Each command is ``func(ctx) -> exit status``; messages follow toybox's wording
("ls: /x: No such file or directory") so code written against a phone sees the same.
Android-specific commands (pm, am, dumpsys, logcat, getprop...) are in android_cmds.py.
"""
from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import shutil
import stat as stat_mod
import time

from harness.emulator.shell import SH, Ctx, ShellExit

# Longest sleep the emulated shell honours, so a test typo cannot wedge a device.
MAX_SLEEP_S = 60.0


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


def _errmsg(ctx: Ctx, path: str, e: OSError | int) -> None:
    code = e if isinstance(e, int) else (e.errno or errno.EIO)
    ctx.err(f"{ctx.argv[0]}: {path}: {os.strerror(code)}\n")


def _mode_string(mode: int) -> str:
    return stat_mod.filemode(mode)


def _owner(dev_path: str) -> tuple[str, str]:
    return ("root", "sdcard_rw") if dev_path.startswith("/sdcard") else ("shell", "shell")


def _ls_line(ctx: Ctx, dev_path: str, name: str) -> str:
    host = ctx.device.fs.host(dev_path)
    if ctx.device.fs.is_virtual(dev_path):
        mode, nlink, size, mtime = stat_mod.S_IFREG | 0o444, 1, 0, time.time()
    else:
        st = os.lstat(host)
        mode, nlink, size, mtime = st.st_mode, st.st_nlink, st.st_size, st.st_mtime
    user, group = _owner(dev_path)
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime))
    return f"{_mode_string(mode)} {nlink:>2} {user:<6} {group:<6} {size:>8} {stamp} {name}"


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
        elif not os.path.lexists(host):
            ctx.err(f"ls: {op}: No such file or directory\n")
            status = 1
        elif os.path.isdir(host) and "d" not in flags:
            dirs.append((op, dev))
        else:
            files.append((op, dev))
    for op, dev in files:
        ctx.out((_ls_line(ctx, dev, op) if "l" in flags else op) + "\n")
    for k, (op, dev) in enumerate(dirs):
        if len(operands) > 1:
            ctx.out(("\n" if k or files else "") + f"{op}:\n")
        try:
            names = sorted(os.listdir(fs.host(dev)))
        except OSError as e:
            _errmsg(ctx, op, e)
            status = 1
            continue
        if dev == "/proc":
            names = sorted(set(names) | {"meminfo"})
        if "a" in flags:
            names = [".", ".."] + names
        elif "A" not in flags:
            names = [n for n in names if not n.startswith(".")]
        if "l" in flags:
            ctx.out(f"total {len(names) * 4}\n")
        for nm in names:
            line = _ls_line(ctx, posixpath.normpath(posixpath.join(dev, nm)), nm) if "l" in flags else nm
            ctx.out(line + "\n")
    return status


def cmd_cat(ctx: Ctx) -> int:
    operands = ctx.argv[1:]
    if not operands:
        ctx.out(ctx.stdin.read())
        return 0
    status = 0
    for op in operands:
        if op == "-":
            ctx.out(ctx.stdin.read())
            continue
        dev = ctx.path(op)
        if ctx.device.fs.is_virtual(dev):
            ctx.out(ctx.device.meminfo())
            continue
        try:
            with open(ctx.device.fs.host(dev), "rb") as f:
                while chunk := f.read(1 << 20):
                    ctx.out(chunk)
        except OSError as e:
            _errmsg(ctx, op, e)
            status = 1
    return status


def cmd_echo(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    newline, escapes = True, False
    while args and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
        flag = args.pop(0)
        newline = newline and "n" not in flag
        escapes = "e" in flag or (escapes and flag != "-E")
    text = " ".join(args)
    if escapes:
        text = text.encode("utf-8", "surrogateescape").decode("unicode_escape").encode("latin-1").decode(
            "utf-8", "surrogateescape")
    ctx.out(text + ("\n" if newline else ""))
    return 0


def cmd_mkdir(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "pv", with_value="m")
    if parsed is None:
        return 1
    flags, values, operands = parsed
    if not operands:
        ctx.err("mkdir: Needs 1 argument\n")
        return 1
    status = 0
    for op in operands:
        dev = ctx.path(op)
        host = ctx.device.fs.host(dev)
        try:
            ctx.device.fs.check_writable(dev) if not host.exists() else None
            if "p" in flags:
                host.mkdir(parents=True, exist_ok=True)
            else:
                host.mkdir()
            if "m" in values:
                os.chmod(host, int(values["m"], 8))
        except FileExistsError:
            ctx.err(f"mkdir: '{op}': File exists\n")
            status = 1
        except OSError as e:
            ctx.err(f"mkdir: '{op}': {os.strerror(e.errno or errno.EIO)}\n")
            status = 1
    return status


def cmd_rm(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "frRiv")
    if parsed is None:
        return 1
    flags, _, operands = parsed
    force, recursive = "f" in flags, bool({"r", "R"} & flags)
    if not operands and not force:
        ctx.err("rm: Needs 1 argument\n")
        return 1
    status = 0
    for op in operands:
        dev = ctx.path(op)
        host = ctx.device.fs.host(dev)
        if not os.path.lexists(host):
            if not force:
                ctx.err(f"rm: {op}: No such file or directory\n")
                status = 1
            continue
        if not ctx.device.fs.writable(dev) or dev in ("/data/local/tmp", "/sdcard"):
            ctx.err(f"rm: {op}: Permission denied\n")
            status = 1
            continue
        try:
            if os.path.isdir(host) and not os.path.islink(host):
                if not recursive:
                    ctx.err(f"rm: {op}: Is a directory\n")
                    status = 1
                    continue
                shutil.rmtree(host)
            else:
                os.unlink(host)
        except OSError as e:
            _errmsg(ctx, op, e)
            status = 1
    return status


def cmd_mv(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "fnvi")
    if parsed is None:
        return 1
    _, _, operands = parsed
    if len(operands) < 2:
        ctx.err("mv: Needs 2 arguments\n")
        return 1
    fs = ctx.device.fs
    dst = ctx.path(operands[-1])
    status = 0
    for op in operands[:-1]:
        src = ctx.path(op)
        target = posixpath.join(dst, posixpath.basename(src)) if fs.host(dst).is_dir() else dst
        if not os.path.lexists(fs.host(src)):
            ctx.err(f"mv: {op}: No such file or directory\n")
            status = 1
            continue
        if not (fs.writable(src) and fs.writable(target)):
            ctx.err(f"mv: {op}: Permission denied\n")
            status = 1
            continue
        try:
            os.replace(fs.host(src), fs.host(target))
        except OSError as e:
            _errmsg(ctx, op, e)
            status = 1
    return status


def cmd_cp(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "rRfpa")
    if parsed is None:
        return 1
    flags, _, operands = parsed
    if len(operands) < 2:
        ctx.err("cp: Needs 2 arguments\n")
        return 1
    fs = ctx.device.fs
    dst = ctx.path(operands[-1])
    status = 0
    for op in operands[:-1]:
        src = ctx.path(op)
        target = posixpath.join(dst, posixpath.basename(src)) if fs.host(dst).is_dir() else dst
        try:
            fs.check_writable(target)
            if fs.host(src).is_dir():
                if not {"r", "R", "a"} & flags:
                    ctx.err(f"cp: {op}: Is a directory\n")
                    status = 1
                    continue
                shutil.copytree(fs.host(src), fs.host(target), dirs_exist_ok=True)
            else:
                shutil.copyfile(fs.host(src), fs.host(target))
        except OSError as e:
            _errmsg(ctx, op, e)
            status = 1
    return status


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
    parsed = split_flags(ctx, "Rfv")
    if parsed is None:
        return 1
    flags, _, operands = parsed
    if len(operands) < 2:
        ctx.err("chmod: Needs 2 arguments\n")
        return 1
    spec, paths = operands[0], operands[1:]
    status = 0
    for op in paths:
        dev = ctx.path(op)
        host = ctx.device.fs.host(dev)
        try:
            if not ctx.device.fs.writable(dev):
                raise OSError(errno.EPERM, "Operation not permitted")
            targets = [host]
            if "R" in flags and host.is_dir():
                targets += list(host.rglob("*"))
            for t in targets:
                os.chmod(t, _apply_mode(os.lstat(t).st_mode, spec))
        except ValueError:
            ctx.err(f"chmod: bad mode '{spec}'\n")
            return 1
        except OSError as e:
            ctx.err(f"chmod: {op}: {os.strerror(e.errno or errno.EIO)}\n")
            status = 1
    return status


def cmd_touch(ctx: Ctx) -> int:
    status = 0
    for op in [a for a in ctx.argv[1:] if not a.startswith("-")]:
        dev = ctx.path(op)
        try:
            ctx.device.fs.check_writable(dev)
            ctx.device.fs.host(dev).touch()
        except OSError as e:
            ctx.err(f"touch: '{op}': {os.strerror(e.errno or errno.EIO)}\n")
            status = 1
    return status


def _hash_cmd(algo: str):
    def run(ctx: Ctx) -> int:
        operands = [a for a in ctx.argv[1:] if a != "-b"]
        status = 0
        if not operands:
            ctx.out(hashlib.new(algo, ctx.stdin.read()).hexdigest() + "  -\n")
            return 0
        for op in operands:
            dev = ctx.path(op)
            h = hashlib.new(algo)
            try:
                if ctx.device.fs.is_virtual(dev):
                    h.update(ctx.device.meminfo().encode())
                else:
                    with open(ctx.device.fs.host(dev), "rb") as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
            except OSError as e:
                _errmsg(ctx, op, e)
                status = 1
                continue
            ctx.out(f"{h.hexdigest()}  {op}\n")
        return status
    return run


def cmd_stat(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "Lt", with_value="c")
    if parsed is None:
        return 1
    _, values, operands = parsed
    fmt = values.get("c")
    status = 0
    for op in operands:
        dev = ctx.path(op)
        try:
            st = os.stat(ctx.device.fs.host(dev))
        except OSError as e:
            ctx.err(f"stat: '{op}': {os.strerror(e.errno or errno.EIO)}\n")
            status = 1
            continue
        if fmt is None:
            ctx.out(f"  File: {op}\n  Size: {st.st_size}\t Blocks: {st.st_blocks}\n"
                    f"Access: ({stat_mod.S_IMODE(st.st_mode):04o}/{_mode_string(st.st_mode)})\n")
            continue
        kind = "directory" if stat_mod.S_ISDIR(st.st_mode) else "regular file"
        table = {"s": str(st.st_size), "Y": str(int(st.st_mtime)), "a": f"{stat_mod.S_IMODE(st.st_mode):o}",
                 "A": _mode_string(st.st_mode), "n": op, "F": kind, "f": f"{st.st_mode:x}",
                 "U": _owner(dev)[0], "G": _owner(dev)[1], "%": "%"}
        ctx.out(re.sub(r"%(.)", lambda m: table.get(m.group(1), m.group(0)), fmt) + "\n")
    return status


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
    ctx.out("Filesystem       1K-blocks     Used Available Use% Mounted on\n")
    for mnt in dict.fromkeys(chosen):
        ctx.out(f"{mounts[mnt]:<16} {total_kb:>9} {used_kb:>8} {avail_kb:>9} {pct:>4} {mnt}\n")
    return 0


def cmd_true(ctx: Ctx) -> int:
    return 0


def cmd_false(ctx: Ctx) -> int:
    return 1


def cmd_exit(ctx: Ctx) -> int:
    try:
        code = int(ctx.argv[1]) if len(ctx.argv) > 1 else 0
    except ValueError:
        ctx.err(f"{SH}: exit: {ctx.argv[1]}: bad number\n")
        code = 2
    raise ShellExit(code)


def cmd_export(ctx: Ctx) -> int:
    for arg in ctx.argv[1:]:
        name, eq, value = arg.partition("=")
        if not name or not (name[0].isalpha() or name[0] == "_") or not all(c.isalnum() or c == "_" for c in name):
            ctx.err(f"{SH}: export: {arg}: bad variable name\n")
            return 1
        if eq:
            ctx.env[name] = value
        else:
            ctx.env.setdefault(name, "")
    return 0


def cmd_sleep(ctx: Ctx) -> int:
    try:
        seconds = float(ctx.argv[1].rstrip("s"))
    except (IndexError, ValueError):
        ctx.err("sleep: Needs 1 argument\n")
        return 1
    time.sleep(min(max(seconds, 0.0), MAX_SLEEP_S))
    return 0


def cmd_id(ctx: Ctx) -> int:
    ctx.out("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),"
            "1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),3003(inet) context=u:r:shell:s0\n")
    return 0


def cmd_whoami(ctx: Ctx) -> int:
    ctx.out("shell\n")
    return 0


def cmd_pwd(ctx: Ctx) -> int:
    ctx.out(ctx.cwd + "\n")
    return 0


def cmd_uname(ctx: Ctx) -> int:
    machine = "x86_64" if ctx.device.props.get("ro.product.cpu.abi") == "x86_64" else "aarch64"
    ctx.out((f"Linux localhost 5.15.137-android14 #1 SMP PREEMPT {machine}" if "-a" in ctx.argv
             else machine if "-m" in ctx.argv else "Linux") + "\n")
    return 0


def cmd_test(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    if ctx.argv[0] == "[":
        if not args or args[-1] != "]":
            ctx.err("[: missing ]\n")
            return 2
        args = args[:-1]
    negate = bool(args) and args[0] == "!"
    if negate:
        args = args[1:]
    fs = ctx.device.fs
    if len(args) == 2 and args[0] in ("-e", "-f", "-d", "-s", "-r", "-w"):
        host = fs.host(ctx.path(args[1]))
        result = {"-e": host.exists(), "-f": host.is_file(), "-d": host.is_dir(),
                  "-s": host.is_file() and host.stat().st_size > 0, "-r": host.exists(),
                  "-w": host.exists() and fs.writable(ctx.path(args[1]))}[args[0]]
    elif len(args) == 2 and args[0] in ("-n", "-z"):
        result = bool(args[1]) == (args[0] == "-n")
    elif len(args) == 3 and args[1] in ("=", "==", "!="):
        result = (args[0] == args[2]) == (args[1] != "!=")
    elif len(args) == 3 and args[1] in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
        try:
            a, b = int(args[0]), int(args[2])
        except ValueError:
            ctx.err(f"{ctx.argv[0]}: integer expression expected\n")
            return 2
        result = {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-le": a <= b, "-gt": a > b, "-ge": a >= b}[args[1]]
    elif len(args) == 1:
        result = bool(args[0])
    elif not args:
        result = False
    else:
        ctx.err(f"{ctx.argv[0]}: unsupported expression\n")
        return 2
    return 0 if result != negate else 1


def cmd_grep(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "qvicEFn", with_value="e")
    if parsed is None:
        return 1
    flags, values, operands = parsed
    if "e" in values:
        pattern = values["e"]
    elif operands:
        pattern = operands.pop(0)
    else:
        ctx.err("grep: no pattern\n")
        return 2
    regex = re.compile(re.escape(pattern) if "F" in flags else pattern, re.I if "i" in flags else 0)
    sources = []
    if operands:
        for op in operands:
            try:
                sources.append(ctx.device.fs.host(ctx.path(op)).read_bytes())
            except OSError as e:
                _errmsg(ctx, op, e)
                return 2
    else:
        sources.append(ctx.stdin.read())
    count = 0
    for data in sources:
        for n, line in enumerate(data.decode("utf-8", "surrogateescape").splitlines(), 1):
            if bool(regex.search(line)) != ("v" in flags):
                count += 1
                if not {"q", "c"} & flags:
                    ctx.out((f"{n}:" if "n" in flags else "") + line + "\n")
    if "c" in flags:
        ctx.out(f"{count}\n")
    return 0 if count else 1


COMMANDS = {
    "ls": cmd_ls, "cat": cmd_cat, "echo": cmd_echo, "mkdir": cmd_mkdir, "rm": cmd_rm, "mv": cmd_mv,
    "cp": cmd_cp, "chmod": cmd_chmod, "touch": cmd_touch, "sha256sum": _hash_cmd("sha256"),
    "md5sum": _hash_cmd("md5"), "stat": cmd_stat, "df": cmd_df, "true": cmd_true, "false": cmd_false,
    "exit": cmd_exit, "export": cmd_export, "sleep": cmd_sleep, "id": cmd_id, "whoami": cmd_whoami, "pwd": cmd_pwd,
    "uname": cmd_uname, "test": cmd_test, "[": cmd_test, "grep": cmd_grep,
}

from harness.emulator import android_cmds  # noqa: E402  (registers pm, am, dumpsys, ... into COMMANDS)

COMMANDS.update(android_cmds.COMMANDS)
