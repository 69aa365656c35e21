"""The emulated phone's state: file system, properties, packages, battery/thermal, logcat.

The file system is a host directory (``<state dir>/fs``) that stands for ``/``. Device
paths are normalised lexically and can never leave that directory. As on a real phone
the shell user may write only below ``/data/local/tmp`` and ``/sdcard`` (also reached
as ``/storage/emulated/0`` and ``/storage/self/primary``); ``/proc/meminfo`` is
synthesised from the profile.
"""
from __future__ import annotations

import collections
import dataclasses
import errno
import os
import posixpath
import threading
import time
from pathlib import Path
from typing import Any

from harness import contract
from harness.emulator.faults import FaultBox, Faults
from harness.emulator.profiles import load_profile
from harness.errors import UserError

WRITABLE_PREFIXES = ("/data/local/tmp", "/sdcard")
_ALIASES = {"/storage/emulated/0": "/sdcard", "/storage/self/primary": "/sdcard", "/mnt/sdcard": "/sdcard"}
_SKELETON_DIRS = ("data/local/tmp", "sdcard/Android/data", "sdcard/Download", "system/bin", "proc",
                  "vendor", "storage")
VIRTUAL_FILES = ("/proc/meminfo",)
LOGCAT_RING_LINES = 20000
SHELL_UID = 2000
# Files on a device look owned by shell:shell (uid/gid 2000) or, on /sdcard, u0_a.. / ext_data_rw.
SDCARD_GID = 1078


