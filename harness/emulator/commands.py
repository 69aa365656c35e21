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

from harness.emulator.sh.streams import SH, Ctx


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
            _errmsg(ctx, op, e)
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
    if not operands:
        operands = ["-"]
    status = 0
    for op in operands:
        if op == "-":
            while chunk := ctx.stdin.read_chunk():
                ctx.out(chunk)
            continue
        try:
            ctx.out(ctx.device.fs.read_bytes(ctx.path(op), who="shell"))
        except OSError as e:
            _errmsg(ctx, op, e)
            status = 1
    return status


def _escapes(text: str) -> tuple[str, bool]:
    """mksh echo/print escapes (\\a \\b \\c \\e \\f \\n \\r \\t \\v \\\\ \\0nnn); \\c stops output."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 >= len(text):
            out.append(c)
            i += 1
            continue
        n = text[i + 1]
        if n == "c":
            return "".join(out), True
        if n == "0":
            m = re.match(r"[0-7]{0,3}", text[i + 2:])
            out.append(chr(int(m.group(0) or "0", 8)))
            i += 2 + len(m.group(0))
            continue
        table = {"a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                 "\\": "\\"}
        out.append(table.get(n, "\\" + n))
        i += 2
    return "".join(out), False


def cmd_echo(ctx: Ctx) -> int:
    """mksh's echo: backslash escapes are interpreted by default on Android (neither
    MKSH_BINSHPOSIX nor MKSH_BINSHREDUCED is defined there); -n, -e, -E."""
    args = ctx.argv[1:]
    newline, escapes = True, True
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flag = args.pop(0)
        for ch in flag[1:]:
            newline = newline and ch != "n"
            escapes = ch == "e" if ch in "eE" else escapes
    text = " ".join(args)
    stop = False
    if escapes:
        text, stop = _escapes(text)
    ctx.out(text + ("\n" if newline and not stop else ""))
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
            if recursive and dev in ("/data/local/tmp", "/sdcard") and os.path.isdir(host):
                for child in os.listdir(host):    # toybox empties it, then cannot unlink the root
                    path = os.path.join(host, child)
                    shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
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
            fs = ctx.device.fs
            h = hashlib.new(algo)
            try:
                if fs.is_virtual(dev):
                    h.update(fs.read_bytes(dev))
                else:
                    if not fs.traversable(dev, "shell") or (os.path.exists(fs.host(dev))
                                                             and not fs.allowed(dev, "shell", "r")):
                        raise OSError(errno.EACCES, "Permission denied")
                    with open(fs.host(dev), "rb") as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
            except OSError as e:
                _errmsg(ctx, op, e)
                status = 1
                continue
            ctx.out(f"{h.hexdigest()}  {op}\n")
        return status
    return run


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + f".{int((t % 1) * 1e9):09d} " \
        + time.strftime("%z", time.localtime(t))


def cmd_stat(ctx: Ctx) -> int:
    """toybox stat: the default seven-line form, ``-c FORMAT`` and ``-L``."""
    parsed = split_flags(ctx, "Ltf", with_value="c")
    if parsed is None:
        return 1
    _, values, operands = parsed
    fmt = values.get("c", "  File: %N\n  Size: %s\t Blocks: %b\t IO Blocks: %B\t%F\nDevice: %Dh/%dd\t Inode: %i\t "
                           "Links: %h\nAccess: (%a/%A)\tUid: (%5u/%8U)\tGid: (%5g/%8G)\nAccess: %x\nModify: %y\n"
                           "Change: %z")
    if not operands:
        ctx.err("stat: Needs 1 argument\n")
        return 1
    status = 0
    for op in operands:
        dev = ctx.path(op)
        try:
            if not ctx.device.fs.traversable(dev, "shell"):
                raise OSError(errno.EACCES, "Permission denied")
            st = _lstat(ctx, dev)
        except OSError as e:
            ctx.err(f"stat: '{op}': {os.strerror(e.errno or errno.EIO)}\n")
            status = 1
            continue
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

        ctx.out(re.sub(r"%(\d*)(.)", sub, fmt) + "\n")
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


def cmd_true(ctx: Ctx) -> int:
    return 0


def cmd_false(ctx: Ctx) -> int:
    return 1


def cmd_sleep(ctx: Ctx) -> int:
    """toybox sleep: DURATION[smhd], fractions allowed; ends early if the host hangs up."""
    if len(ctx.argv) < 2:
        ctx.err("sleep: Needs 1 argument\n")
        return 1
    total = 0.0
    for arg in ctx.argv[1:]:
        m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", arg)
        if not m:
            ctx.err(f"sleep: bad duration '{arg}'\n")
            return 1
        total += float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    ctx.wait(total)
    return 0


def cmd_id(ctx: Ctx) -> int:
    # adbd's drop_privileges() groups (packages/modules/adb/daemon/main.cpp).
    ctx.out("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),"
            "1028(sdcard_r),1078(ext_data_rw),1079(ext_obb_rw),3001(net_bt_admin),3002(net_bt),3003(inet),"
            "3006(net_bw_stats),3009(readproc),3011(uhid),3012(readtracefs) context=u:r:shell:s0\n")
    return 0


def cmd_whoami(ctx: Ctx) -> int:
    ctx.out("shell\n")
    return 0


def cmd_uname(ctx: Ctx) -> int:
    machine = "x86_64" if ctx.device.props.get("ro.product.cpu.abi") == "x86_64" else "aarch64"
    kernel = ctx.device.profile.kernel
    fields = {"s": "Linux", "n": "localhost", "r": kernel, "v": "#1 SMP PREEMPT Mon Jan 1 00:00:00 UTC 2024",
              "m": machine, "o": "Toybox"}
    flags = "".join(a[1:] for a in ctx.argv[1:] if a.startswith("-")) or "s"
    if "a" in flags:
        flags = "snrvm"
    ctx.out(" ".join(fields[k] for k in "snrvmo" if k in flags) + "\n")
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
    if len(args) == 2 and args[0] in ("-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h"):
        dev = ctx.path(args[1])
        host = fs.host(dev)
        seen = fs.traversable(dev, "shell") and (host.exists() or fs.is_virtual(dev))
        result = seen and {"-e": True, "-f": host.is_file() or fs.is_virtual(dev), "-d": host.is_dir(),
                           "-s": host.is_file() and host.stat().st_size > 0, "-r": fs.allowed(dev, "shell", "r"),
                           "-w": fs.writable(dev) and fs.allowed(dev, "shell", "w"),
                           "-x": fs.allowed(dev, "shell", "x"), "-L": host.is_symlink(),
                           "-h": host.is_symlink()}[args[0]]
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
    """toybox grep, line by line as input arrives (so ``logcat | grep X`` follows)."""
    parsed = split_flags(ctx, "qvicEFnlHhwmo", with_value="em")
    if parsed is None:
        return 2
    flags, values, operands = parsed
    if "e" in values:
        pattern = values["e"]
    elif operands:
        pattern = operands.pop(0)
    else:
        ctx.err("grep: no pattern\n")
        return 2
    try:
        expr = re.escape(pattern) if "F" in flags else _bre(pattern) if "E" not in flags else pattern
        if "w" in flags:
            expr = r"\b(?:" + expr + r")\b"
        regex = re.compile(expr, re.I if "i" in flags else 0)
    except re.error as e:
        ctx.err(f"grep: bad regex '{pattern}': {e}\n")
        return 2
    limit = int(values["m"]) if "m" in values else None
    count, status = 0, 1
    sources = [(op, None) for op in operands] or [("-", ctx.stdin)]
    show_name = len(sources) > 1 and "h" not in flags or "H" in flags
    for name, stream in sources:
        if stream is None:
            try:
                data = ctx.device.fs.read_bytes(ctx.path(name), who="shell")
            except OSError as e:
                if "s" not in flags:
                    _errmsg(ctx, name, e)
                status = 2
                continue
            lines = data.splitlines(keepends=True)
        else:
            lines = stream.lines()
        n = 0
        for raw in lines:
            n += 1
            line = raw.decode("utf-8", "surrogateescape").rstrip("\n")
            if bool(regex.search(line)) == ("v" in flags):
                continue
            count += 1
            status = 0 if status != 2 else 2
            if "q" in flags:
                return 0
            if "l" in flags:
                ctx.out(name + "\n")
                break
            if "c" not in flags:
                prefix = (f"{name}:" if show_name else "") + (f"{n}:" if "n" in flags else "")
                ctx.out(prefix + (regex.search(line).group(0) if "o" in flags else line) + "\n")
            if limit is not None and count >= limit:
                break
    if "c" in flags:
        ctx.out(f"{count}\n")
    return 0 if count else status


def _bre(pattern: str) -> str:
    """A POSIX basic regular expression as Python's: \\( \\) \\{ \\} \\| \\+ \\? are the operators."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            out.append(n if n in "(){}|+?" else "\\" + n)
            i += 2
            continue
        out.append("\\" + c if c in "(){}|+?" else c)
        i += 1
    return "".join(out)


