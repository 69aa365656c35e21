"""The emulated benchmark app (docs/app-contract.md section 3).

``am start -n dev.harness.benchmark/.BenchmarkActivity --es spec_path P --es run_id R``
starts a run in the background, as the real app's worker thread does: log
HARNESS_START, read and validate the spec from the device file system, run the host
reference runner (``python -m harness.devices.host.reference_app``) as a subprocess on the pushed model,
relay its progress lines into logcat under ``HarnessBench``, move its result to the
app's results directory via ``<run_id>.json.tmp`` + rename, log HARNESS_DONE.

Faults: ``app_crash`` kills the run after its first progress line with Android's
``FATAL EXCEPTION`` lines and no result; ``drop_during_benchmark`` drops the ADB link
at the same moment while the run goes on.
"""
from __future__ import annotations

import datetime
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from harness import contract

log = logging.getLogger(__name__)

RUNTIME = "emulated-app/host-tensorflow-interpreter"
HOSTRUN_MODULE = "harness.devices.host.reference_app"
FIRST_APP_PID = 12001
# Where the harness package lives, so the runner subprocess can import it.
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class AppRun:
    """One launch of the activity: a worker thread and, while it works, the runner process."""

    def __init__(self, pid: int, package: str, run_id: str | None, spec_path: str | None):
        self.pid = pid
        self.package = package
        self.run_id = run_id
        self.spec_path = spec_path
        self.proc: subprocess.Popen | None = None
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None


