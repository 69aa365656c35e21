"""Android 14's ``dumpsys`` on the emulated phone (battery, power, thermalservice, window, package, meminfo),
and the battery and thermal shell commands that change what it shows.

Sources: BatteryService.dumpInternal, PowerManagerService.dumpInternal,
ThermalManagerService (dump and its shell command), PhoneWindowManager/KeyguardController
dumps, PackageManagerService's package dump.
"""
from __future__ import annotations

import time

from harness.emulator.android.settings import density, screen_size
from harness.emulator.sh.streams import Ctx


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


# -- battery -----------------------------------------------------------------------------------
def battery_command(ctx: Ctx, args: list[str]) -> int:
    """``dumpsys battery set|unplug|reset`` / ``cmd battery ...`` (BatteryService.Shell)."""
    dev = ctx.device
    st = dev.state
    if not getattr(dev, "battery_frozen", False):
        dev.real_charging = st.charging          # what `reset` goes back to
    if args[:1] == ["unplug"]:
        dev.battery_frozen = True
        st.charging = False
    elif args[:1] == ["reset"]:
        dev.battery_frozen = False
        st.charging = getattr(dev, "real_charging", True)
    elif args[:2] == ["set", "level"] and len(args) > 2 and args[2].isdigit():
        dev.battery_frozen = True
        st.battery_level = min(100, int(args[2]))
    elif args[:1] == ["set"] and len(args) > 2 and args[1] in ("ac", "usb", "wireless", "dock"):
        dev.battery_frozen = True
        st.charging = args[2] not in ("0", "false")
    else:
        ctx.err("Bad battery command\n")
        return 255
    return 0


def _dumpsys_battery(ctx: Ctx) -> None:
    dev, st = ctx.device, ctx.device.state
    status = (5 if st.battery_level >= 100 else 2) if st.charging else 3
    ctx.out("Current Battery Service state:\n"
            + ("  (UPDATES STOPPED -- use 'reset' to restart)\n" if getattr(dev, "battery_frozen", False) else "")
            + f"  AC powered: false\n  USB powered: {str(st.charging).lower()}\n  Wireless powered: false\n"
            "  Dock powered: false\n  Max charging current: 500000\n  Max charging voltage: 5000000\n"
            f"  Charge counter: {st.battery_level * 46_000}\n  status: {status}\n  health: 2\n  present: true\n"
            f"  level: {st.battery_level}\n  scale: 100\n  voltage: 4123\n"
            f"  temperature: {st.battery_temp_tenths_c}\n  technology: Li-ion\n"
            f"  Charging state: {1 if st.charging else 0}\n  Charging policy: 1\n")


# -- thermal -----------------------------------------------------------------------------------
def thermal_command(ctx: Ctx, args: list[str]) -> int:
    """``cmd thermalservice override-status N`` / ``reset`` (ThermalManagerService.ShellCmd)."""
    dev = ctx.device
    if args[:1] == ["override-status"] and len(args) == 2 and args[1].isdigit() and 0 <= int(args[1]) <= 6:
        dev.thermal_override = int(args[1])
        dev.apps.state_changed()
        return 0
    if args[:1] == ["reset"]:
        dev.thermal_override = None
        dev.apps.state_changed()
        return 0
    ctx.out("Thermal service (thermalservice) commands:\n  help\n    Print this help text.\n\n"
            "  override-status STATUS\n    sets and locks the thermal status of the device to STATUS.\n"
            "    status code is defined in android.os.Temperature.\n  reset\n"
            "    unlocks the thermal status of the device.\n\n")
    return 255 if args and args[0] not in ("help", "-h") else 0


def _dumpsys_thermal(ctx: Ctx) -> None:
    dev = ctx.device
    status = dev.query_thermal_status()
    temp_c = dev.state.battery_temp_tenths_c / 10.0
    ctx.out(f"IsStatusOverride: {str(dev.thermal_override is not None).lower()}\n"
            "ThermalEventListeners:\n\tcallbacks: 1\n\tkilled: false\n\tbroadcasts count: -1\n"
            "ThermalStatusListeners:\n\tcallbacks: 2\n\tkilled: false\n\tbroadcasts count: -1\n"
            f"Thermal Status: {status}\nCached temperatures:\n"
            f"\tTemperature{{mValue={temp_c}, mType=2, mName=battery, mStatus={status}}}\n"
            "HAL Ready: true\nHAL connection:\n\tThermalHAL AIDL 1  connected: yes\n"
            "Current temperatures from HAL:\n"
            f"\tTemperature{{mValue={temp_c + 8.5:.1f}, mType=0, mName=cpu0, mStatus={status}}}\n"
            f"\tTemperature{{mValue={temp_c}, mType=2, mName=battery, mStatus={status}}}\n"
            "Current cooling devices from HAL:\n\tCoolingDevice{mValue=0, mType=2, mName=cpu0}\n"
            "Temperature static thresholds from HAL:\n"
            "\tTemperatureThreshold{mType=2, mName=battery, mHotThrottlingThresholds=[NaN, NaN, NaN, 45.0, "
            "NaN, NaN, NaN], mColdThrottlingThresholds=[NaN, NaN, NaN, NaN, NaN, NaN, NaN]}\n")


