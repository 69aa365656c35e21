"""Android 14's package manager shell command (``pm`` / ``cmd package``, PackageManagerShellCommand) and ``run-as``."""
from __future__ import annotations

from harness.emulator.apk import ApkError, read_apk
from harness.emulator.sh.streams import Ctx

# The system packages every phone lists, with their APKs.
_SYSTEM = {"android": "/system/framework/framework-res.apk", "com.android.shell": "/system/priv-app/Shell/Shell.apk",
           "com.android.settings": "/system_ext/priv-app/Settings/Settings.apk",
           "com.android.systemui": "/system_ext/priv-app/SystemUIGoogle/SystemUIGoogle.apk",
           "com.google.android.gms": "/product/priv-app/PrebuiltGmsCore/PrebuiltGmsCoreSc.apk",
           "com.android.phone": "/system/priv-app/TeleService/TeleService.apk"}


def _java_exception(ctx: Ctx, verb: str, exc: str, message: str, where: str) -> int:
    """What BasicShellCommandHandler.exec prints for an exception: stderr, exit 255."""
    ctx.err(f"\nException occurred while executing '{verb}':\n{exc}: {message}\n"
            f"\tat com.android.server.pm.PackageManagerShellCommand.{where}(PackageManagerShellCommand.java:620)\n"
            "\tat com.android.server.pm.PackageManagerShellCommand.onCommand(PackageManagerShellCommand.java:213)\n"
            "\tat com.android.modules.utils.BasicShellCommandHandler.exec(BasicShellCommandHandler.java:97)\n"
            "\tat android.os.ShellCommand.exec(ShellCommand.java:38)\n")
    return 255


def cmd_pm(ctx: Ctx, args: list[str] | None = None) -> int:
    args = ctx.argv[1:] if args is None else args
    if not args:
        ctx.err("usage: pm [list|path|install|uninstall|clear] ...\n")
        return 1
    verb, rest = args[0], args[1:]
    if verb == "list" and rest[:1] in (["packages"], ["package"]):
        return _list(ctx, rest[1:])
    if verb in ("path", "install", "uninstall"):
        return {"path": _path, "install": _install_verb, "uninstall": _uninstall}[verb](ctx, rest)
    if verb == "clear" and rest:
        ok = rest[-1] in ctx.device.packages
        ctx.out("Success\n" if ok else "Failed\n")
        return 0 if ok else 1
    ctx.err(f"Unknown command: {verb}\n")
    return 1


def _list(ctx: Ctx, rest: list[str]) -> int:
    """``pm list packages [-3|-s] [-f] [--show-versioncode] [FILTER]``."""
    dev = ctx.device
    opts = {a for a in rest if a.startswith("-")}
    filters = [a for a in rest if not a.startswith("-")]
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


def _path(ctx: Ctx, rest: list[str]) -> int:
    name = next((a for a in rest if not a.startswith("-")), None)
    if name in ctx.device.packages:
        ctx.out(f"package:{ctx.device.packages[name].base_apk}\n")
        return 0
    if name in _SYSTEM:
        ctx.out(f"package:{_SYSTEM[name]}\n")
        return 0
    return 1


def _install_verb(ctx: Ctx, rest: list[str]) -> int:
    """``pm install [-r -d -t ...] PATH`` or ``pm install -S SIZE`` (the APK on stdin)."""
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
        data = ctx.device.fs.read_bytes(ctx.path(path), who="shell")
    except OSError:
        ctx.err(f"Error: Unable to open file: {path}\nConsider using a file under /data/local/tmp/\n"
                f"Error: Can't open file: {path}\n")
        return _java_exception(ctx, "install", "java.lang.IllegalArgumentException",
                               f"Error: Can't open file: {path}", "setParamsSize")
    try:
        read_apk(data, path)    # setParamsSize parses the APK before any session exists
    except ApkError as e:
        if e.code in ("INSTALL_PARSE_FAILED_NOT_APK", "INSTALL_PARSE_FAILED_BAD_MANIFEST"):
            return _java_exception(ctx, "install", "java.lang.IllegalArgumentException",
                                   f"Error: Failed to parse APK file: {path}: Failed to parse {path}",
                                   "setParamsSize")
    return _install(ctx, data, flags, path)


def _install(ctx: Ctx, data: bytes, flags: set[str], label: str) -> int:
    try:
        ctx.device.install_apk(data, label, flags=tuple(flags))
    except ApkError as e:
        ctx.out(f"Failure [{e.code}: {e}]\n")
        return 1
    ctx.out("Success\n")
    return 0


def _uninstall(ctx: Ctx, rest: list[str]) -> int:
    names = [a for a in rest if not a.startswith("-")]
    if names and ctx.device.uninstall_package(names[0]):
        ctx.out("Success\n")
        return 0
    ctx.out("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
    return 1


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


COMMANDS = {"pm": cmd_pm, "run-as": cmd_run_as}