def _count_shorthand(ctx: Ctx) -> None:
    """``head -3`` / ``tail -1``: the obsolete count form toybox still takes."""
    out = []
    for a in ctx.argv:
        out += ["-n", a[1:]] if re.fullmatch(r"-\d+", a) else ["-n", a] if re.fullmatch(r"\+\d+", a) else [a]
    ctx.argv = out


def cmd_head(ctx: Ctx) -> int:
    _count_shorthand(ctx)
    parsed = split_flags(ctx, "qv", with_value="nc")
    if parsed is None:
        return 1
    _, values, operands = parsed
    n = int(values.get("n", "10"))
    status = 0
    for name in operands or ["-"]:
        lines = ctx.stdin.lines() if name == "-" else _file_lines(ctx, name)
        if lines is None:
            status = 1
            continue
        for k, line in enumerate(lines):
            if k >= n:
                break
            ctx.out(line)
    ctx.stdin.close()          # as head exits: a writer into this pipe gets SIGPIPE
    return status


def _file_lines(ctx: Ctx, name: str):
    try:
        return ctx.device.fs.read_bytes(ctx.path(name), who="shell").splitlines(keepends=True)
    except OSError as e:
        _errmsg(ctx, name, e)
        return None


def cmd_tail(ctx: Ctx) -> int:
    _count_shorthand(ctx)
    parsed = split_flags(ctx, "fqv", with_value="nc")
    if parsed is None:
        return 1
    _, values, operands = parsed
    spec = values.get("n", "10")
    status = 0
    for name in operands or ["-"]:
        lines = list(ctx.stdin.lines()) if name == "-" else _file_lines(ctx, name)
        if lines is None:
            status = 1
            continue
        if spec.startswith("+"):
            chosen = lines[int(spec[1:]) - 1:]
        else:
            k = int(spec.lstrip("-"))
            chosen = lines[-k:] if k else []
        for line in chosen:
            ctx.out(line)
    return status


