"""Android commands of the emulated shell: getprop, pm, cmd, am, pidof, ps, top, logcat.

Output and exit codes follow Android 14 (sources named per command; transcripts of real
phones in tests/data/android14/). dumpsys, settings, input, svc and wm are in
android_system.py.
"""
from __future__ import annotations

import re
import time

from harness import contract
from harness.emulator.apk import ApkError
from harness.emulator.logd import LogcatPrinter
from harness.emulator.sh.streams import Ctx

_SYSTEM = {"android": "/system/framework/framework-res.apk", "com.android.shell": "/system/priv-app/Shell/Shell.apk",
           "com.android.settings": "/system_ext/priv-app/Settings/Settings.apk",
           "com.android.systemui": "/system_ext/priv-app/SystemUIGoogle/SystemUIGoogle.apk",
           "com.google.android.gms": "/product/priv-app/PrebuiltGmsCore/PrebuiltGmsCoreSc.apk",
           "com.android.phone": "/system/priv-app/TeleService/TeleService.apk"}
_LEVELS = "VDIWEFS"


def cmd_getprop(ctx: Ctx) -> int:
    props = ctx.device.props
    if len(ctx.argv) > 1:
        value = props.get(ctx.argv[1])
        ctx.out((value if value is not None else (ctx.argv[2] if len(ctx.argv) > 2 else "")) + "\n")
        return 0
    for k in sorted(props):
        ctx.out(f"[{k}]: [{props[k]}]\n")
    return 0


def cmd_setprop(ctx: Ctx) -> int:
    if len(ctx.argv) != 3:
        ctx.err("usage: setprop NAME VALUE\n")
        return 1
    name, value = ctx.argv[1], ctx.argv[2]
    if name.startswith("ro."):
        ctx.err(f"Failed to set property '{name}' to '{value}'.\nSee dmesg for error reason.\n")
        return 1
    ctx.device.props[name] = value
    return 0


# -- package manager (PackageManagerShellCommand, Android 14) ----------------------------------
def _java_exception(ctx: Ctx, verb: str, exc: str, message: str, where: str) -> int:
    """What BasicShellCommandHandler.exec prints for an exception: stderr, exit 255."""
    ctx.err(f"\nException occurred while executing '{verb}':\n{exc}: {message}\n"
            f"\tat com.android.server.pm.PackageManagerShellCommand.{where}(PackageManagerShellCommand.java:620)\n"
            "\tat com.android.server.pm.PackageManagerShellCommand.onCommand(PackageManagerShellCommand.java:213)\n"
            "\tat com.android.modules.utils.BasicShellCommandHandler.exec(BasicShellCommandHandler.java:97)\n"
            "\tat android.os.ShellCommand.exec(ShellCommand.java:38)\n")
    return 255


def _install(ctx: Ctx, data: bytes, flags: set[str], label: str) -> int:
    try:
        ctx.device.install_apk(data, label, flags=tuple(flags))
    except ApkError as e:
        ctx.out(f"Failure [{e.code}: {e}]\n")
        return 1
    ctx.out("Success\n")
    return 0


