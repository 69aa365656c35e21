"""The emulated benchmark app (docs/app-contract.md section 3) and its process.

``am start -n dev.harness.benchmark/.BenchmarkActivity --es spec_path P --es run_id R``
starts a run as the real app's worker thread does: log HARNESS_START, read and validate
the spec as the app's uid may read it, run the host reference runner (``python -m
harness.devices.host.reference_app``) as a subprocess on the pushed model, relay its progress lines into
logcat under ``HarnessBench``, move its result to the app's results directory via
``<run_id>.json.tmp`` + rename, log HARNESS_DONE.

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

import datetime
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import contract
from harness.emulator.children import python_env
from harness.proc import kill_group

log = logging.getLogger(__name__)

RUNTIME = "emulated-app/host-tensorflow-interpreter"
HOSTRUN_MODULE = "harness.devices.host.reference_app"
APP_USER = "u0_a234"
# PowerManager.MINIMUM_HEADROOM_TIME_MILLIS (AOSP core/java/android/os/PowerManager.java).
HEADROOM_MIN_INTERVAL_S = 0.5
# Modelled launch times for `am start -W` (the emulated activity itself starts at once).
LAUNCH_S = {"COLD": 0.15, "WARM": 0.08, "HOT": 0.03}
STATE_FILE_ENV = "HARNESS_DEVICE_STATE_FILE"


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


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


class HeadroomSampler:
    """The app's thermal-headroom sampler (contract v2, ThermalHeadroomSampler in the Kotlin app):
    a real ``getThermalHeadroom`` call at most once a second, else the last reading with its age,
    so every generation has a before and an after value and real readings have age 0."""

    MIN_INTERVAL_S = 1.0
    MIN_REUSED_AGE_MS = 0.001

    def __init__(self, read):
        self.read = read
        self.last_at: float | None = None
        self.last: float | None = None

    def sample(self) -> tuple[float | None, float | None]:
        now = time.monotonic()
        if self.last_at is not None and now - self.last_at < self.MIN_INTERVAL_S:
            age = max((now - self.last_at) * 1000, self.MIN_REUSED_AGE_MS)
            return self.last, (None if self.last is None else age)
        self.last, self.last_at = self.read(), now
        return self.last, (None if self.last is None else 0.0)


class AppRun:
    def __init__(self, proc: AppProcess, run_id: str | None, spec_path: str | None):
        self.proc = proc
        self.headroom: HeadroomSampler | None = None
        self.run_id = run_id
        self.spec_path = spec_path
        self.runner: subprocess.Popen | None = None
        self.stopped = threading.Event()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None


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
            run = AppRun(proc, extras.get(contract.EXTRA_RUN_ID), extras.get(contract.EXTRA_SPEC_PATH))
            proc.run = run
        run.thread = threading.Thread(target=self._work, args=(run,), name=f"app-{proc.pid}", daemon=True)
        run.thread.start()
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
            proc.run.stopped.set()
            _kill(proc.run.runner)
        return proc

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
                self._write_state_file(proc.run)

    # -- the worker -------------------------------------------------------------------------
    def _log(self, run: AppRun, message: str, level: str = "I", tag: str = contract.LOG_TAG) -> None:
        self.device.logcat.log(tag, message, level=level, pid=run.proc.pid, tid=run.proc.pid + 17)

    def _work(self, run: AppRun) -> None:
        try:
            self._work_inner(run)
        except Exception:
            log.exception("emulated app run failed")
        finally:
            run.done.set()

    def _read_spec(self, run: AppRun) -> dict:
        """Read the spec as the app's uid would (BenchmarkSession.run's messages)."""
        fs = self.device.fs
        path = run.spec_path or ""
        if not path:
            raise contract.ContractError(f"missing extra {contract.EXTRA_SPEC_PATH}")
        dev = fs.normalize(path)
        host = fs.host(dev)
        if not fs.traversable(dev, "app") or not host.is_file():
            raise contract.ContractError(f"spec file not found: {path}")
        if not fs.allowed(dev, "app", "r"):
            raise contract.ContractError(f"cannot read spec file {path}: {path}: open failed: EACCES "
                                         "(Permission denied)")
        try:
            return json.loads(host.read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise contract.ContractError(f"cannot parse spec file {path}: {e}") from None

    def _work_inner(self, run: AppRun) -> None:
        run_id = run.run_id
        if not run_id or not contract.RUN_ID_RE.match(run_id):
            self._log(run, f"HARNESS_ERROR missing or invalid extra {contract.EXTRA_RUN_ID}; expected "
                      f"{contract.RUN_ID_RE.pattern}", level="E")
            return
        self._log(run, contract.start_line(run_id))
        started = _now_iso()
        fs = self.device.fs
        work = self.device.state_dir / "app-runs" / run_id
        work.mkdir(parents=True, exist_ok=True)
        tmp_result = work / "result.json"
        tmp_result.unlink(missing_ok=True)
        fs.host(contract.result_device_path(run_id)).unlink(missing_ok=True)
        doc, error, model_path = None, None, ""
        try:
            spec = self._read_spec(run)
            model_path = str(spec.get("model_path", "")) if isinstance(spec, dict) else ""
            contract.validate_spec(spec)
            if spec["run_id"] != run_id:
                raise contract.ContractError(f"spec run_id {spec['run_id']} differs from the launch extra run_id "
                                             f"{run_id}")
            mdev = fs.normalize(spec["model_path"])
            if not fs.traversable(mdev, "app") or not fs.host(mdev).is_file():
                raise contract.ContractError(f"model not found: {spec['model_path']}")
            if not fs.allowed(mdev, "app", "r"):
                raise contract.ContractError(f"model not readable by the app: {spec['model_path']}")
            doc, error = self._run_host_runner(run, fs.host(fs.normalize(run.spec_path)), fs.host(mdev),
                                               tmp_result, work)
        except contract.ContractError as e:
            error = str(e)
        if run.stopped.is_set():
            return  # force-stopped or crashed: no result, no done line
        if doc is None:
            doc = self._error_result(run_id, error or "unknown failure", model_path, started)
        self._publish(run_id, doc)
        status = doc.get("status", "error") if isinstance(doc, dict) else "error"
        if status != "ok" and doc.get("error"):
            self._log(run, f"HARNESS_ERROR run_id={run_id} {doc['error']}", level="E")
        if not self.device.faults.take("lose_done_line"):
            self._log(run, contract.done_line(run_id, status if status in ("ok", "error") else "error"))

    def _state_snapshot(self, run: AppRun) -> tuple:
        """(thermal status, battery °C, headroom, its age, interactive) as the app reads them
        around a generation."""
        st = self.device.state
        if run.headroom is None:
            run.headroom = HeadroomSampler(lambda: self._headroom(run.proc))
        value, age = run.headroom.sample()
        return (self.device.current_thermal_status(), st.battery_temp_tenths_c / 10, value, age,
                bool(st.interactive))

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

    def _write_state_file(self, run: AppRun) -> None:
        path = getattr(run, "state_file", None)
        if path is None:
            return
        st = self.device.state
        doc = {"interactive": st.interactive, "screen": st.screen, "locked": st.locked,
               "thermal_status": self.device.current_thermal_status(), "battery_temp_c": st.battery_temp_tenths_c / 10,
               "slow_factor": self.slow_factor(), "updated_at": time.time()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)

    def _run_host_runner(self, run: AppRun, spec_host: Path, model_host: Path, tmp_result: Path,
                         work: Path) -> tuple[dict | None, str | None]:
        props = self.device.props
        pkg = self.device.packages[run.proc.package]
        device_json, app_json = work / "device.json", work / "app.json"
        device_json.write_text(json.dumps({"fingerprint": props["ro.build.fingerprint"],
                                           "model": props["ro.product.model"], "emulated": True}))
        app_json.write_text(json.dumps({"package": pkg.name, "version_name": pkg.version_name,
                                        "version_code": pkg.version_code, "runtime": RUNTIME}))
        run.state_file = work / "device-state.json"
        self._write_state_file(run)
        argv = list(self.device.hostrun_cmd or [sys.executable, "-m", HOSTRUN_MODULE])
        argv += ["--spec", str(spec_host), "--model", str(model_host), "--result", str(tmp_result),
                 "--device-json", str(device_json), "--app-json", str(app_json)]
        env = python_env(dict(os.environ))
        env[STATE_FILE_ENV] = str(run.state_file)
        stderr_path = work / "runner.stderr"
        with open(stderr_path, "wb") as stderr:
            try:
                run.runner = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                              env=env, start_new_session=True, text=True, encoding="utf-8",
                                              errors="replace", bufsize=1, umask=0o077)
            except OSError as e:
                return None, f"cannot start the host runner: {e}"
            if run.stopped.is_set():
                _kill(run.runner)
            seen_progress = False
            # The app reads thermal state before and after each generation (Session.runPhase).
            pairs = []
            before = self._state_snapshot(run)
            for line in run.runner.stdout:
                line = line.strip()
                if not line.startswith("HARNESS_PROGRESS"):
                    continue
                after = self._state_snapshot(run)
                pairs.append((before, after))
                before = self._state_snapshot(run)
                self.memory_kb(run.proc.pid)
                self._write_state_file(run)
                self._log(run, line)
                if not seen_progress:
                    seen_progress = True
                    self._first_progress(run)
            code = run.runner.wait()
        if run.stopped.is_set():
            return None, None
        if not tmp_result.is_file():
            tail = [ln for ln in stderr_path.read_text("utf-8", "replace").splitlines() if ln.strip()][-1:]
            return None, f"host runner exited with status {code} without a result" + (f": {tail[0]}" if tail else "")
        try:
            doc = json.loads(tmp_result.read_text("utf-8"))
        except ValueError as e:
            return None, f"host runner wrote an unreadable result: {e}"
        for g, (b, a) in zip(doc.get("generations") or [], pairs):
            (g["thermal_status_before"], g["battery_temp_c_before"], g["thermal_headroom_before"],
             g["thermal_headroom_before_age_ms"], g["interactive_before"]) = b
            (g["thermal_status_after"], g["battery_temp_c_after"], g["thermal_headroom_after"],
             g["thermal_headroom_after_age_ms"], g["interactive_after"]) = a
        return doc, None

    def _first_progress(self, run: AppRun) -> None:
        faults = self.device.faults
        if faults.take("drop_during_benchmark"):
            self.device.drop_connections()
        if faults.take("app_crash"):
            self._crash(run)

    def _crash(self, run: AppRun) -> None:
        """Die like an Android app: FATAL EXCEPTION lines (crash buffer), process gone, no result."""
        with self._lock:
            if self.procs.get(run.proc.package) is run.proc:
                self.procs.pop(run.proc.package)
        run.stopped.set()
        _kill(run.runner)
        for line in ("FATAL EXCEPTION: harness-benchmark",
                     f"Process: {run.proc.package}, PID: {run.proc.pid}",
                     "java.lang.IllegalStateException: emulated crash (fault app_crash)",
                     "\tat dev.harness.benchmark.core.BenchmarkSession.run(Session.kt:88)"):
            self.device.logcat.log("AndroidRuntime", line, level="E", pid=run.proc.pid, tid=run.proc.pid + 17,
                                   buffer="crash")
        self.device.logcat.log("ActivityManager", f"Process {run.proc.package} (pid {run.proc.pid}) has died: "
                               "fg  TOP ", pid=600)

    def _publish(self, run_id: str, doc: dict) -> None:
        """Write the result where the host pulls it: tmp file, then rename (atomic)."""
        fs = self.device.fs
        final = fs.host(contract.result_device_path(run_id))
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(final.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False), "utf-8")
        os.replace(tmp, final)

    def _error_result(self, run_id: str, error: str, model_path: str, started: str) -> dict:
        props = self.device.props
        pkg = self.device.packages.get(contract.APP_PACKAGE)
        return {
            "contract_version": contract.CONTRACT_VERSION, "run_id": run_id, "status": "error",
            "error": error.splitlines()[0] if error else "error",
            "app": {"package": contract.APP_PACKAGE,
                    "version_name": pkg.version_name if pkg else contract.APP_VERSION_NAME,
                    "version_code": pkg.version_code if pkg else contract.APP_VERSION_CODE,
                    "runtime": RUNTIME, "tflite_version": "unknown"},
            "device": {"fingerprint": props["ro.build.fingerprint"], "model": props["ro.product.model"],
                       "emulated": True},
            "model": {"path": model_path, "sha256": None, "size_bytes": None},
            "load_ms": None, "load_kind": None, "cold_load_ms": None, "threads_used": None,
            "cpu_count": None, "delegate_used": None,
            "memory": {"vmhwm_kb": None, "pss_kb": None, "rss_before_load_kb": None},
            "generations": [], "started_at": started, "finished_at": _now_iso(),
        }


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


def _kill(proc: subprocess.Popen | None) -> None:
    """Kill the runner's process group while it runs. Never raises."""
    if proc is not None and proc.poll() is None:
        kill_group(proc)