def cmd_wc(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "lwcm")
    if parsed is None:
        return 1
    flags, _, operands = parsed
    flags = flags or {"l", "w", "c"}
    status = 0
    for name in operands or ["-"]:
        if name == "-":
            data = ctx.stdin.read()
        else:
            try:
                data = ctx.device.fs.read_bytes(ctx.path(name), who="shell")
            except OSError as e:
                _errmsg(ctx, name, e)
                status = 1
                continue
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data), "m": len(data.decode("utf-8", "replace"))}
        cols = [str(counts[k]) for k in "lwcm" if k in flags]
        if len(cols) > 1:
            cols = [f"{c:>7}" for c in cols]
        ctx.out(" ".join(cols) + ("" if name == "-" else " " + name) + "\n")
    return status


def cmd_printf(ctx: Ctx) -> int:
    if len(ctx.argv) < 2:
        ctx.err("printf: Needs 1 argument\n")
        return 1
    fmt, args = ctx.argv[1], list(ctx.argv[2:])
    out = []
    while True:
        text, i = [], 0
        while i < len(fmt):
            c = fmt[i]
            if c == "%" and i + 1 < len(fmt):
                m = re.match(r"%([-+ 0#]*\d*(?:\.\d+)?)([diouxXsceEfgGb%])", fmt[i:])
                if not m:
                    text.append(c)
                    i += 1
                    continue
                spec, conv = m.groups()
                i += m.end()
                if conv == "%":
                    text.append("%")
                    continue
                arg = args.pop(0) if args else ""
                if conv in "diouxXc":
                    try:
                        val = int(arg, 0) if arg else 0
                    except ValueError:
                        ctx.err(f"printf: invalid number '{arg}'\n")
                        val = 0
                    text.append(("%" + spec + conv) % (val if conv != "c" else chr(val)) if conv != "c"
                                else (arg[:1] if arg else ""))
                elif conv in "eEfgG":
                    text.append(("%" + spec + conv) % float(arg or 0))
                elif conv == "b":
                    text.append(_escapes(arg)[0])
                else:
                    text.append(("%" + spec + "s") % arg)
                continue
            if c == "\\":
                esc, _ = _escapes(fmt[i:i + 2] if fmt[i + 1:i + 2] != "0" else fmt[i:i + 5])
                text.append(esc)
                i += 2 if fmt[i + 1:i + 2] != "0" else 2 + len(re.match(r"[0-7]{0,3}", fmt[i + 2:]).group(0))
                continue
            text.append(c)
            i += 1
        out.append("".join(text))
        if not args or "%" not in fmt:
            break
    ctx.out("".join(out))
    return 0