# -- power, screen, keyguard -------------------------------------------------------------------
def _dumpsys_power(ctx: Ctx) -> None:
    dev, st = ctx.device, ctx.device.state
    awake = st.screen == "on"
    stay_on = int(dev.settings.get(("global", "stay_on_while_plugged_in"), "0") or 0)
    ctx.out("POWER MANAGER (dumpsys power)\n\nPower Manager State:\n"
            "  Settings power_manager_constants:\n    no_cached_wake_locks=true\n"
            f"  mDirty=0x0\n  mWakefulness={'Awake' if awake else 'Asleep'}\n  mWakefulnessChanging=false\n"
            f"  mIsPowered={str(st.charging).lower()}\n  mPlugType={2 if st.charging else 0}\n"
            f"  mBatteryLevel={st.battery_level}\n  mDockState=0\n"
            f"  mStayOn={str(bool(stay_on) and st.charging).lower()}\n  mProximityPositive=false\n"
            "  mBootCompleted=true\n  mSystemReady=true\n  mDeviceIdleMode=false\n  mLightDeviceIdleMode=false\n"
            f"  mLastWakeTime={int((dev.boot_time - dev.boot_time) * 1000)} (0 ms ago)\n"
            f"  mDisplayReady=true\n  mHoldingWakeLockSuspendBlocker=false\n"
            f"  mHoldingDisplaySuspendBlocker={str(awake).lower()}\n\n"
            "Settings and Configuration:\n  mDecoupleHalAutoSuspendModeFromDisplayConfig=false\n"
            f"  mStayOnWhilePluggedInSetting={stay_on}\n  mScreenOffTimeoutSetting="
            f"{dev.settings.get(('system', 'screen_off_timeout'), '60000')}\n\n"
            "Wake Locks: size=0\n\nSuspend Blockers: size=4\n"
            f"  PowerManagerService.Display: ref count={1 if awake else 0}\n\n"
            f"Display Power: state={'ON' if awake else 'OFF'}\n")


def _dumpsys_window(ctx: Ctx) -> None:
    """The keyguard and screen lines scripts grep (PhoneWindowManager and KeyguardController)."""
    st = ctx.device.state
    locked = st.locked
    ctx.out("WINDOW MANAGER POLICY STATE (dumpsys window policy)\n"
            f"    mSafeMode=false mSystemReady=true mSystemBooted=true\n"
            f"    mShowingDream=false mDreamingLockscreen={str(locked).lower()}\n"
            f"      screenState=SCREEN_STATE_{'FULL' if st.screen == 'on' else 'OFF'}\n"
            "  DisplayPolicy\n"
            f"    mAwake={str(st.screen == 'on').lower()} mScreenOnEarly={str(st.screen == 'on').lower()} "
            f"mScreenOnFully={str(st.screen == 'on').lower()}\n"
            f"    KeyguardServiceDelegate\n      showing={str(locked).lower()}\n"
            f"      inputRestricted={str(locked).lower()}\n      secure={str(st.secure_lock).lower()}\n"
            f"      isKeyguardShowing={str(locked).lower()}\n\n"
            "WINDOW MANAGER DISPLAY CONTENTS (dumpsys window displays)\n  Display: mDisplayId=0 rootTasks=1\n"
            f"    init={screen_size(ctx)} {density(ctx)}dpi base={screen_size(ctx)} {density(ctx)}dpi\n\n"
            f"KeyguardController:\n  mKeyguardShowing={str(locked).lower()}\n  mAodShowing=false\n"
            "  mKeyguardGoingAway=false\n")


