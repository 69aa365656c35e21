"""toybox's small system commands: true, false, sleep, id, whoami, uname, test, basename, dirname, env, umask, date."""
from __future__ import annotations

import posixpath
import re
import time

from harness.emulator.sh.streams import SH, Ctx


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


def cmd_nproc(ctx: Ctx) -> int:
    """toybox nproc: the CPUs this process may run on (all of the profile's cores)."""
    ctx.out(f"{ctx.device.profile.cpus}\n")
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


COMMANDS = {"true": cmd_true, "false": cmd_false, "sleep": cmd_sleep, "id": cmd_id, "whoami": cmd_whoami,
            "uname": cmd_uname, "nproc": cmd_nproc, "test": cmd_test, "[": cmd_test, "basename": cmd_basename, "dirname": cmd_dirname,
            "env": cmd_env, "umask": cmd_umask, "date": cmd_date}