def cmd_tr(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    delete = args[:1] == ["-d"]
    if delete:
        args = args[1:]

    def expand(s: str) -> str:
        s = s.replace("[:upper:]", "A-Z").replace("[:lower:]", "a-z").replace("[:digit:]", "0-9")
        s = _escapes(s)[0]
        return re.sub(r"(.)-(.)", lambda m: "".join(chr(c) for c in range(ord(m.group(1)), ord(m.group(2)) + 1)), s)

    if not args or (not delete and len(args) < 2):
        ctx.err("tr: Needs 2 arguments\n")
        return 1
    src = expand(args[0])
    table = {ord(c): None for c in src} if delete else {ord(c): (expand(args[1]) or " ")[min(k, len(expand(args[1])) - 1)]
                                                        for k, c in enumerate(src)}
    for line in ctx.stdin.lines():
        ctx.out(line.decode("utf-8", "surrogateescape").translate(table).encode("utf-8", "surrogateescape"))
    return 0


def cmd_cut(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "s", with_value="dfc")
    if parsed is None:
        return 1
    _, values, operands = parsed
    delim = values.get("d", "\t")
    spec = values.get("f") or values.get("c")
    if not spec:
        ctx.err("cut: Needs -fc\n")
        return 1
    picks: list[tuple[int, int]] = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        lo = int(a) if a else 1
        hi = int(b) if b else (lo if "-" not in part else 10**9)
        picks.append((lo, hi))
    lines = ctx.stdin.lines() if not operands else (_file_lines(ctx, operands[0]) or [])
    for raw in lines:
        line = raw.decode("utf-8", "surrogateescape").rstrip("\n")
        items = line.split(delim) if "f" in values else list(line)
        if "f" in values and delim not in line:
            ctx.out(line + "\n")
            continue
        chosen = [x for k, x in enumerate(items, 1) if any(lo <= k <= hi for lo, hi in picks)]
        ctx.out((delim if "f" in values else "").join(chosen) + "\n")
    return 0


def cmd_sort(ctx: Ctx) -> int:
    parsed = split_flags(ctx, "rnu")
    if parsed is None:
        return 1
    flags, _, operands = parsed
    lines = [ln.decode("utf-8", "surrogateescape").rstrip("\n") for ln in
             (ctx.stdin.lines() if not operands else (_file_lines(ctx, operands[0]) or []))]

    def key(s: str):
        if "n" in flags:
            m = re.match(r"\s*(-?\d+(?:\.\d+)?)", s)
            return (float(m.group(1)) if m else 0.0, s)
        return s

    lines.sort(key=key, reverse="r" in flags)
    if "u" in flags:
        lines = list(dict.fromkeys(lines))
    for line in lines:
        ctx.out(line + "\n")
    return 0


def cmd_tee(ctx: Ctx) -> int:
    from harness.emulator.sh.streams import FileSink

    append = "-a" in ctx.argv
    sinks, status = [], 0
    for name in [a for a in ctx.argv[1:] if a != "-a"]:
        try:
            sinks.append(FileSink(ctx.device, ctx.path(name), append))
        except OSError as e:
            _errmsg(ctx, name, e)
            status = 1
    try:
        while chunk := ctx.stdin.read_chunk():
            ctx.out(chunk)
            for s in sinks:
                s(chunk)
    finally:
        for s in sinks:
            s.close()
    return status


def cmd_seq(ctx: Ctx) -> int:
    try:
        nums = [int(a) for a in ctx.argv[1:]]
    except ValueError:
        ctx.err("seq: invalid number\n")
        return 1
    first, step, last = (1, 1, nums[0]) if len(nums) == 1 else (nums[0], 1, nums[1]) if len(nums) == 2 else tuple(nums[:3])
    k = first
    while (step > 0 and k <= last) or (step < 0 and k >= last):
        ctx.out(f"{k}\n")
        k += step
    return 0


def cmd_basename(ctx: Ctx) -> int:
    if len(ctx.argv) < 2:
        return 1
    name = posixpath.basename(ctx.argv[1].rstrip("/")) or "/"
    if len(ctx.argv) > 2 and name.endswith(ctx.argv[2]) and name != ctx.argv[2]:
        name = name[:-len(ctx.argv[2])]
    ctx.out(name + "\n")
    return 0


def cmd_dirname(ctx: Ctx) -> int:
    if len(ctx.argv) < 2:
        return 1
    ctx.out((posixpath.dirname(ctx.argv[1].rstrip("/")) or ".") + "\n")
    return 0


def cmd_env(ctx: Ctx) -> int:
    for k in sorted(ctx.env):
        if ctx.shell is None or k in ctx.shell.exported or k in (ctx.env.keys() - ctx.shell.vars.keys()):
            ctx.out(f"{k}={ctx.env[k]}\n")
    return 0


def cmd_umask(ctx: Ctx) -> int:
    if len(ctx.argv) > 1:
        ctx.err(f"{SH}: umask: setting the umask is not supported by the emulated phone's shell\n")
        return 1
    ctx.out("000\n")      # adbd runs commands with umask(0)
    return 0


def cmd_date(ctx: Ctx) -> int:
    fmt = next((a[1:] for a in ctx.argv[1:] if a.startswith("+")), "%a %b %e %H:%M:%S %Z %Y")
    ctx.out(time.strftime(fmt, time.localtime()) + "\n")
    return 0


COMMANDS = {
    "ls": cmd_ls, "cat": cmd_cat, "echo": cmd_echo, "mkdir": cmd_mkdir, "rm": cmd_rm, "mv": cmd_mv,
    "cp": cmd_cp, "chmod": cmd_chmod, "touch": cmd_touch, "sha256sum": _hash_cmd("sha256"),
    "md5sum": _hash_cmd("md5"), "stat": cmd_stat, "df": cmd_df, "true": cmd_true, "false": cmd_false,
    "sleep": cmd_sleep, "id": cmd_id, "whoami": cmd_whoami, "uname": cmd_uname, "test": cmd_test, "[": cmd_test,
    "grep": cmd_grep, "head": cmd_head, "tail": cmd_tail, "wc": cmd_wc, "printf": cmd_printf, "tr": cmd_tr,
    "cut": cmd_cut, "sort": cmd_sort, "tee": cmd_tee, "seq": cmd_seq, "basename": cmd_basename,
    "dirname": cmd_dirname, "env": cmd_env, "umask": cmd_umask, "date": cmd_date,
}

from harness.emulator import android_cmds  # noqa: E402  (registers pm, am, dumpsys, ... into COMMANDS)

COMMANDS.update(android_cmds.COMMANDS)