class AppManager:
    """Starts, tracks and kills emulated app runs on one device."""

    def __init__(self, device):
        self.device = device
        self._runs: dict[int, AppRun] = {}
        self._lock = threading.Lock()
        self._pids = itertools.count(FIRST_APP_PID)

    # -- activity manager entry points -------------------------------------------------------
    def start(self, component: str, extras: dict[str, str], stop_first: bool) -> str | None:
        """Launch ``component``; returns None, or the class name Android would call missing."""
        pkg, _, activity = component.partition("/")
        full = pkg + activity if activity.startswith(".") else activity
        if pkg not in self.device.packages or full != contract.APP_PACKAGE + contract.APP_ACTIVITY:
            return f"{pkg}/{full}"
        # The real activity is singleTop and the host always passes -S; a second launch
        # replaces the first either way, so two runs never compete for the CPU.
        self.force_stop(pkg, quiet=not stop_first)
        run = AppRun(next(self._pids), pkg, extras.get(contract.EXTRA_RUN_ID), extras.get(contract.EXTRA_SPEC_PATH))
        with self._lock:
            self._runs[run.pid] = run
        self.device.logcat.log("ActivityManager", f"Start proc {run.pid}:{pkg}/u0a234 for top-activity "
                               f"{{{component}}}", pid=600)
        run.thread = threading.Thread(target=self._work, args=(run,), name=f"app-{run.pid}", daemon=True)
        run.thread.start()
        return None

    def force_stop(self, package: str, quiet: bool = False) -> None:
        with self._lock:
            runs = [r for r in self._runs.values() if r.package == package]
        for run in runs:
            run.stopped.set()
            _kill(run.proc)
            with self._lock:
                self._runs.pop(run.pid, None)
            if not quiet:
                self.device.logcat.log("ActivityManager", f"Force stopping {package} appid=10234 user=0: "
                                       "from pid 4242", pid=600)

    def running_pids(self, package: str | None = None) -> list[int]:
        with self._lock:
            return sorted(r.pid for r in self._runs.values() if package in (None, r.package))

    def stop_all(self) -> None:
        for pkg in {r.package for r in list(self._runs.values())}:
            self.force_stop(pkg, quiet=True)

    # -- the worker -------------------------------------------------------------------------
    def _log(self, run: AppRun, message: str, level: str = "I", tag: str = contract.LOG_TAG) -> None:
        self.device.logcat.log(tag, message, level=level, pid=run.pid, tid=run.pid + 17)

    def _work(self, run: AppRun) -> None:
        try:
            self._work_inner(run)
        except Exception:
            log.exception("emulated app run failed")
        finally:
            with self._lock:
                self._runs.pop(run.pid, None)

    def _work_inner(self, run: AppRun) -> None:
        run_id = run.run_id
        if not run_id or not contract.RUN_ID_RE.match(run_id):
            self._log(run, f"missing or invalid run_id extra: {run_id!r}; nothing to do", level="E")
            return
        self._log(run, contract.start_line(run_id))
        started = _now_iso()
        fs = self.device.fs
        work = self.device.state_dir / "app-runs" / run_id
        work.mkdir(parents=True, exist_ok=True)
        tmp_result = work / "result.json"
        tmp_result.unlink(missing_ok=True)
        doc = None
        error = None
        model_path = ""
        try:
            spec_host = fs.host(run.spec_path or "")
            try:
                spec = json.loads(spec_host.read_text("utf-8"))
            except (OSError, ValueError) as e:
                raise contract.ContractError(f"cannot read spec {run.spec_path}: {e}") from None
            model_path = str(spec.get("model_path", "")) if isinstance(spec, dict) else ""
            contract.validate_spec(spec)
            if spec["run_id"] != run_id:
                raise contract.ContractError(f"spec run_id {spec['run_id']!r} differs from extra {run_id!r}")
            model_host = fs.host(spec["model_path"])
            if not model_host.is_file():
                raise contract.ContractError(f"model not found on device: {spec['model_path']}")
            doc, error = self._run_host_runner(run, spec_host, model_host, tmp_result, work)
        except contract.ContractError as e:
            error = str(e)
        if run.stopped.is_set():
            return  # force-stopped or crashed: no result, no done line
        if doc is None:
            doc = self._error_result(run_id, error or "unknown failure", model_path, started)
        self._publish(run_id, doc)
        status = doc.get("status", "error") if isinstance(doc, dict) else "error"
        self._log(run, contract.done_line(run_id, status if status in ("ok", "error") else "error"))

    def _run_host_runner(self, run: AppRun, spec_host: Path, model_host: Path, tmp_result: Path,
                         work: Path) -> tuple[dict | None, str | None]:
        props = self.device.props
        pkg = self.device.packages[run.package]
        device_json, app_json = work / "device.json", work / "app.json"
        device_json.write_text(json.dumps({"fingerprint": props["ro.build.fingerprint"],
                                           "model": props["ro.product.model"], "emulated": True}))
        app_json.write_text(json.dumps({"package": pkg.name, "version_name": pkg.version_name,
                                        "version_code": pkg.version_code, "runtime": RUNTIME}))
        argv = list(self.device.hostrun_cmd or [sys.executable, "-m", HOSTRUN_MODULE])
        argv += ["--spec", str(spec_host), "--model", str(model_host), "--result", str(tmp_result),
                 "--device-json", str(device_json), "--app-json", str(app_json)]
        env = dict(os.environ)
        env["PYTHONPATH"] = _PROJECT_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        stderr_path = work / "runner.stderr"
        with open(stderr_path, "wb") as stderr:
            try:
                run.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                            env=env, start_new_session=True, text=True, encoding="utf-8",
                                            errors="replace", bufsize=1)
            except OSError as e:
                return None, f"cannot start the host runner: {e}"
            if run.stopped.is_set():
                _kill(run.proc)
            seen_progress = False
            # The device state around each generation (the host runner cannot see it):
            # snapshot i is before generation i, snapshot i+1 after it.
            snapshots = [self._thermal_battery()]
            for line in run.proc.stdout:
                line = line.strip()
                if not line.startswith("HARNESS_PROGRESS"):
                    continue
                snapshots.append(self._thermal_battery())
                self._log(run, line)
                if not seen_progress:
                    seen_progress = True
                    self._first_progress(run)
            code = run.proc.wait()
        if run.stopped.is_set():
            return None, None
        if not tmp_result.is_file():
            tail = [ln for ln in stderr_path.read_text("utf-8", "replace").splitlines() if ln.strip()][-1:]
            return None, f"host runner exited with status {code} without a result" + (f": {tail[0]}" if tail else "")
        try:
            doc = json.loads(tmp_result.read_text("utf-8"))
        except ValueError as e:
            return None, f"host runner wrote an unreadable result: {e}"
        for i, g in enumerate(doc.get("generations") or []):
            if i + 1 < len(snapshots):
                (g["thermal_status_before"], g["battery_temp_c_before"], g["thermal_headroom_before"]) = snapshots[i]
                (g["thermal_status_after"], g["battery_temp_c_after"], g["thermal_headroom_after"]) = snapshots[i + 1]
        return doc, None

    def _thermal_battery(self) -> tuple[int, float, float | None]:
        """Thermal status, battery temperature (°C) and thermal headroom as the app would read
        them (no side effects)."""
        st = self.device.state
        return st.thermal_status, st.battery_temp_tenths_c / 10, st.thermal_headroom

    def _first_progress(self, run: AppRun) -> None:
        faults = self.device.faults
        if faults.take("drop_during_benchmark"):
            self.device.drop_connections()
        if faults.take("app_crash"):
            self._crash(run)

    def _crash(self, run: AppRun) -> None:
        """Die like an Android app: FATAL EXCEPTION lines, process gone, no result."""
        run.stopped.set()
        _kill(run.proc)
        for line in ("FATAL EXCEPTION: HarnessWorker",
                     f"Process: {run.package}, PID: {run.pid}",
                     "java.lang.IllegalStateException: emulated crash (fault app_crash)",
                     "\tat dev.harness.benchmark.BenchmarkWorker.run(BenchmarkWorker.kt:88)"):
            self._log(run, line, level="E", tag="AndroidRuntime")
        self.device.logcat.log("ActivityManager", f"Process {run.package} (pid {run.pid}) has died: fg  TOP ",
                               pid=600)
        with self._lock:
            self._runs.pop(run.pid, None)

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


def _kill(proc: subprocess.Popen | None) -> None:
    """Kill the runner's process group. Never raises."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        proc.wait(timeout=5)
    except Exception:
        pass
