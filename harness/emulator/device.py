"""The emulated phone's state: file system, properties, packages, battery/thermal, logcat.

The file system is a host directory (``<state dir>/fs``) that stands for ``/``. Device
paths are normalised lexically and can never leave that directory. As on a real phone
the shell user may write only below ``/data/local/tmp`` and ``/sdcard`` (also reached
as ``/storage/emulated/0`` and ``/storage/self/primary``); ``/proc/meminfo`` is
synthesised from the profile.
"""
from __future__ import annotations

import base64
import collections
import dataclasses
import errno
import os
import posixpath
import re
import shutil
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
# The directories every phone has, with Android 14's modes (adbd's shell sees these):
# /data is system:system 0771, /data/local root:root 0751, /data/local/tmp shell:shell 0771,
# /data/app system:system 0771 (shell may pass through but not list them).
SKELETON_DIRS = {"data": 0o771, "data/local": 0o751, "data/local/tmp": 0o771, "data/app": 0o771,
                 "sdcard": 0o771, "sdcard/Android": 0o771, "sdcard/Android/data": 0o771, "sdcard/Download": 0o771,
                 "system": 0o755, "system/bin": 0o755, "proc": 0o555, "vendor": 0o755, "storage": 0o711}
VIRTUAL_FILES = ("/proc/meminfo",)
LOGCAT_RING_LINES = 20000
SHELL_UID = 2000
APP_UID = 10234
# Files on a device look owned by shell:shell (uid/gid 2000) or, on /sdcard, u0_a.. / ext_data_rw.
SDCARD_GID = 1078