def _dumpsys_package(ctx: Ctx, names: list[str]) -> None:
    """PackageManagerService's dump of one package (Android 14 field names and formats)."""
    dev = ctx.device
    ctx.out("Activity Resolver Table:\n  Non-Data Actions:\n\nPermissions:\n\n")
    for name in names:
        pkg = dev.packages.get(name)
        if pkg is None:
            continue
        h = f"{abs(hash(pkg.code_path)) % 0xFFFFFFF:07x}"
        ctx.out(f"Packages:\n  Package [{pkg.name}] ({h}):\n    appId=10234\n    pkg=Package{{{h} {pkg.name}}}\n"
                f"    codePath={pkg.code_path}\n    resourcePath={pkg.code_path}\n"
                f"    legacyNativeLibraryDir={pkg.code_path}/lib\n    extractNativeLibs=false\n"
                f"    primaryCpuAbi={pkg.primary_abi or 'null'}\n    secondaryCpuAbi=null\n    cpuAbiOverride=null\n"
                f"    versionCode={pkg.version_code} minSdk={pkg.min_sdk} targetSdk={pkg.target_sdk}\n"
                f"    minExtensionVersions=[]\n    versionName={pkg.version_name}\n    usesNonSdkApi=false\n"
                f"    splits=[base]\n    apkSigningVersion=2\n"
                f"    flags=[ {'DEBUGGABLE ' if pkg.debuggable else ''}HAS_CODE ALLOW_CLEAR_USER_DATA"
                f"{' TEST_ONLY' if pkg.test_only else ''} ]\n"
                f"    privateFlags=[ PRIVATE_FLAG_ACTIVITIES_RESIZE_MODE_RESIZEABLE_VIA_SDK_VERSION "
                f"ALLOW_AUDIO_PLAYBACK_CAPTURE PRIVATE_FLAG_ALLOW_NATIVE_HEAP_POINTER_TAGGING ]\n"
                f"    forceQueryable=false\n    dataDir=/data/user/0/{pkg.name}\n"
                f"    supportsScreens=[small, medium, large, xlarge, resizeable, anyDensity]\n"
                f"    timeStamp={_stamp(pkg.last_update_time)}\n    lastUpdateTime={_stamp(pkg.last_update_time)}\n"
                f"    installerPackageName=com.android.shell\n"
                f"    signatures=PackageSignatures{{{h[:7]} version:2, signatures:[{(pkg.signer or '')[:8]}], "
                f"past signatures:[]}}\n    installPermissionsFixed=true\n"
                f"    pkgFlags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ]\n    applicationInfo=ApplicationInfo{{{h} "
                f"{pkg.name}}}\n"
                f"    User 0: ceDataInode=123456 installed=true hidden=false suspended=false distractionFlags=0 "
                f"stopped=false notLaunched=false enabled=0 instant=false virtual=false\n"
                f"      installReason=0\n      firstInstallTime={_stamp(pkg.first_install_time)}\n"
                f"      uninstallReason=0\n")


def _dumpsys_meminfo(ctx: Ctx, args: list[str]) -> None:
    dev = ctx.device
    target = next((a for a in args if not a.startswith("-")), None)
    if target is None:
        ctx.out(dev.meminfo())
        return
    procs = [p for p in dev.apps.procs.values() if target in (p.package, str(p.pid))]
    if not procs:
        ctx.out(f"No process found for: {target}\n")
        return
    for p in procs:
        rss, _hwm = dev.apps.memory_kb(p.pid)
        ctx.out(f"Applications Memory Usage (in Kilobytes):\nUptime: {int((time.time() - dev.boot_time) * 1000)} "
                f"Realtime: {int((time.time() - dev.boot_time) * 1000)}\n\n"
                f"** MEMINFO in pid {p.pid} [{p.package}] **\n"
                "                   Pss  Private  Private  SwapPss      Rss     Heap     Heap     Heap\n"
                "                 Total    Dirty    Clean    Dirty    Total     Size    Alloc     Free\n"
                "                ------   ------   ------   ------   ------   ------   ------   ------\n"
                f"        TOTAL {rss * 4 // 5:>8} {rss * 3 // 5:>8} {rss // 10:>8}        0 {rss:>8}"
                "     8192     6144     2048\n")


def cmd_dumpsys(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    service = args[0] if args else ""
    if service == "battery":
        if len(args) > 1:
            return battery_command(ctx, args[1:])
        _dumpsys_battery(ctx)
    elif service == "power":
        _dumpsys_power(ctx)
    elif service == "thermalservice":
        _dumpsys_thermal(ctx)
    elif service == "package":
        _dumpsys_package(ctx, [a for a in args[1:] if not a.startswith("-")])
    elif service == "meminfo":
        _dumpsys_meminfo(ctx, args[1:])
    elif service == "window":
        _dumpsys_window(ctx)
    else:
        # dumpsys.cpp: "Can't find service", exit 0
        ctx.err(f"Can't find service: {service}\n")
    return 0


COMMANDS = {"dumpsys": cmd_dumpsys}
