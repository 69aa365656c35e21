"""Android commands of the emulated shell: getprop, pm, cmd, am, dumpsys, pidof, logcat, settings.

Output mimics Android 14 closely enough for parsers written against a real phone:
``package:NAME`` lines, ``versionCode=1 minSdk=24 targetSdk=34``, ``temperature: 290``
(tenths of a degree), ``Thermal Status: N``, logcat's ``threadtime`` format.
"""
from __future__ import annotations

import json
import os
import zipfile

from harness import contract
from harness.emulator.shell import Ctx

# Sidecar that tells the emulated package manager what an .apk is (a real APK's binary
# manifest is not parsed): either ``<apk>.json`` next to it or an entry inside the zip.
APK_SIDECAR_SUFFIX = ".json"
APK_MANIFEST_ENTRY = "harness-package.json"
MIN_SDK = 24
TARGET_SDK = 34
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


# -- package manager --------------------------------------------------------------------------
def _apk_identity(data_path, sidecar_path) -> tuple[str, int, str]:
    """(package, versionCode, versionName) of an APK: sidecar, zip entry, or the benchmark app."""
    try:
        if sidecar_path is not None and os.path.isfile(sidecar_path):
            doc = json.loads(open(sidecar_path, encoding="utf-8").read())
        else:
            with zipfile.ZipFile(data_path) as z:
                doc = json.loads(z.read(APK_MANIFEST_ENTRY))
        return str(doc["package"]), int(doc.get("version_code", 1)), str(doc.get("version_name", "1.0"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return contract.APP_PACKAGE, contract.APP_VERSION_CODE, contract.APP_VERSION_NAME


def _install(ctx: Ctx, host_apk, sidecar, flags: set[str]) -> int:
    name, code, version = _apk_identity(host_apk, sidecar)
    current = ctx.device.packages.get(name)
    if current is not None and code < current.version_code and "-d" not in flags:
        ctx.out(f"Failure [INSTALL_FAILED_VERSION_DOWNGRADE: Downgrade detected: Update version code {code} "
                f"is older than current {current.version_code}]\n")
        return 1
    ctx.device.apps.force_stop(name)
    ctx.device.install_package(name, code, version)
    ctx.out("Success\n")
    return 0


def cmd_pm(ctx: Ctx, args: list[str] | None = None) -> int:
    args = ctx.argv[1:] if args is None else args
    dev = ctx.device
    if not args:
        ctx.err("usage: pm [list|path|install|uninstall] ...\n")
        return 1
    verb, rest = args[0], args[1:]
    if verb == "list" and rest[:1] in (["packages"], ["package"]):
        filters = [a for a in rest[1:] if not a.startswith("-")]
        show_versions = "--show-versioncode" in rest
        names = sorted(set(dev.packages) | ({} if "-3" in rest else set(_SYSTEM)))
        for name in names:
            if filters and not any(f in name for f in filters):
                continue
            line = f"package:{name}"
            if show_versions and name in dev.packages:
                line += f" versionCode:{dev.packages[name].version_code}"
            ctx.out(line + "\n")
        return 0
    if verb == "path":
        pkg = dev.packages.get(rest[0]) if rest else None
        if pkg is None:
            return 1
        ctx.out(f"package:{pkg.code_path}\n")
        return 0
    if verb == "install":
        flags = {a for a in rest if a.startswith("-")}
        if "-S" in flags:
            try:
                size = int(rest[rest.index("-S") + 1])
            except (IndexError, ValueError):
                ctx.err("Error: -S needs a size in bytes\n")
                return 1
            data = ctx.stdin.read_exact(size)
            if len(data) != size:
                ctx.out(f"Failure [INSTALL_FAILED_INVALID_APK: got {len(data)} of {size} bytes]\n")
                return 1
            tmp = dev.state_dir / "streamed-install.apk"
            tmp.write_bytes(data)
            try:
                return _install(ctx, tmp, None, flags)
            finally:
                tmp.unlink(missing_ok=True)
        paths = [a for a in rest if not a.startswith("-")]
        if not paths:
            ctx.err("Error: no package specified\n")
            return 1
        host = dev.fs.host(ctx.path(paths[-1]))
        if not host.is_file():
            ctx.err(f"Error: Unable to open file: {paths[-1]}\nConsider using a file under /data/local/tmp/\n")
            ctx.out("Error: Can't open file: " + paths[-1] + "\n")
            return 1
        return _install(ctx, host, str(host) + APK_SIDECAR_SUFFIX, flags)
    if verb == "uninstall":
        names = [a for a in rest if not a.startswith("-")]
        if names and dev.uninstall_package(names[0]):
            ctx.out("Success\n")
            return 0
        ctx.out("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
        return 1
    if verb == "clear" and rest:
        ok = rest[0] in dev.packages
        ctx.out("Success\n" if ok else "Failed\n")
        return 0 if ok else 1
    ctx.err(f"Unknown command: {verb}\n")
    return 1


_SYSTEM = ("android", "com.android.shell", "com.android.settings", "com.android.systemui",
           "com.google.android.gms", "com.android.phone")


def cmd_cmd(ctx: Ctx) -> int:
    if len(ctx.argv) > 1 and ctx.argv[1] == "package":
        return cmd_pm(ctx, ctx.argv[2:])
    if len(ctx.argv) > 1 and ctx.argv[1] == "battery":
        return _battery_set(ctx, ctx.argv[2:])
    ctx.err(f"cmd: Can't find service: {ctx.argv[1] if len(ctx.argv) > 1 else ''}\n")
    return 20


# -- activity manager -------------------------------------------------------------------------
def cmd_am(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    if not args:
        ctx.err("usage: am [start|force-stop|kill] ...\n")
        return 1
    verb, rest = args[0], args[1:]
    if verb in ("force-stop", "kill", "stop-app"):
        for pkg in [a for a in rest if not a.startswith("-")][:1]:
            ctx.device.apps.force_stop(pkg)
        return 0
    if verb not in ("start", "start-activity"):
        ctx.err(f"Error: Unknown command: {verb}\n")
        return 1
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
        elif a in ("-D", "-N"):
            pass
        elif a in ("-n", "-a", "-c", "-d", "-t", "--user", "-R", "-f"):
            if i + 1 >= len(rest):
                ctx.err(f"Error: No argument given after {a}\n")
                return 1
            if a == "-n":
                component = rest[i + 1]
            i += 1
        elif a in ("--es", "--ei", "--ez", "--el", "--ef", "--eu"):
            if i + 2 >= len(rest):
                ctx.err(f"Error: No argument given after {a}\n")
                return 1
            extras[rest[i + 1]] = rest[i + 2]
            i += 2
        else:
            ctx.err(f"Error: Unknown option: {a}\n")
            return 1
        i += 1
    if component is None:
        ctx.err("Error: no component given (-n PACKAGE/.Activity)\n")
        return 1
    suffix = " (has extras)" if extras else ""
    ctx.out(f"Starting: Intent {{ cmp={component}{suffix} }}\n")
    error = ctx.device.apps.start(component, extras, stop_first=stop_first)
    if error is not None:
        ctx.out(f"Error type 3\nError: Activity class {{{error}}} does not exist.\n")
        return 1
    if wait:
        ctx.out(f"Status: ok\nLaunchState: COLD\nActivity: {component}\nTotalTime: 212\nWaitTime: 218\nComplete\n")
    return 0


def cmd_pidof(ctx: Ctx) -> int:
    pids = []
    for name in ctx.argv[1:]:
        pids += ctx.device.apps.running_pids(name)
    if not pids:
        return 1
    ctx.out(" ".join(str(p) for p in pids) + "\n")
    return 0


# -- dumpsys ----------------------------------------------------------------------------------
def _battery_set(ctx: Ctx, args: list[str]) -> int:
    st = ctx.device.state
    if args[:1] == ["unplug"]:
        st.charging = False
    elif args[:1] == ["reset"]:
        st.charging = True
    elif args[:2] == ["set", "level"] and len(args) > 2 and args[2].isdigit():
        st.battery_level = min(100, int(args[2]))
    elif args[:2] in (["set", "ac"], ["set", "usb"]) and len(args) > 2:
        st.charging = args[2] != "0"
    else:
        ctx.err("Bad battery command\n")
        return 1
    return 0


def cmd_dumpsys(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    dev = ctx.device
    service = args[0] if args else ""
    if service == "battery":
        if len(args) > 1:
            return _battery_set(ctx, args[1:])
        st = dev.state
        ctx.out("Current Battery Service state:\n"
                f"  AC powered: false\n  USB powered: {str(st.charging).lower()}\n  Wireless powered: false\n"
                "  Max charging current: 500000\n  Max charging voltage: 5000000\n  Charge counter: 3012000\n"
                f"  status: {2 if st.charging else 3}\n  health: 2\n  present: true\n"
                f"  level: {st.battery_level}\n  scale: 100\n  voltage: 4123\n"
                f"  temperature: {st.battery_temp_tenths_c}\n  technology: Li-ion\n")
        return 0
    if service == "power":
        # The lines of a real `dumpsys power` that say whether the screen is on.
        ctx.out("POWER MANAGER (dumpsys power)\n\nPower Manager State:\n  mWakefulness=Awake\n"
                "  mWakefulnessChanging=false\n  mIsPowered=true\n  mStayOn=false\n"
                "Display Power: state=ON\n")
        return 0
    if service == "thermalservice":
        status = dev.query_thermal_status()
        temp_c = dev.state.battery_temp_tenths_c / 10.0
        ctx.out("IsStatusOverride: false\nThermalEventListeners:\n\tcallbacks: 1\n\tkilled: false\n"
                "\tbroadcasts count: -1\nThermalStatusListeners:\n\tcallbacks: 2\n\tkilled: false\n"
                f"\tbroadcasts count: -1\nThermal Status: {status}\nCached temperatures:\n"
                f"\tTemperature{{mValue={temp_c}, mType=2, mName=battery, mStatus={status}}}\n"
                "HAL Ready: true\nHAL connection:\n\tThermalHAL AIDL 1  connected: yes\n"
                "Current temperatures from HAL:\n"
                f"\tTemperature{{mValue={temp_c + 8.5:.1f}, mType=0, mName=cpu0, mStatus={status}}}\n"
                f"\tTemperature{{mValue={temp_c}, mType=2, mName=battery, mStatus={status}}}\n")
        return 0
    if service == "package":
        names = [a for a in args[1:] if not a.startswith("-")]
        ctx.out("Activity Resolver Table:\n  Non-Data Actions:\n\n")
        for name in names:
            pkg = dev.packages.get(name)
            if pkg is None:
                continue
            ctx.out(f"Packages:\n  Package [{pkg.name}] (8c1f9a2):\n    userId=10{abs(hash(pkg.name)) % 1000:03d}\n"
                    f"    pkg=Package{{8c1f9a2 {pkg.name}}}\n    codePath={pkg.code_path.rsplit('/', 1)[0]}\n"
                    f"    versionCode={pkg.version_code} minSdk={MIN_SDK} targetSdk={TARGET_SDK}\n"
                    f"    versionName={pkg.version_name}\n    flags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ]\n"
                    f"    primaryCpuAbi={dev.props.get('ro.product.cpu.abi')}\n")
        return 0
    if service == "meminfo":
        ctx.out(dev.meminfo())
        return 0
    ctx.err(f"Can't find service: {service}\n")
    return 0


# -- logcat -----------------------------------------------------------------------------------
LOGCAT_FOLLOW_WAIT_S = 0.2   # how often a following logcat checks that the host still listens


def cmd_logcat(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    dump = clear = silent_default = False
    tail = None
    specs: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-d":
            dump = True
        elif a == "-c":
            clear = True
        elif a == "-s":
            silent_default = True
        elif a in ("-v", "-b", "-t", "-T", "-e", "--pid"):
            if a in ("-t", "-T") and i + 1 < len(args) and args[i + 1].isdigit():
                tail = int(args[i + 1])
                dump = dump or a == "-t"     # -t N prints the last N lines and exits; -T N follows
            i += 1
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
        ctx.device.logcat.clear()
        return 0
    default_level = "S" if silent_default else "V"
    entries, seq = ctx.device.logcat.entries()
    text = ctx.device.logcat.format(entries, specs, default_level)
    if tail is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail:]) if tail else ""
    ctx.out("--------- beginning of main\n" + text)
    flush = getattr(ctx.out_sink, "flush", None)
    follow = not dump and flush is not None and ctx.conn_stream is not None
    if not follow or ctx.device.faults.snapshot().logcat_no_follow:
        ctx.device.count_logcat("dump")
        return 0
    ctx.device.count_logcat("follow")
    # Without -d logcat follows the log until the host closes the stream.
    flush()
    stream = ctx.conn_stream
    while not stream.peer_gone:
        entries, seq = ctx.device.logcat.entries(since=seq, wait_s=LOGCAT_FOLLOW_WAIT_S)
        text = ctx.device.logcat.format(entries, specs, default_level)
        if text:
            ctx.out(text)
            flush()
    return 0


def cmd_settings(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    store = ctx.device.settings
    if len(args) >= 3 and args[0] == "get":
        ctx.out(store.get((args[1], args[2]), "null") + "\n")
        return 0
    if len(args) >= 4 and args[0] == "put":
        store[(args[1], args[2])] = args[3]
        return 0
    ctx.err("usage: settings [get|put] NAMESPACE KEY [VALUE]\n")
    return 1


def cmd_noop(ctx: Ctx) -> int:
    """``input``, ``svc``, ``wm``: accepted and ignored (no screen to wake)."""
    return 0


COMMANDS = {
    "getprop": cmd_getprop, "setprop": cmd_setprop, "pm": cmd_pm, "cmd": cmd_cmd, "am": cmd_am,
    "pidof": cmd_pidof, "dumpsys": cmd_dumpsys, "logcat": cmd_logcat, "settings": cmd_settings,
    "input": cmd_noop, "svc": cmd_noop, "wm": cmd_noop,
}
