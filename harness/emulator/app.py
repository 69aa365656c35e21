"""The emulated benchmark app's process (docs/app-contract.md section 3): launched, tracked, killed.

``am start -n dev.harness.benchmark/.BenchmarkActivity --es spec_path P --es run_id R``
starts a run in the app's process as the real app's worker thread does (app_run.py: read
the spec, run the host reference runner, publish the result, log HARNESS_DONE).

Process lifetime (Android 14, "Processes and app lifecycle"): the real activity only calls
``finishAndRemoveTask()``, so the app's process stays (cached) after HARNESS_DONE. Here too:
``pidof`` answers until ``am force-stop``, ``am start -S``, a new install, or a modelled
low-memory kill (control op ``kill_app``, logged as lmkd does). A second ``am start``
without ``-S`` while a run is going brings its task to the front and delivers nothing.

Speed: the app's work takes ``factor`` times longer, factor = fault ``slow_factor`` x state
``background_slowdown`` while the screen is off or locked. The runner reads it from the
state file named by $HARNESS_DEVICE_STATE_FILE (with the screen/interactivity state) and
waits (factor - 1) x each interpreter call's duration inside that call's timed region
(harness/devices/host/reference_app.py ``_Stretched``), so wall_ms, prefill_ms and decode_ms grow as a real
slowdown's would. Thermal headroom follows PowerManager.getThermalHeadroom:
NaN (null in the result) when asked again within 500 ms of the last answered call.
"""
from __future__ import annotations

import threading
import time

from harness import contract
from harness.emulator.app_run import AppRun

APP_USER = "u0_a234"
# PowerManager.MINIMUM_HEADROOM_TIME_MILLIS (AOSP core/java/android/os/PowerManager.java).
HEADROOM_MIN_INTERVAL_S = 0.5
# Modelled launch times for `am start -W` (the emulated activity itself starts at once).
LAUNCH_S = {"COLD": 0.15, "WARM": 0.08, "HOT": 0.03}


class AppProcess:
    """The app's Linux process as ``ps``/``pidof``/``/proc/<pid>/status`` see it."""

    def __init__(self, pid: int, package: str):
        self.pid = pid
        self.name = package
        self.package = package
        self.user = APP_USER
        self.ppid = 690
        self.started = time.time()
        self.rss_kb = 98_000
        self.hwm_kb = 98_000
        self.run: AppRun | None = None          # the activity's run while it works
        self.last_headroom_ok = -1e9            # PowerManager.mLastHeadroomUpdate


class AppManager:
    """Starts, tracks and kills the emulated app's process and runs on one device."""

    def __init__(self, device):
        self.device = device
        self._lock = threading.RLock()
        self.procs: dict[str, AppProcess] = {}

    # -- activity manager entry points -------------------------------------------------------
    def start(self, component: str, extras: dict[str, str]) -> dict:
        """Launch ``component``. Returns {"result": "ok"|"class_not_found"|"task_to_front",
        "launch_state": COLD|WARM|HOT, "who": "pkg/.Act"}."""
        pkg, _, activity = component.partition("/")
        full = pkg + activity if activity.startswith(".") else activity
        if pkg not in self.device.packages or full != contract.APP_PACKAGE + contract.APP_ACTIVITY:
            return {"result": "class_not_found", "class": f"{pkg}/{full}"}
        with self._lock:
            proc = self.procs.get(pkg)
            if proc is not None and proc.run is not None and not proc.run.done.is_set():
                return {"result": "task_to_front", "launch_state": "HOT"}
            state = "WARM" if proc is not None else "COLD"
            if proc is None:
                proc = AppProcess(self.device.alloc_pid(pkg, APP_USER, 690), pkg)
                self.device.free_pid(proc.pid)       # listed through self.procs, not as a shell process
                self.procs[pkg] = proc
                self.device.logcat.log("ActivityManager", f"Start proc {proc.pid}:{pkg}/u0a234 for top-activity "
                                       f"{{{component}}}", pid=600)
            run = AppRun(self, proc, extras.get(contract.EXTRA_RUN_ID), extras.get(contract.EXTRA_SPEC_PATH))
            proc.run = run
        run.start()
        return {"result": "ok", "launch_state": state}

    def force_stop(self, package: str, quiet: bool = False) -> None:
        proc = self._remove(package)
        if proc is not None and not quiet:
            self.device.logcat.log("ActivityManager", f"Force stopping {package} appid=10234 user=0: from pid "
                                   f"{self.device._next_pid}", pid=600)

    def kill(self, package: str, reason: str = "lmk") -> bool:
        """A low-memory kill: lmkd's line and ActivityManager's "has died"; no result, no done line."""
        proc = self._remove(package)
        if proc is None:
            return False
        self.device.logcat.log("lowmemorykiller", f"Kill '{package}' ({proc.pid}), uid 10234, oom_score_adj 905 to "
                               f"free {proc.rss_kb}kB rss, 0kB swap; reason: low watermark is breached", pid=561,
                               buffer="main")
        self.device.logcat.log("ActivityManager", f"Process {package} (pid {proc.pid}) has died: cch+5 CEM ", pid=600)
        return True

    def _remove(self, package: str) -> AppProcess | None:
        with self._lock:
            proc = self.procs.pop(package, None)
        if proc is not None and proc.run is not None:
            proc.run.stop()
        return proc

    def forget(self, proc: AppProcess) -> None:
        """``proc`` died by itself (a crash): it is no longer the package's process."""
        with self._lock:
            if self.procs.get(proc.package) is proc:
                self.procs.pop(proc.package)

    def running_pids(self, package: str | None = None) -> list[int]:
        with self._lock:
            return sorted(p.pid for p in self.procs.values() if package in (None, p.package))

    def process(self, pid: int) -> AppProcess | None:
        with self._lock:
            return next((p for p in self.procs.values() if p.pid == pid), None)

    def memory_kb(self, pid: int) -> tuple[int, int]:
        proc = self.process(pid)
        if proc is None:
            return 0, 0
        runner = proc.run.runner if proc.run else None
        if runner is not None and runner.poll() is None:
            rss, hwm = _host_status_kb(runner.pid)
            if rss:
                proc.rss_kb, proc.hwm_kb = rss, max(hwm, proc.hwm_kb)
        return proc.rss_kb, proc.hwm_kb

    def stop_all(self) -> None:
        for pkg in list(self.procs):
            self.force_stop(pkg, quiet=True)

    def state_changed(self) -> None:
        """The device state changed (screen, thermal): rewrite the state file runners read."""
        for proc in list(self.procs.values()):
            if proc.run is not None:
                proc.run.write_state_file()

    def _headroom(self, proc: AppProcess) -> float | None:
        now = time.monotonic()
        if now - proc.last_headroom_ok < HEADROOM_MIN_INTERVAL_S:
            return None      # NaN: asked again within MINIMUM_HEADROOM_TIME_MILLIS
        value = self.device.state.thermal_headroom
        if value is not None:
            proc.last_headroom_ok = now
        return value

    def slow_factor(self) -> float:
        """How many times longer the app's work takes now."""
        f = float(self.device.faults.faults.slow_factor or 1.0)
        if not self.device.state.interactive:
            f *= float(self.device.state.background_slowdown)
        return max(1.0, f)


def _host_status_kb(pid: int) -> tuple[int, int]:
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, hwm