def cmd_pm(ctx: Ctx, args: list[str] | None = None) -> int:
    args = ctx.argv[1:] if args is None else args
    dev = ctx.device
    if not args:
        ctx.err("usage: pm [list|path|install|uninstall|clear] ...\n")
        return 1
    verb, rest = args[0], args[1:]
    if verb == "list" and rest[:1] in (["packages"], ["package"]):
        opts = {a for a in rest[1:] if a.startswith("-")}
        filters = [a for a in rest[1:] if not a.startswith("-")]
        third = sorted(dev.packages)
        names = third if "-3" in opts else sorted(_SYSTEM) if "-s" in opts else sorted(set(third) | set(_SYSTEM))
        for name in names:
            if filters and not any(f in name for f in filters):
                continue
            line = "package:"
            if "-f" in opts:
                line += (dev.packages[name].base_apk if name in dev.packages else _SYSTEM[name]) + "="
            line += name
            if "--show-versioncode" in opts:
                line += f" versionCode:{dev.packages[name].version_code if name in dev.packages else 34}"
            ctx.out(line + "\n")
        return 0
    if verb == "path":
        name = next((a for a in rest if not a.startswith("-")), None)
        if name in dev.packages:
            ctx.out(f"package:{dev.packages[name].base_apk}\n")
            return 0
        if name in _SYSTEM:
            ctx.out(f"package:{_SYSTEM[name]}\n")
            return 0
        return 1
    if verb == "install":
        flags = {a for a in rest if a.startswith("-")}
        if "-S" in rest:
            try:
                size = int(rest[rest.index("-S") + 1])
            except (IndexError, ValueError):
                return _java_exception(ctx, "install", "java.lang.IllegalArgumentException",
                                       "Missing size for -S", "makeInstallParams")
            data = ctx.stdin.read_exact(size)
            if len(data) != size:
                ctx.out(f"Failure [INSTALL_FAILED_INVALID_APK: Failed to read {size} bytes: got {len(data)}]\n")
                return 1
            return _install(ctx, data, flags, "stdin")
        paths = [a for a in rest if not a.startswith("-")]
        if not paths:
            ctx.err("Error: must either specify a package size or an APK file\n")
            return 1
        path = paths[-1]
        try:
            data = dev.fs.read_bytes(ctx.path(path), who="shell")
        except OSError:
            ctx.err(f"Error: Unable to open file: {path}\nConsider using a file under /data/local/tmp/\n"
                    f"Error: Can't open file: {path}\n")
            return _java_exception(ctx, "install", "java.lang.IllegalArgumentException",
                                   f"Error: Can't open file: {path}", "setParamsSize")
        from harness.emulator.apk import read_apk

        try:
            read_apk(data, path)    # setParamsSize parses the APK before any session exists
        except ApkError as e:
            if e.code in ("INSTALL_PARSE_FAILED_NOT_APK", "INSTALL_PARSE_FAILED_BAD_MANIFEST"):
                return _java_exception(ctx, "install", "java.lang.IllegalArgumentException",
                                       f"Error: Failed to parse APK file: {path}: Failed to parse {path}",
                                       "setParamsSize")
        return _install(ctx, data, flags, path)
    if verb == "uninstall":
        names = [a for a in rest if not a.startswith("-")]
        if names and dev.uninstall_package(names[0]):
            ctx.out("Success\n")
            return 0
        ctx.out("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
        return 1
    if verb == "clear" and rest:
        ok = rest[-1] in dev.packages
        ctx.out("Success\n" if ok else "Failed\n")
        return 0 if ok else 1
    ctx.err(f"Unknown command: {verb}\n")
    return 1


def cmd_cmd(ctx: Ctx) -> int:
    from harness.emulator.android_system import battery_command, thermal_command

    service = ctx.argv[1] if len(ctx.argv) > 1 else ""
    if service == "package":
        return cmd_pm(ctx, ctx.argv[2:])
    if service == "battery":
        return battery_command(ctx, ctx.argv[2:])
    if service == "thermalservice":
        return thermal_command(ctx, ctx.argv[2:])
    if service == "activity":
        return cmd_am(ctx, ctx.argv[2:])
    ctx.err(f"cmd: Can't find service: {service}\n")
    return 20


# -- activity manager (ActivityManagerShellCommand.runStartActivity, Android 14) ----------------
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
    stop_first = wait = False
    component = None
    extras: dict[str, str] = {}
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "-S":
            stop_first = True
        elif a == "-W":
            wait = True
        elif a in ("-D", "-N", "--activity-clear-task", "--activity-new-task"):
            pass
        elif a in ("-n", "-a", "-c", "-d", "-t", "--user", "-R", "-f", "--display"):
            if i + 1 >= len(rest):
                return _am_exception(ctx, f"No argument given after {a}")
            if a == "-n":
                component = rest[i + 1]
            i += 1
        elif a in ("--es", "--ei", "--ez", "--el", "--ef", "--eu"):
            if i + 2 >= len(rest):
                return _am_exception(ctx, f"No argument given after {a}")
            extras[rest[i + 1]] = rest[i + 2]
            i += 2
        elif a.startswith("-"):
            return _am_exception(ctx, f"Unknown option: {a}")
        else:
            component = component or a
        i += 1
    if component is None:
        return _am_exception(ctx, "No intent supplied")
    pkg = component.split("/", 1)[0]
    if stop_first:
        ctx.out(f"Stopping: {pkg}\n")
        ctx.device.apps.force_stop(pkg)
        time.sleep(0.25)                  # Thread.sleep(250) after forceStopPackage
    suffix = " (has extras)" if extras else ""
    ctx.out(f"Starting: Intent {{ cmp={component}{suffix} }}\n")
    t0 = time.monotonic()
    result = ctx.device.apps.start(component, extras)
    # Errors go to stdout with -W, else to stderr; the exit status stays 0 (Android 14).
    say = ctx.out if wait else ctx.err
    if result["result"] == "class_not_found":
        say(f"Error type 3\nError: Activity class {{{result['class']}}} does not exist.\n")
        return 0
    if result["result"] == "task_to_front":
        say("Warning: Activity not started, its current task has been brought to the front\n")
    if wait:
        from harness.emulator.app import LAUNCH_S

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


def cmd_pidof(ctx: Ctx) -> int:
    """toybox pidof: matches process names; exit 1 when none."""
    pids = []
    for name in ctx.argv[1:]:
        if name.startswith("-"):
            continue
        pids += ctx.device.apps.running_pids(name)
        pids += [p.pid for p in list(ctx.device.procs.values()) if p.name == name]
    if not pids:
        return 1
    ctx.out(" ".join(str(p) for p in sorted(set(pids), reverse=True)) + "\n")
    return 0


def _all_procs(ctx: Ctx) -> list:
    procs = list(ctx.device.procs.values()) + list(ctx.device.apps.procs.values())
    return sorted(procs, key=lambda p: p.pid)


def cmd_ps(ctx: Ctx) -> int:
    """toybox ps: default columns USER PID PPID VSZ RSS WCHAN ADDR S NAME; without -A/-e only
    this shell's processes."""
    flags = "".join(a[1:] for a in ctx.argv[1:] if a.startswith("-"))
    procs = _all_procs(ctx)
    if not ({"A", "e"} & set(flags)):
        me = ctx.shell.pid if ctx.shell is not None else 0
        procs = [p for p in procs if p.pid == me]
    names = [a for a in ctx.argv[1:] if not a.startswith("-")]
    if names:
        procs = [p for p in _all_procs(ctx) if p.name in names or str(p.pid) in names]
    ps_pid = ctx.device._next_pid + 1
    ctx.out("USER           PID  PPID        VSZ    RSS WCHAN            ADDR S NAME                       \n")
    for p in procs:
        rss = ctx.device.apps.memory_kb(p.pid)[0] if ctx.device.apps.process(p.pid) else p.rss_kb
        ctx.out(f"{p.user:<12} {p.pid:>5} {p.ppid:>5} {rss * 4 + 10_000_000:>10} {rss:>6} do_epoll_wait       0 S "
                f"{p.name}\n")
    if not names:
        ctx.out(f"shell        {ps_pid:>5} {ctx.shell.pid if ctx.shell else 1:>5} {10_811_164:>10} {3_488:>6} 0"
                f"                   0 R ps\n")
    return 0


def cmd_top(ctx: Ctx) -> int:
    """toybox top -n 1 (-b): the header and the process table, once. CPU figures are not modelled
    (all processes show 0.0 %CPU, the app 100.0 while it works)."""
    procs = _all_procs(ctx)
    total = ctx.device.profile.mem_total_kb
    cpus = ctx.device.profile.cpus
    ctx.out(f"Tasks: {len(procs) + 1} total,   1 running, {len(procs)} sleeping,   0 stopped,   0 zombie\n"
            f"  Mem: {total:>8}K total, {total * 6 // 7:>8}K used, {total // 7:>8}K free,    12472K buffers\n"
            f" Swap: {total // 2:>8}K total,        0K used, {total // 2:>8}K free, {total // 4:>8}K cached\n"
            f"{cpus * 100}%cpu   0%user   0%nice   0%sys {cpus * 100}%idle   0%iow   0%irq   0%sirq   0%host\n"
            "  PID USER         PR  NI VIRT  RES  SHR S[%CPU] %MEM     TIME+ ARGS\n")
    for p in procs:
        running = bool(getattr(p, "run", None) and not p.run.done.is_set())
        rss = ctx.device.apps.memory_kb(p.pid)[0] if ctx.device.apps.process(p.pid) else p.rss_kb
        ctx.out(f"{p.pid:>5} {p.user:<12} {10 if running else 20:>3} {-10 if running else 0:>3} "
                f"{'10G':>4} {rss / 1024:>4.0f}M {'2.1M':>4} {'R' if running else 'S'} "
                f"{100.0 if running else 0.0:>5.1f} {100 * rss / total:>4.1f}   0:00.00 {p.name}\n")
    return 0


# -- logcat -----------------------------------------------------------------------------------
LOGCAT_FOLLOW_WAIT_S = 0.2   # how often a following logcat checks that the host still listens


def cmd_logcat(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    dump = clear = silent_default = False
    tail = None
    since = None
    fmt = "threadtime"
    buffers: list[str] = []
    regex = None
    pid = None
    specs: dict[str, str] = {}
    env_tags = ctx.env.get("ANDROID_LOG_TAGS", "").strip("'\" ")
    i = 0
    while i < len(args):
        a = args[i]
        value = args[i + 1] if i + 1 < len(args) else None
        if a.startswith("--pid=") or a.startswith("--buffer=") or a.startswith("--format=") or a.startswith("--regex="):
            a, value = a.split("=", 1)
            args.insert(i + 1, value)
        if a == "-d":
            dump = True
        elif a == "-c":
            clear = True
        elif a == "-s":
            silent_default = True
        elif a in ("-v", "--format", "-b", "--buffer", "-e", "--regex", "--pid", "-t", "-T"):
            if value is None:
                ctx.err(f"logcat: option requires an argument -- '{a.lstrip('-')}'\n")
                return 1
            i += 1
            if a in ("-v", "--format"):
                if value not in LogcatPrinter.FORMATS:
                    if value in ("color", "epoch", "monotonic", "uid", "usec", "UTC", "year", "zone", "long"):
                        ctx.err(f"logcat: -v {value} is not modelled by the emulated phone\n")
                    else:
                        ctx.err(f"logcat: Invalid parameter \"{value}\" to -v\n")
                    return 1
                fmt = value
            elif a in ("-b", "--buffer"):
                for b in value.split(","):
                    if b in ("all", "default"):
                        buffers += ["main", "system", "crash"]
                    elif b in ("main", "system", "crash", "radio", "events", "kernel", "stats", "security"):
                        buffers.append(b)
                    else:
                        ctx.err(f"logcat: Unknown buffer '{b}'\n")
                        return 1
            elif a in ("-e", "--regex"):
                try:
                    regex = re.compile(value)
                except re.error:
                    ctx.err(f"logcat: Invalid regex: {value}\n")
                    return 1
            elif a == "--pid":
                if not value.isdigit():
                    ctx.err(f"logcat: Invalid --pid '{value}'\n")
                    return 1
                pid = int(value)
            else:   # -t / -T: a count, or a time 'MM-DD hh:mm:ss.mmm' (-t implies -d)
                dump = dump or a == "-t"
                if value.isdigit():
                    tail = int(value)
                else:
                    try:
                        since = _parse_logcat_time(value)
                    except ValueError:
                        ctx.err(f"logcat: Invalid -{a[1]} parameter '{value}'\n")
                        return 1
        elif a.startswith("-"):
            pass
        else:
            tag, _, level = a.partition(":")
            level = (level or "V").upper()[:1]
            if level not in _LEVELS:
                ctx.err(f"Invalid filter expression '{a}'\n")
                return 1
            if tag == "*":
                silent_default = level == "S"
            else:
                specs[tag] = level
        i += 1
    if clear:
        ctx.device.logcat.clear(set(buffers) if buffers else None)
        return 0
    printer = LogcatPrinter(fmt, buffers or ("main", "system", "crash"), specs, "S" if silent_default else "V",
                            regex, pid)
    entries, seq = ctx.device.logcat.entries()
    if since is not None:
        entries = [e for e in entries if e[0] >= since]
    if tail is not None:
        chosen = [e for e in entries if printer.accepts(e)]
        entries = chosen[-tail:] if tail else []
    ctx.out(printer.render(entries))
    follow = not dump and ctx.conn_stream is not None
    if not follow or ctx.device.faults.snapshot().logcat_no_follow:
        ctx.device.count_logcat("dump")
        return 0
    ctx.device.count_logcat("follow")
    # Without -d logcat follows the log until the host closes the stream (or a pipe reader goes).
    while not ctx.cancelled():
        entries, seq = ctx.device.logcat.entries(since=seq, wait_s=LOGCAT_FOLLOW_WAIT_S)
        text = printer.render(entries)
        if text:
            ctx.out(text)
        elif getattr(ctx.out_sink, "broken", False):
            break
    return 0


def _parse_logcat_time(text: str) -> float:
    now = time.localtime()
    for fmt in ("%m-%d %H:%M:%S.%f", "%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            import datetime

            dt = datetime.datetime.strptime(text, fmt)
            if "%Y" not in fmt:
                dt = dt.replace(year=now.tm_year)
            return dt.timestamp()
        except ValueError:
            continue
    raise ValueError(text)


def cmd_run_as(ctx: Ctx) -> int:
    """run-as: the benchmark app is a release (non-debuggable) build (run-as.cpp)."""
    pkg = ctx.argv[1] if len(ctx.argv) > 1 else ""
    p = ctx.device.packages.get(pkg)
    if p is None:
        ctx.err(f"run-as: unknown package: {pkg}\n")
    elif not p.debuggable:
        ctx.err(f"run-as: package not debuggable: {pkg}\n")
    else:
        ctx.err("run-as: running commands as the app is not modelled by the emulated phone\n")
    return 1


def _android_commands() -> dict:
    from harness.emulator import android_system

    table = {"getprop": cmd_getprop, "setprop": cmd_setprop, "pm": cmd_pm, "cmd": cmd_cmd, "am": cmd_am,
             "pidof": cmd_pidof, "ps": cmd_ps, "top": cmd_top, "logcat": cmd_logcat, "run-as": cmd_run_as}
    table.update(android_system.COMMANDS)
    return table


COMMANDS = _android_commands()
__all__ = ["COMMANDS", "contract"]
