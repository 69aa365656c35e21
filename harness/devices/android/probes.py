"""The Android device's state, read from command output: battery, thermal, screen, storage.

Pure functions of the text ``dumpsys battery``, ``dumpsys thermalservice``, ``dumpsys power``
and ``df -k`` print on Android 14, tested on recorded outputs of real phones
(tests/data/android14/) as well as the emulated phone's.
"""
from __future__ import annotations

import re


def parse_int(pattern: str, text: str) -> int | None:
    m = re.search(pattern, text, re.MULTILINE)
    return int(m.group(1)) if m else None


def battery(text: str) -> dict:
    """``dumpsys battery``: level (%), temperature (°C, from tenths), whether it is charging."""
    temp = parse_int(r"^\s*temperature:\s*(-?\d+)", text)
    return {"battery_level": parse_int(r"^\s*level:\s*(\d+)", text),
            "battery_temp_c": temp / 10 if temp is not None else None,
            "charging": bool(re.search(r"(AC|USB|Wireless|Dock) powered: true", text))}


def thermal_status(text: str) -> int | None:
    """``dumpsys thermalservice``: PowerManager's thermal status, 0 none … 6 shutdown."""
    return parse_int(r"Thermal Status:\s*(\d+)", text)


def screen(text: str) -> str | None:
    """``dumpsys power``: the display state (ON, OFF, DOZE…), else the wakefulness (Awake, Asleep…)."""
    m = re.search(r"Display Power: state=(\w+)", text) or re.search(r"mWakefulness=(\w+)", text)
    return m.group(1) if m else None


def keyguard_showing(window_text: str) -> bool | None:
    """``dumpsys window``: whether the keyguard (lock screen) shows; None when it does not say."""
    for pattern in (r"mKeyguardShowing=(true|false)", r"isKeyguardShowing=(true|false)",
                    r"KeyguardServiceDelegate\s+showing=(true|false)", r"mDreamingLockscreen=(true|false)"):
        m = re.search(pattern, window_text)
        if m:
            return m.group(1) == "true"
    return None


def screen_on(power_text: str) -> bool | None:
    """``dumpsys power``: whether the display is on (state ON, or wakefulness Awake without a display line)."""
    state = screen(power_text)
    if state is None:
        return None
    return state.upper() in ("ON", "AWAKE")


def installed_apk_path(pm_path_text: str) -> str | None:
    """``pm path PKG``: the base APK's path on the device (``package:/data/app/…/base.apk``)."""
    for line in pm_path_text.splitlines():
        if line.startswith("package:") and line.rstrip().endswith("base.apk"):
            return line[len("package:"):].strip()
    return None


def df_free_bytes(text: str) -> int | None:
    """``df -k DIR``: the available KiB of the last row, in bytes."""
    rows = [ln.split() for ln in text.splitlines()[1:] if ln.split()]
    try:
        return int(rows[-1][3]) * 1024
    except (IndexError, ValueError):
        return None


def package_version(text: str) -> dict | None:
    """``dumpsys package PKG``: versionCode and versionName, or None when it is not installed."""
    code = parse_int(r"versionCode=(\d+)", text)
    if code is None:
        return None
    name = re.search(r"versionName=(\S+)", text)
    return {"version_code": code, "version_name": name.group(1) if name else None}


def runtime_from_version_name(version_name: str | None) -> str | None:
    """The TFLite runtime an app build carries, from its versionName (``0.2.0+tflite-2.18.0``,
    docs/app-contract.md); None for builds that do not say."""
    m = re.search(r"\+tflite-(\d+(?:\.\d+)*)", version_name or "")
    return m.group(1) if m else None


def cpu_count(nproc_text: str, possible_text: str) -> int | None:
    """Cores from ``nproc`` ("8"), else from ``/sys/devices/system/cpu/possible`` ("0-7", "0-3,6"); None."""
    first = nproc_text.strip().splitlines()[0].strip() if nproc_text.strip() else ""
    if first.isdigit() and int(first) > 0:
        return int(first)
    text = possible_text.strip().splitlines()[0].strip() if possible_text.strip() else ""
    if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", text):
        return None
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count or None


def state(battery_text: str, thermal_text: str, power_text: str, df_text: str) -> dict:
    """The ``env_before``/``env_after`` record of a block from the four outputs."""
    b = battery(battery_text)
    return {"thermal_status": thermal_status(thermal_text), "screen": screen(power_text),
            "charging": b["charging"], "battery_level": b["battery_level"],
            "battery_temp_c": b["battery_temp_c"], "free_storage_bytes": df_free_bytes(df_text)}