def fs_error(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


class DeviceFS:
    """Maps device paths onto the host directory ``root``.

    Permissions (Android 14 DAC as seen by two users): the shell user owns what it creates
    under /data/local/tmp and uses the owner bits there, the "other" bits elsewhere; the
    benchmark app (uid u0_a234) is "other" to every shell file, so it may open a file only
    with o+r on it and o+x on every directory above it (SELinux lets untrusted_app read
    shell_data_file, AOSP private/untrusted_app_all.te); on /sdcard (FUSE, scoped storage)
    the app reaches only its own Android/data/<package> directory.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        for d, mode in SKELETON_DIRS.items():
            p = self.root / d
            p.mkdir(parents=True, exist_ok=True)
            os.chmod(p, mode)
        self.virtual = lambda dev_path: None      # set by Device: /proc files

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

    def is_virtual(self, path: str, cwd: str = "/") -> bool:
        return self.virtual(self.normalize(path, cwd)) is not None

    def exists(self, path: str, cwd: str = "/") -> bool:
        return self.is_virtual(path, cwd) or os.path.lexists(self.host(path, cwd))

    # -- permissions ---------------------------------------------------------------------------
    @staticmethod
    def _owned_by_shell(dev: str) -> bool:
        return dev == "/data/local/tmp" or dev.startswith("/data/local/tmp/")

    def _mode(self, dev: str) -> int | None:
        try:
            return os.lstat(self.host(dev)).st_mode
        except OSError:
            return None

    def allowed(self, dev: str, who: str, want: str) -> bool:
        """May ``who`` ("shell" or "app") ``want`` ("r", "w", "x") on device path ``dev``?"""
        dev = self.normalize(dev)
        if dev == "/sdcard" or dev.startswith("/sdcard/"):
            if who == "shell":
                return True
            own = "/sdcard/Android/data/" + contract.APP_PACKAGE
            return dev == own or dev.startswith(own + "/") or (want == "x" and own.startswith(dev + "/"))
        if self.virtual(dev) is not None:
            return want == "r"
        mode = self._mode(dev)
        if mode is None:
            return False
        shift = 6 if who == "shell" and self._owned_by_shell(dev) else 0
        bit = {"r": 4, "w": 2, "x": 1}[want] << shift
        return bool(mode & bit)

    def traversable(self, dev: str, who: str) -> bool:
        """Every directory above ``dev`` may be searched (x) by ``who``."""
        dev = self.normalize(dev)
        parts = dev.strip("/").split("/")[:-1]
        cur = ""
        for part in parts:
            cur += "/" + part
            if not self.allowed(cur, who, "x"):
                return False
        return True

    def read_bytes(self, dev: str, who: str = "shell") -> bytes:
        """A file's bytes as ``who`` may read them (EACCES, ENOENT, EISDIR as on a phone)."""
        dev = self.normalize(dev)
        text = self.virtual(dev)
        if text is not None:
            return text.encode()
        host = self.host(dev)
        if not os.path.lexists(host):
            raise fs_error(errno.ENOENT, dev)
        if not self.traversable(dev, who) or not self.allowed(dev, who, "r"):
            raise fs_error(errno.EACCES, dev)
        if host.is_dir():
            raise fs_error(errno.EISDIR, dev)
        return host.read_bytes()

    def dir_error(self, dev: str, who: str = "shell") -> str | None:
        """Why ``cd dev`` fails, or None."""
        host = self.host(dev)
        if not host.exists():
            return "No such file or directory" if self.traversable(dev, who) else "Permission denied"
        if not host.is_dir():
            return "Not a directory"
        if not self.traversable(dev, who) or not self.allowed(dev, who, "x"):
            return "Permission denied"
        return None

    def listable(self, dev: str, who: str = "shell") -> bool:
        return self.traversable(dev, who) and self.allowed(dev, who, "r") and self.allowed(dev, who, "x")

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
    """logd's ring buffers (main, system, crash), printed as logcat does.

    Entries are (time, pid, tid, level, tag, message, buffer). ``seq`` counts every line ever
    logged, so a follower (``logcat`` without ``-d``) can wait for the lines after the ones
    it has printed. Which buffer a line goes to follows Android: app logs to main,
    ActivityManager/PackageManager to system, ``FATAL EXCEPTION`` (RuntimeInit) to crash.
    """

    BUFFERS = ("main", "system", "crash")
    _SYSTEM_TAGS = {"ActivityManager", "PackageManager", "ActivityTaskManager", "WindowManager", "PowerManagerService",
                    "lowmemorykiller", "lmkd", "ThermalManagerService"}

    def __init__(self, max_lines: int = LOGCAT_RING_LINES):
        self._lines: collections.deque = collections.deque(maxlen=max_lines)
        self._cv = threading.Condition()
        self._seq = 0

    def log(self, tag: str, message: str, level: str = "I", pid: int = 1000, tid: int | None = None,
            buffer: str | None = None) -> None:
        now = time.time()
        buf = buffer or ("system" if tag in self._SYSTEM_TAGS else "main")
        with self._cv:
            for line in message.splitlines() or [""]:
                self._lines.append((now, pid, tid if tid is not None else pid, level, tag, line, buf))
                self._seq += 1
            self._cv.notify_all()

    def clear(self, buffers=None) -> None:
        with self._cv:
            if buffers is None:
                self._lines.clear()
            else:
                kept = [e for e in self._lines if e[6] not in buffers]
                self._lines.clear()
                self._lines.extend(kept)

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

    def dump(self) -> str:
        return LogcatPrinter().render(self.entries()[0])


class LogcatPrinter:
    """Filters and formats entries as Android 14's logcat (``-v``, ``-b``, ``-s``, ``TAG:L``,
    ``-e``, ``--pid``); prints ``--------- beginning of <buffer>`` once per buffer, before
    its first printed entry (logcat.cpp ``PrintDividers``)."""

    ORDER = "VDIWEFS"
    FORMATS = ("threadtime", "brief", "time", "tag", "process", "raw")

    def __init__(self, fmt: str = "threadtime", buffers=("main", "system", "crash"), tags: dict | None = None,
                 default_level: str = "V", regex=None, pid: int | None = None):
        self.fmt, self.buffers, self.tags = fmt, set(buffers), tags or {}
        self.default_level, self.regex, self.pid = default_level, regex, pid
        self.started: set = set()
        self.last = None

    def accepts(self, e) -> bool:
        _ts, pid, _tid, level, tag, msg, buf = e
        if buf not in self.buffers:
            return False
        minimum = self.tags.get(tag, self.default_level)
        if minimum == "S" or self.ORDER.index(level) < self.ORDER.index(minimum):
            return False
        if self.pid is not None and pid != self.pid:
            return False
        return self.regex is None or bool(self.regex.search(msg))

    def line(self, e) -> str:
        ts, pid, tid, level, tag, msg, _buf = e
        stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
        if self.fmt == "brief":
            return f"{level}/{tag:<8}({pid:5d}): {msg}\n"
        if self.fmt == "time":
            return f"{stamp} {level}/{tag:<8}({pid:5d}): {msg}\n"
        if self.fmt == "tag":
            return f"{level}/{tag:<8}: {msg}\n"
        if self.fmt == "process":
            return f"{level}({pid:5d}) {msg}  ({tag})\n"
        if self.fmt == "raw":
            return f"{msg}\n"
        return f"{stamp} {pid:5d} {tid:5d} {level} {tag:<8}: {msg}\n"

    def render(self, entries) -> str:
        out = []
        for e in entries:
            if not self.accepts(e):
                continue
            buf = e[6]
            if buf != self.last:
                if buf not in self.started:
                    out.append(f"--------- beginning of {buf}\n")
                self.started.add(buf)
                self.last = buf
            out.append(self.line(e))
        return "".join(out)


@dataclasses.dataclass
class DeviceState:
    """Scriptable state: battery, thermal status (0-6), storage, screen and keyguard.

    ``thermal_cool_every_queries``: when > 0, the thermal status drops by one level every
    that many ``dumpsys thermalservice`` queries (a phone cooling down between runs).
    ``screen`` "on"/"off" and ``locked``: while the screen is off or the keyguard shows,
    the benchmark app runs slowed by ``background_slowdown`` (a model of a background-group
    app, not a measurement). ``secure_lock``: a PIN is set, so ``wm dismiss-keyguard`` does
    not unlock.
    """

    battery_level: int = 85
    battery_temp_tenths_c: int = 290
    charging: bool = True
    thermal_status: int = 0
    thermal_cool_every_queries: int = 0
    # What the app reads from PowerManager.getThermalHeadroom (None: no answer, as below API 30).
    thermal_headroom: float | None = None
    quota_bytes: int | None = None
    screen: str = "on"
    locked: bool = False
    secure_lock: bool = False
    background_slowdown: float = 3.0

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
            if key == "screen" and value not in ("on", "off"):
                raise UserError(f"screen must be 'on' or 'off', got {value!r}")
            if key in ("locked", "secure_lock", "charging") and not isinstance(value, bool):
                raise UserError(f"{key} must be true or false, got {value!r}")
            if key == "background_slowdown" and not (isinstance(value, (int, float)) and value >= 1):
                raise UserError(f"background_slowdown must be a number >= 1, got {value!r}")
            setattr(self, key, value)

    @property
    def interactive(self) -> bool:
        """The user could see the app: screen on and no keyguard."""
        return self.screen == "on" and not self.locked


@dataclasses.dataclass
class Package:
    name: str
    version_code: int
    version_name: str
    code_path: str                 # /data/app/~~X==/pkg-Y==
    first_install_time: float = 0.0
    last_update_time: float = 0.0
    target_sdk: int = 35
    min_sdk: int = 24
    signer: str | None = None
    test_only: bool = False
    debuggable: bool = False
    abis: tuple = ()
    primary_abi: str | None = None

    @property
    def base_apk(self) -> str:
        return self.code_path + "/base.apk"


@dataclasses.dataclass
class Proc:
    pid: int
    name: str
    user: str = "root"
    ppid: int = 1
    started: float = 0.0
    rss_kb: int = 4_000


# What `ps -A` shows besides the shells and the app (a small slice of a real phone's list).
_SYSTEM_PROCS = ((1, "init", "root", 0), (2, "kthreadd", "root", 0), (289, "ueventd", "root", 1),
                 (402, "logd", "logd", 1), (415, "servicemanager", "system", 1), (561, "lmkd", "lmkd", 1),
                 (600, "system_server", "system", 690), (690, "zygote64", "root", 1),
                 (702, "surfaceflinger", "system", 1), (731, "adbd", "shell", 1), (888, "thermal-hal", "system", 1),
                 (1523, "com.android.systemui", "u0_a186", 690))


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
        self.procs: dict[int, Proc] = {pid: Proc(pid, n, u, pp, self.boot_time) for pid, n, u, pp in _SYSTEM_PROCS}
        self._next_pid = 5000
        # hostrun_cmd: the argv prefix of the host reference runner (tests may swap it).
        self.hostrun_cmd = hostrun_cmd
        if app_version_code is not None:
            from harness.emulator.apk import build_apk

            data = build_apk(contract.APP_PACKAGE, app_version_code, app_version_name,
                             abis=("arm64-v8a", "x86_64"))
            self.install_apk(data, "/data/app/preinstalled.apk", flags=("-r", "-d", "-t"))
        from harness.emulator.app import AppManager  # app imports device types

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

    # -- virtual files ------------------------------------------------------------------------
    def virtual_text(self, dev: str) -> str | None:
        """Text of a synthesised /proc file, or None."""
        if not dev.startswith("/proc/"):
            return None
        if dev == "/proc/meminfo":
            return self.meminfo()
        if dev == "/proc/version":
            return (f"Linux version {self.profile.kernel} (build-user@build-host) (Android (10087095, +pgo, +bolt, "
                    "+lto, -mlgo, based on r487747c) clang version 17.0.2) #1 SMP PREEMPT Mon Jan 1 00:00:00 UTC 2024\n")
        if dev == "/proc/uptime":
            up = time.time() - self.boot_time
            return f"{up:.2f} {up * 7:.2f}\n"
        if dev == "/proc/loadavg":
            return f"1.52 1.37 1.29 2/1873 {self._next_pid}\n"
        m = re.fullmatch(r"/proc/(\d+|self)/(status|cmdline|stat)", dev)
        if not m:
            return None
        if m.group(1) == "self":
            return self._status_text(Proc(self._next_pid + 1, "cat", "shell", 731, time.time(), 3_212), m.group(2))
        pid = int(m.group(1))
        proc = self.procs.get(pid)
        if proc is None:
            app = self.apps.process(pid) if hasattr(self, "apps") else None
            if app is None:
                return None
            proc = app
        return self._status_text(proc, m.group(2))

    def _status_text(self, proc, what: str) -> str:
        rss, hwm = self.apps.memory_kb(proc.pid) if hasattr(self, "apps") and self.apps.process(proc.pid) \
            else (proc.rss_kb, proc.rss_kb)
        if what == "cmdline":
            return proc.name + "\0"
        if what == "stat":
            return f"{proc.pid} ({proc.name[-15:]}) S {proc.ppid} 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 0 0 {rss // 4}\n"
        uid = {"root": 0, "shell": 2000, "system": 1000}.get(proc.user, APP_UID)
        return (f"Name:\t{proc.name[-15:]}\nUmask:\t0077\nState:\tS (sleeping)\nTgid:\t{proc.pid}\nNgid:\t0\n"
                f"Pid:\t{proc.pid}\nPPid:\t{proc.ppid}\nTracerPid:\t0\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
                f"Gid:\t{uid}\t{uid}\t{uid}\t{uid}\nFDSize:\t128\nVmPeak:\t{max(hwm, rss) * 4 + 1_000_000:8d} kB\n"
                f"VmSize:\t{rss * 4 + 1_000_000:8d} kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\n"
                f"VmHWM:\t{hwm:8d} kB\nVmRSS:\t{rss:8d} kB\nRssAnon:\t{rss * 2 // 3:8d} kB\n"
                f"RssFile:\t{rss // 3:8d} kB\nRssShmem:\t       0 kB\nVmData:\t{rss:8d} kB\n"
                f"VmStk:\t     136 kB\nVmExe:\t      24 kB\nVmLib:\t  150000 kB\nVmPTE:\t     800 kB\n"
                f"VmSwap:\t       0 kB\nThreads:\t{12 if proc.user.startswith('u0_') else 1}\n")

    # -- packages -------------------------------------------------------------------------
    def install_apk(self, data: bytes, label: str, flags=()) -> Package:
        """Install APK bytes as ``pm`` does; raises apk.ApkError (the Failure [...] text)."""
        from harness.emulator.apk import ApkError, read_apk

        tmp = f"/data/app/vmdl{abs(hash((label, len(data), time.time()))) % 10**9}.tmp/base.apk"
        info = read_apk(data, tmp)
        abilist = [a for a in self.props.get("ro.product.cpu.abilist", "").split(",") if a]
        primary = next((a for a in abilist if a in info.abis), None) if info.abis else None
        if info.abis and primary is None:
            raise ApkError("INSTALL_FAILED_NO_MATCHING_ABIS",
                           "INSTALL_FAILED_NO_MATCHING_ABIS: Failed to extract native libraries, res=-113")
        current = self.packages.get(info.package)
        if current is not None and info.version_code < current.version_code:
            # Downgrades need -d AND a debuggable app or build (PackageManagerServiceUtils.isDowngradePermitted).
            debuggable_build = self.props.get("ro.debuggable") == "1"
            if "-d" not in flags or not (debuggable_build or current.debuggable):
                raise ApkError("INSTALL_FAILED_VERSION_DOWNGRADE",
                               f"Downgrade detected: Update version code {info.version_code} is older than current "
                               f"{current.version_code}")
        if info.test_only and "-t" not in flags:
            raise ApkError("INSTALL_FAILED_TEST_ONLY", "installPackageLI")
        if current is not None and current.signer != info.signer:
            raise ApkError("INSTALL_FAILED_UPDATE_INCOMPATIBLE",
                           f"Existing package {info.package} signatures do not match newer version; ignoring!")
        self.apps.force_stop(info.package, quiet=True) if hasattr(self, "apps") else None
        now = time.time()
        rand = lambda: base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=") + "=="  # noqa: E731
        code_path = f"/data/app/~~{rand()}/{info.package}-{rand()}"
        pkg = Package(info.package, info.version_code, info.version_name or "", code_path,
                      first_install_time=current.first_install_time if current else now, last_update_time=now,
                      target_sdk=info.target_sdk, min_sdk=info.min_sdk, signer=info.signer, test_only=info.test_only,
                      debuggable=info.debuggable, abis=info.abis, primary_abi=primary)
        host_dir = self.fs.host(code_path)
        host_dir.mkdir(parents=True)
        os.chmod(host_dir.parent, 0o755)
        os.chmod(host_dir, 0o755)
        (host_dir / "base.apk").write_bytes(data)
        os.chmod(host_dir / "base.apk", 0o644)
        with self.lock:
            self.packages[info.package] = pkg
        if current is not None:
            shutil.rmtree(self.fs.host(current.code_path).parent, ignore_errors=True)
        if info.package == contract.APP_PACKAGE:
            self.fs.host(f"/sdcard/Android/data/{info.package}/files").mkdir(parents=True, exist_ok=True)
        self.logcat.log("PackageManager", f"Installed {info.package} versionCode={info.version_code}", pid=600)
        return pkg

    def install_package(self, name: str, version_code: int, version_name: str) -> Package:
        """Control channel: install a package of this identity (a built test APK, as if ``adb install``)."""
        from harness.emulator.apk import build_apk

        current = self.packages.get(name)
        signer = "harness-release-key"
        data = build_apk(name, version_code, version_name, signer=signer)
        if current is not None and current.signer != self._signer_of(data):
            self.uninstall_package(name)
        return self.install_apk(data, "control", flags=("-r", "-d", "-t"))

    @staticmethod
    def _signer_of(data: bytes) -> str | None:
        from harness.emulator.apk import read_apk

        return read_apk(data, "x").signer

    def uninstall_package(self, name: str) -> bool:
        with self.lock:
            pkg = self.packages.pop(name, None)
        if pkg is None:
            return False
        self.apps.force_stop(name, quiet=True)
        shutil.rmtree(self.fs.host(pkg.code_path).parent, ignore_errors=True)
        shutil.rmtree(self.fs.host(f"/sdcard/Android/data/{name}"), ignore_errors=True)
        return True

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
