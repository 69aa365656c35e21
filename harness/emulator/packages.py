"""The emulated package manager's installs and uninstalls, with Android 14's checks and failures."""
from __future__ import annotations

import base64
import os
import shutil
import time

from harness import contract
from harness.emulator.apk import ApkError, build_apk, read_apk
from harness.emulator.state import Package

# The key build_apk signs with: what the control channel's installs use.
CONTROL_SIGNER = "harness-release-key"


def install_apk(device, data: bytes, label: str, flags=()) -> Package:
    """Install APK bytes on ``device`` as ``pm`` does; raises apk.ApkError (the Failure [...] text)."""
    tmp = f"/data/app/vmdl{abs(hash((label, len(data), time.time()))) % 10**9}.tmp/base.apk"
    info = read_apk(data, tmp)
    abilist = [a for a in device.props.get("ro.product.cpu.abilist", "").split(",") if a]
    primary = next((a for a in abilist if a in info.abis), None) if info.abis else None
    if info.abis and primary is None:
        raise ApkError("INSTALL_FAILED_NO_MATCHING_ABIS",
                       "INSTALL_FAILED_NO_MATCHING_ABIS: Failed to extract native libraries, res=-113")
    current = device.packages.get(info.package)
    _check_update(device, info, current, flags)
    device.apps.force_stop(info.package, quiet=True) if hasattr(device, "apps") else None
    now = time.time()
    rand = lambda: base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=") + "=="  # noqa: E731
    code_path = f"/data/app/~~{rand()}/{info.package}-{rand()}"
    pkg = Package(info.package, info.version_code, info.version_name or "", code_path,
                  first_install_time=current.first_install_time if current else now, last_update_time=now,
                  target_sdk=info.target_sdk, min_sdk=info.min_sdk, signer=info.signer, test_only=info.test_only,
                  debuggable=info.debuggable, abis=info.abis, primary_abi=primary)
    host_dir = device.fs.host(code_path)
    host_dir.mkdir(parents=True)
    os.chmod(host_dir.parent, 0o755)
    os.chmod(host_dir, 0o755)
    (host_dir / "base.apk").write_bytes(data)
    os.chmod(host_dir / "base.apk", 0o644)
    with device.lock:
        device.packages[info.package] = pkg
    if current is not None:
        shutil.rmtree(device.fs.host(current.code_path).parent, ignore_errors=True)
    if info.package == contract.APP_PACKAGE:
        device.fs.host(f"/sdcard/Android/data/{info.package}/files").mkdir(parents=True, exist_ok=True)
    device.logcat.log("PackageManager", f"Installed {info.package} versionCode={info.version_code}", pid=600)
    return pkg


def _check_update(device, info, current: Package | None, flags) -> None:
    """Refuse a downgrade, a test-only APK without -t, or another signer (PackageManagerService)."""
    if current is not None and info.version_code < current.version_code:
        # Downgrades need -d AND a debuggable app or build (PackageManagerServiceUtils.isDowngradePermitted).
        debuggable_build = device.props.get("ro.debuggable") == "1"
        if "-d" not in flags or not (debuggable_build or current.debuggable):
            raise ApkError("INSTALL_FAILED_VERSION_DOWNGRADE",
                           f"Downgrade detected: Update version code {info.version_code} is older than current "
                           f"{current.version_code}")
    if info.test_only and "-t" not in flags:
        raise ApkError("INSTALL_FAILED_TEST_ONLY", "installPackageLI")
    if current is not None and current.signer != info.signer:
        raise ApkError("INSTALL_FAILED_UPDATE_INCOMPATIBLE",
                       f"Existing package {info.package} signatures do not match newer version; ignoring!")


def install_package(device, name: str, version_code: int, version_name: str) -> Package:
    """Install a built test APK of this identity (the control channel's ``adb install``); a package
    signed by another key is uninstalled first."""
    current = device.packages.get(name)
    data = build_apk(name, version_code, version_name, signer=CONTROL_SIGNER)
    if current is not None and current.signer != read_apk(data, "x").signer:
        uninstall_package(device, name)
    return install_apk(device, data, "control", flags=("-r", "-d", "-t"))


def uninstall_package(device, name: str) -> bool:
    """Remove ``name``, its code and its /sdcard data; False if it is not installed."""
    with device.lock:
        pkg = device.packages.pop(name, None)
    if pkg is None:
        return False
    device.apps.force_stop(name, quiet=True)
    shutil.rmtree(device.fs.host(pkg.code_path).parent, ignore_errors=True)
    shutil.rmtree(device.fs.host(f"/sdcard/Android/data/{name}"), ignore_errors=True)
    return True
