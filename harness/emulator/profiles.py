"""Device profiles: the system properties and hardware figures of the phones we emulate.

Values follow what the real devices report (``adb shell getprop``), so code that keys on
``ro.product.model`` or ``ro.build.fingerprint`` sees a plausible phone. Every profile
also sets ``ro.harness.emulated=1``: results taken on an emulated device must say so.
"""
from __future__ import annotations

import hashlib
import types

from harness.errors import UserError

_COMMON = {
    "ro.harness.emulated": "1",
    "ro.build.tags": "release-keys",
    "ro.product.locale": "en-US",
    "persist.sys.timezone": "Etc/UTC",
    "ro.debuggable": "0",
    "ro.secure": "1",
    "sys.boot_completed": "1",
    "dev.bootcomplete": "1",
    "init.svc.adbd": "running",
    "ro.build.version.security_patch": "2024-08-05",
    "ro.build.version.codename": "REL",
    "ro.build.characteristics": "nosdcard",
}


def _pixel_props(model: str, codename: str, build_id: str, incremental: str, platform: str, soc_model: str) -> dict:
    """The properties a Pixel on a user build of Android 14 reports (``adb shell getprop``)."""
    return {
        "ro.product.brand": "google",
        "ro.product.manufacturer": "Google",
        "ro.product.model": model,
        "ro.product.name": codename,
        "ro.product.device": codename,
        "ro.product.board": codename,
        "ro.hardware": codename,
        "ro.build.fingerprint": f"google/{codename}/{codename}:14/{build_id}/{incremental}:user/release-keys",
        "ro.build.version.release": "14",
        "ro.build.version.sdk": "34",
        "ro.build.id": build_id,
        "ro.build.type": "user",
        "ro.product.cpu.abi": "arm64-v8a",
        # Pixel 7 and 8 are 64-bit only (XDA / Android Authority getprop dumps, Oct 2022).
        "ro.product.cpu.abilist": "arm64-v8a",
        "ro.product.cpu.abilist64": "arm64-v8a",
        "ro.product.cpu.abilist32": "",
        "ro.board.platform": platform,
        "ro.build.version.incremental": incremental,
        "ro.soc.manufacturer": "Google",
        "ro.soc.model": soc_model,
    }


_PROFILES: dict[str, dict] = {
    "pixel7": {
        "props": _pixel_props("Pixel 7", "panther", "AP2A.240805.005", "12025142", "gs201", "GS201"),
        # source.android.com "Build Pixel kernels": panther uses pantah-kernels/5.10.
        "kernel": "5.10.198-android13-4-00050-g12f3388846c3-ab11920634",
        # wm size / wm density of a Pixel 7 (1080x2400, 420 dpi).
        "screen": (1080, 2400, 420),
        "mem_total_kb": 7_849_712,
        "storage_bytes": 128 * 10**9,
        "cpus": 8,
    },
    "pixel8": {
        "props": _pixel_props("Pixel 8", "shiba", "AP2A.240905.003", "12231197", "zuma", "Tensor G3"),
        # Pixel 8 (shiba) ships the android14-5.15 kernel line.
        "kernel": "5.15.137-android14-11-gbf4f9bc41c3b-ab11664771",
        "screen": (1080, 2400, 420),
        "mem_total_kb": 7_784_436,
        "storage_bytes": 128 * 10**9,
        "cpus": 9,
    },
    "emulator-x86_64": {
        "props": {
            "ro.product.brand": "google",
            "ro.product.manufacturer": "Google",
            "ro.product.model": "sdk_gphone64_x86_64",
            "ro.product.name": "sdk_gphone64_x86_64",
            "ro.product.device": "emu64x",
            "ro.product.board": "goldfish_x86_64",
            "ro.hardware": "ranchu",
            "ro.build.fingerprint": "google/sdk_gphone64_x86_64/emu64x:14/UE1A.230829.036.A1/11228894:userdebug/dev-keys",
            "ro.build.version.release": "14",
            "ro.build.version.sdk": "34",
            "ro.build.id": "UE1A.230829.036.A1",
            "ro.build.type": "userdebug",
            "ro.build.tags": "dev-keys",
            "ro.debuggable": "1",
            "ro.product.cpu.abi": "x86_64",
            "ro.product.cpu.abilist": "x86_64,arm64-v8a",
            "ro.product.cpu.abilist64": "x86_64,arm64-v8a",
            "ro.product.cpu.abilist32": "",
            "ro.board.platform": "ranchu",
            "ro.build.version.incremental": "11228894",
            "ro.soc.manufacturer": "AOSP",
            "ro.soc.model": "ranchu",
            "ro.kernel.qemu": "1",
        },
        "kernel": "6.1.23-android14-4-00257-g7e35917775b8-ab9964412",
        "screen": (1080, 2400, 420),
        "mem_total_kb": 2_014_852,
        "storage_bytes": 6 * 10**9,
        "cpus": 4,
    },
}

PROFILE_NAMES = tuple(_PROFILES)
DEFAULT_PROFILE = "pixel7"


def load_profile(name: str, device_name: str) -> types.SimpleNamespace:
    """A profile's properties (with a serial number derived from ``device_name``) and figures."""
    if name not in _PROFILES:
        raise UserError(f"unknown emulator profile {name!r}; known: {', '.join(PROFILE_NAMES)}")
    spec = _PROFILES[name]
    props = dict(_COMMON)
    props.update(spec["props"])
    serial = "EMU" + hashlib.sha256(device_name.encode()).hexdigest()[:9].upper()
    props["ro.serialno"] = serial
    props["ro.boot.serialno"] = serial
    props["ro.harness.profile"] = name
    return types.SimpleNamespace(name=name, props=props, mem_total_kb=spec["mem_total_kb"],
                                 storage_bytes=spec["storage_bytes"], cpus=spec["cpus"], kernel=spec["kernel"],
                                 screen=spec["screen"])