def fs_error(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


class DeviceFS:
    """Maps device paths onto the host directory ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        for d in _SKELETON_DIRS:
            (self.root / d).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def normalize(path: str, cwd: str = "/") -> str:
        """An absolute, lexically normalised device path with storage aliases resolved."""
        if not path.startswith("/"):
            path = posixpath.join(cwd, path)
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        for alias, target in _ALIASES.items():
            if path == alias or path.startswith(alias + "/"):
                path = target + path[len(alias):]
        return path

    def host(self, path: str, cwd: str = "/") -> Path:
        """The host path behind device ``path`` (always inside ``root``)."""
        dev = self.normalize(path, cwd)
        return self.root / dev.lstrip("/") if dev != "/" else self.root

    def writable(self, path: str) -> bool:
        dev = self.normalize(path)
        return any(dev == p or dev.startswith(p + "/") for p in WRITABLE_PREFIXES)

    def check_writable(self, path: str) -> None:
        dev = self.normalize(path)
        if not self.writable(dev):
            code = errno.EROFS if dev.startswith(("/system", "/vendor", "/proc")) else errno.EACCES
            raise fs_error(code, path)

    def is_virtual(self, path: str) -> bool:
        return self.normalize(path) in VIRTUAL_FILES

    def used_bytes(self) -> int:
        """Bytes taken by files below the writable roots (what counts against the quota)."""
        total = 0
        for top in ("data", "sdcard"):
            for dirpath, _dirs, files in os.walk(self.root / top):
                for f in files:
                    try:
                        total += os.lstat(os.path.join(dirpath, f)).st_size
                    except OSError:
                        pass
        return total


class Logcat:
    """A ring buffer of log lines, printed in logcat's ``threadtime`` format.

    ``seq`` counts every line ever logged, so a follower (``logcat`` without ``-d``)
    can wait for the lines after the ones it has printed.
    """

    def __init__(self, max_lines: int = LOGCAT_RING_LINES):
        self._lines: collections.deque = collections.deque(maxlen=max_lines)
        self._cv = threading.Condition()
        self._seq = 0

    def log(self, tag: str, message: str, level: str = "I", pid: int = 1000, tid: int | None = None) -> None:
        now = time.time()
        with self._cv:
            for line in message.splitlines() or [""]:
                self._lines.append((now, pid, tid if tid is not None else pid, level, tag, line))
                self._seq += 1
            self._cv.notify_all()

    def clear(self) -> None:
        with self._cv:
            self._lines.clear()

    def entries(self, since: int | None = None, wait_s: float = 0.0) -> tuple[list, int]:
        """The lines logged after line number ``since`` (all kept lines if None), waiting up
        to ``wait_s`` for one to arrive; and the number to pass as ``since`` next time."""
        with self._cv:
            if since is not None and self._seq <= since and wait_s > 0:
                self._cv.wait_for(lambda: self._seq > since, timeout=wait_s)
            kept = list(self._lines)
            if since is not None:
                kept = kept[len(kept) - min(len(kept), self._seq - since):]
            return kept, self._seq

    def dump(self, tags: dict[str, str] | None = None, default_level: str = "V") -> str:
        """Lines whose tag passes the filter (tag -> minimum level; ``default_level`` for the rest)."""
        return "--------- beginning of main\n" + self.format(self.entries()[0], tags, default_level)

    @staticmethod
    def format(entries: list, tags: dict[str, str] | None = None, default_level: str = "V") -> str:
        order = "VDIWEFS"
        out = []
        for ts, pid, tid, level, tag, msg in entries:
            minimum = (tags or {}).get(tag, default_level)
            if minimum == "S" or order.index(level) < order.index(minimum):
                continue
            stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
            out.append(f"{stamp} {pid:5d} {tid:5d} {level} {tag:<8}: {msg}\n")
        return "".join(out)


@dataclasses.dataclass
class DeviceState:
    """Scriptable state: battery, thermal status (0-6) and free storage.

    ``thermal_cool_every_queries``: when > 0, the thermal status drops by one level every
    that many ``dumpsys thermalservice`` queries (a phone cooling down between runs).
    """

    battery_level: int = 85
    battery_temp_tenths_c: int = 290
    charging: bool = True
    thermal_status: int = 0
    thermal_cool_every_queries: int = 0
    # What the app reads from PowerManager.getThermalHeadroom (None: no answer, as below API 30).
    thermal_headroom: float | None = None
    quota_bytes: int | None = None

    def update(self, values: dict[str, Any]) -> None:
        fields = {f.name for f in dataclasses.fields(self)}
        for key, value in values.items():
            if key not in fields:
                raise UserError(f"unknown device state {key!r}; known: {', '.join(sorted(fields))}")
            if key == "thermal_status" and not (isinstance(value, int) and 0 <= value <= 6):
                raise UserError(f"thermal_status must be an integer 0-6, got {value!r}")
            if key == "thermal_headroom" and not (value is None or (isinstance(value, (int, float))
                                                                    and not isinstance(value, bool) and value >= 0)):
                raise UserError(f"thermal_headroom must be a number >= 0 or null, got {value!r}")
            if key == "battery_level" and not (isinstance(value, int) and 0 <= value <= 100):
                raise UserError(f"battery_level must be an integer 0-100, got {value!r}")
            setattr(self, key, value)


@dataclasses.dataclass
class Package:
    name: str
    version_code: int
    version_name: str
    code_path: str


_SYSTEM_PACKAGES = ("android", "com.android.shell", "com.android.settings", "com.android.systemui",
                    "com.google.android.gms")


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
        self.logcat = Logcat()
        self.faults = FaultBox(Faults())
        if faults:
            self.faults.update(faults)
        self.state = DeviceState(quota_bytes=None)
        if state:
            self.state.update(state)
        self.lock = threading.RLock()
        self.thermal_queries = 0
        self.logcat_reads = {"dump": 0, "follow": 0}   # logcat calls that exited / followed
        self.packages: dict[str, Package] = {}
        self.boot_time = time.time()
        self.connections: set = set()
        self.settings: dict[tuple[str, str], str] = {
            ("global", "stay_on_while_plugged_in"): "0", ("global", "airplane_mode_on"): "0",
            ("system", "screen_off_timeout"): "60000", ("global", "adb_enabled"): "1"}
        # hostrun_cmd: the argv prefix of the host reference runner (tests may swap it).
        self.hostrun_cmd = hostrun_cmd
        if app_version_code is not None:
            self.install_package(contract.APP_PACKAGE, app_version_code, app_version_name)
        from harness.emulator.app import AppManager  # app imports device types

        self.apps = AppManager(self)
        self.logcat.log("ActivityManager", "System now ready", pid=600)

    # -- packages -------------------------------------------------------------------------
    def install_package(self, name: str, version_code: int, version_name: str) -> Package:
        suffix = abs(hash((name, version_code))) % 10**8
        pkg = Package(name, version_code, version_name, f"/data/app/~~{suffix:08d}==/{name}-1/base.apk")
        with self.lock:
            self.packages[name] = pkg
        if name == contract.APP_PACKAGE:
            self.fs.host(f"/sdcard/Android/data/{name}/files").mkdir(parents=True, exist_ok=True)
        self.logcat.log("PackageManager", f"Installed {name} versionCode={version_code}", pid=1500)
        return pkg

    def uninstall_package(self, name: str) -> bool:
        with self.lock:
            pkg = self.packages.pop(name, None)
        if pkg is None:
            return False
        self.apps.force_stop(name)
        import shutil

        shutil.rmtree(self.fs.host(f"/sdcard/Android/data/{name}"), ignore_errors=True)
        return True

    # -- state -----------------------------------------------------------------------------
    def query_thermal_status(self) -> int:
        """The status a ``dumpsys thermalservice`` query sees now (and advance the cooling script)."""
        with self.lock:
            status = self.state.thermal_status
            self.thermal_queries += 1
            every = self.state.thermal_cool_every_queries
            if every and self.thermal_queries % every == 0 and self.state.thermal_status > 0:
                self.state.thermal_status -= 1
            return status

    def quota_total_bytes(self) -> int:
        return self.state.quota_bytes if self.state.quota_bytes is not None else self.profile.storage_bytes

    def free_bytes(self) -> int:
        return max(0, self.quota_total_bytes() - self.fs.used_bytes())

    def meminfo(self) -> str:
        total = self.profile.mem_total_kb
        free = total // 7
        avail = total // 3
        rows = [("MemTotal", total), ("MemFree", free), ("MemAvailable", avail), ("Buffers", 6_012),
                ("Cached", total // 4), ("SwapCached", 0), ("Active", total // 5), ("Inactive", total // 6),
                ("SwapTotal", total // 2), ("SwapFree", total // 2 - 1024), ("Dirty", 108),
                ("AnonPages", total // 6), ("Mapped", total // 12), ("Shmem", 21_000)]
        return "".join(f"{k + ':':<16}{v:>8} kB\n" for k, v in rows)

    def drop_connections(self) -> int:
        """Pull the cable on every open link; the listener stays, so adb re-attaches."""
        conns = list(self.connections)
        for c in conns:
            c.drop("dropped by control channel or fault")
        return len(conns)

    def count_logcat(self, kind: str) -> None:
        with self.lock:
            self.logcat_reads[kind] += 1

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
                "logcat_reads": dict(self.logcat_reads),
                "app_running": self.apps.running_pids(),
            }
