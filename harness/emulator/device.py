"""One emulated phone: its parts (files, logs, state, packages, processes, the app) put together.

The parts live in modules of their own: fs.py (the file system and its permissions),
logd.py (logcat's buffers), state.py (scriptable state, packages, processes), procfs.py
(the synthesised /proc files), packages.py (installs) and app.py (the benchmark app).
"""
from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

from harness import contract
from harness.emulator import packages, procfs
from harness.emulator.apk import build_apk
from harness.emulator.app import AppManager
from harness.emulator.faults import FaultBox, Faults
from harness.emulator.fs import DeviceFS
from harness.emulator.logd import Logcat
from harness.emulator.profiles import load_profile
from harness.emulator.state import SYSTEM_PROCS, DeviceState, Package, Proc


class Device:
    """Everything one emulated phone knows; shared by its connections, shell and app."""

    def __init__(self, state_dir: Path, name: str, profile: str = "pixel7", *,
                 app_version_code: int | None = contract.APP_VERSION_CODE,
                 app_version_name: str = contract.APP_VERSION_NAME,
                 hostrun_cmd: list[str] | None = None,
                 faults: dict | None = None, state: dict | None = None):
        self.name = name
        self.state_dir = Path(state_dir)
        self.profile = load_profile(profile, name)
        self.props: dict[str, str] = dict(self.profile.props)
        self.fs = DeviceFS(self.state_dir / "fs")
        self.fs.virtual = self.virtual_text
        self.logcat = Logcat()
        self.faults = FaultBox(Faults())
        if faults:
            self.faults.update(faults)
        self.state = DeviceState(quota_bytes=None)
        if state:
            self.state.update(state)
        self.lock = threading.RLock()
        self.thermal_queries = 0
        self.thermal_override: int | None = None      # cmd thermalservice override-status N
        self.logcat_reads = {"dump": 0, "follow": 0}   # logcat calls that exited / followed
        self.packages: dict[str, Package] = {}
        self.boot_time = time.time()
        self.connections: set = set()
        self.settings: dict[tuple[str, str], str] = {
            ("global", "stay_on_while_plugged_in"): "0", ("global", "airplane_mode_on"): "0",
            ("system", "screen_off_timeout"): "60000", ("global", "adb_enabled"): "1"}
        self.procs: dict[int, Proc] = {pid: Proc(pid, n, u, pp, self.boot_time) for pid, n, u, pp in SYSTEM_PROCS}
        self._next_pid = 5000
        # hostrun_cmd: the argv prefix of the host reference runner (tests may swap it).
        self.hostrun_cmd = hostrun_cmd
        if app_version_code is not None:
            data = build_apk(contract.APP_PACKAGE, app_version_code, app_version_name,
                             abis=("arm64-v8a", "x86_64"))
            self.install_apk(data, "/data/app/preinstalled.apk", flags=("-r", "-d", "-t"))
        self.apps = AppManager(self)
        self.logcat.log("ActivityManager", "System now ready", pid=600)

    # -- processes ---------------------------------------------------------------------------
    def alloc_pid(self, name: str, user: str = "shell", ppid: int = 731) -> int:
        with self.lock:
            self._next_pid += 1
            if self._next_pid > 32000:
                self._next_pid = 5001
            pid = self._next_pid
            self.procs[pid] = Proc(pid, name, user, ppid, time.time())
            return pid

    def free_pid(self, pid: int) -> None:
        with self.lock:
            self.procs.pop(pid, None)

    def proc_entries(self) -> list[str]:
        return ["meminfo", "version", "uptime", "loadavg", "self"] + [str(p) for p in sorted(self.procs)]

    def virtual_text(self, dev: str) -> str | None:
        """Text of a synthesised /proc file, or None."""
        return procfs.virtual_text(self, dev)

    # -- packages -------------------------------------------------------------------------
    def install_apk(self, data: bytes, label: str, flags=()) -> Package:
        """Install APK bytes as ``pm`` does; raises apk.ApkError (the Failure [...] text)."""
        return packages.install_apk(self, data, label, flags)

    def install_package(self, name: str, version_code: int, version_name: str) -> Package:
        """Control channel: install a package of this identity (a built test APK, as if ``adb install``)."""
        return packages.install_package(self, name, version_code, version_name)

    def uninstall_package(self, name: str) -> bool:
        return packages.uninstall_package(self, name)

    # -- state -----------------------------------------------------------------------------
    def query_thermal_status(self) -> int:
        """The status a ``dumpsys thermalservice`` query sees now (and advance the cooling script)."""
        with self.lock:
            if self.thermal_override is not None:
                return self.thermal_override
            status = self.state.thermal_status
            self.thermal_queries += 1
            every = self.state.thermal_cool_every_queries
            if every and self.thermal_queries % every == 0 and self.state.thermal_status > 0:
                self.state.thermal_status -= 1
            return status

    def current_thermal_status(self) -> int:
        """What PowerManager.getCurrentThermalStatus answers now (no side effects)."""
        return self.thermal_override if self.thermal_override is not None else self.state.thermal_status

    def quota_total_bytes(self) -> int:
        return self.state.quota_bytes if self.state.quota_bytes is not None else self.profile.storage_bytes

    def free_bytes(self) -> int:
        return max(0, self.quota_total_bytes() - self.fs.used_bytes())

    def meminfo(self) -> str:
        return procfs.meminfo(self.profile.mem_total_kb)

    def drop_connections(self) -> int:
        """Pull the cable on every open link; the listener stays, so adb re-attaches."""
        conns = list(self.connections)
        for c in conns:
            c.drop("dropped by control channel or fault")
        return len(conns)

    def count_logcat(self, kind: str) -> None:
        with self.lock:
            self.logcat_reads[kind] += 1

    def set_state(self, values: dict) -> None:
        with self.lock:
            self.state.update(values)
        self.apps.state_changed()

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "name": self.name,
                "profile": self.profile.name,
                "state": dataclasses.asdict(self.state),
                "faults": self.faults.snapshot().as_dict(),
                "packages": {k: dataclasses.asdict(v) for k, v in self.packages.items()},
                "connections": len(self.connections),
                "thermal_queries": self.thermal_queries,
                "thermal_override": self.thermal_override,
                "logcat_reads": dict(self.logcat_reads),
                "app_running": self.apps.running_pids(),
                "settings": {f"{ns}/{k}": v for (ns, k), v in self.settings.items()},
            }
