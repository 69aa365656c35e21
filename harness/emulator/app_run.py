"""One run of the emulated benchmark app: read the spec, run the host reference runner, publish its result.

What the real app's worker thread does for ``am start ... --es spec_path P --es run_id R``
(docs/app-contract.md section 3): log HARNESS_START, read and validate the spec as the
app's uid may read it, run ``python -m harness.devices.host.reference_app`` as a subprocess
on the pushed model, relay its progress lines into logcat under ``HarnessBench``, read the
thermal state before and after each generation, move the result to the app's results
directory via ``<run_id>.json.tmp`` + rename, and log HARNESS_DONE. app.py owns the process.
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
STATE_FILE_ENV = "HARNESS_DEVICE_STATE_FILE"


def _snapshot_fields(when: str) -> tuple[str, ...]:
    """A generation's fields for one _state_snapshot taken ``when`` ("before" or "after") it ran."""
    return (f"thermal_status_{when}", f"battery_temp_c_{when}", f"thermal_headroom_{when}",
            f"thermal_headroom_{when}_age_ms", f"interactive_{when}")


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def kill_runner(proc: subprocess.Popen | None) -> None:
    """Kill the runner's process group while it runs. Never raises."""
    if proc is not None and proc.poll() is None:
        kill_group(proc)


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
    """One launch of the activity in the app's process ``proc``; ``start()`` runs it in a thread."""

    def __init__(self, manager, proc, run_id: str | None, spec_path: str | None):
        self.manager = manager
        self.device = manager.device
        self.proc = proc
        self.headroom: HeadroomSampler | None = None
        self.run_id = run_id
        self.spec_path = spec_path
        self.runner: subprocess.Popen | None = None
        self.state_file: Path | None = None
        self.stopped = threading.Event()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._work, name=f"app-{self.proc.pid}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Force-stopped, killed or crashed: no result and no done line from here on."""
        self.stopped.set()
        kill_runner(self.runner)

    def _log(self, message: str, level: str = "I", tag: str = contract.LOG_TAG) -> None:
        self.device.logcat.log(tag, message, level=level, pid=self.proc.pid, tid=self.proc.pid + 17)

    def _work(self) -> None:
        try:
            self._work_inner()
        except Exception:
            log.exception("emulated app run failed")
        finally:
            self.done.set()

    def _work_inner(self) -> None:
        run_id = self.run_id
        if not run_id or not contract.RUN_ID_RE.match(run_id):
            self._log(f"HARNESS_ERROR missing or invalid extra {contract.EXTRA_RUN_ID}; expected "
                      f"{contract.RUN_ID_RE.pattern}", level="E")
            return
        self._log(contract.start_line(run_id))
        started = now_iso()
        work = self.device.state_dir / "app-runs" / run_id
        work.mkdir(parents=True, exist_ok=True)
        tmp_result = work / "result.json"
        tmp_result.unlink(missing_ok=True)
        self.device.fs.host(contract.result_device_path(run_id)).unlink(missing_ok=True)
        doc, error, model_path = None, None, ""
        try:
            spec = self._read_spec()
            model_path = str(spec.get("model_path", "")) if isinstance(spec, dict) else ""
            model_host = self._check_spec(spec, run_id)
            doc, error = self._run_host_runner(model_host, tmp_result, work)
        except contract.ContractError as e:
            error = str(e)
        if self.stopped.is_set():
            return  # force-stopped or crashed: no result, no done line
        if doc is None:
            doc = self._error_result(error or "unknown failure", model_path, started)
        self._publish(doc)
        status = doc.get("status", "error") if isinstance(doc, dict) else "error"
        if status != "ok" and doc.get("error"):
            self._log(f"HARNESS_ERROR run_id={run_id} {doc['error']}", level="E")
        if not self.device.faults.take("lose_done_line"):
            self._log(contract.done_line(run_id, status if status in ("ok", "error") else "error"))

    def _read_spec(self) -> dict:
        """Read the spec as the app's uid would (BenchmarkSession.run's messages)."""
        fs = self.device.fs
        path = self.spec_path or ""
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

    def _check_spec(self, spec, run_id: str) -> Path:
        """Validate the spec for this launch; the host path of a model the app may read."""
        fs = self.device.fs
        contract.validate_spec(spec)
        if spec["run_id"] != run_id:
            raise contract.ContractError(f"spec run_id {spec['run_id']} differs from the launch extra run_id "
                                         f"{run_id}")
        mdev = fs.normalize(spec["model_path"])
        if not fs.traversable(mdev, "app") or not fs.host(mdev).is_file():
            raise contract.ContractError(f"model not found: {spec['model_path']}")
        if not fs.allowed(mdev, "app", "r"):
            raise contract.ContractError(f"model not readable by the app: {spec['model_path']}")
        return fs.host(mdev)

    def _state_snapshot(self) -> tuple:
        """(thermal status, battery °C, headroom, its age, interactive) as the app reads them
        around a generation."""
        st = self.device.state
        if self.headroom is None:
            self.headroom = HeadroomSampler(lambda: self.manager._headroom(self.proc))
        value, age = self.headroom.sample()
        return (self.device.current_thermal_status(), st.battery_temp_tenths_c / 10, value, age,
                bool(st.interactive))

    def write_state_file(self) -> None:
        """The state the runner reads (screen, thermal, slow factor), replaced atomically."""
        path = self.state_file
        if path is None:
            return
        st = self.device.state
        doc = {"interactive": st.interactive, "screen": st.screen, "locked": st.locked,
               "thermal_status": self.device.current_thermal_status(), "battery_temp_c": st.battery_temp_tenths_c / 10,
               "slow_factor": self.manager.slow_factor(), "updated_at": time.time()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)

    def _runner_argv(self, model_host: Path, tmp_result: Path, work: Path) -> list[str]:
        """The host runner's command line, with the device and app identity files it reports."""
        fs, props = self.device.fs, self.device.props
        pkg = self.device.packages[self.proc.package]
        device_json, app_json = work / "device.json", work / "app.json"
        device_json.write_text(json.dumps({"fingerprint": props["ro.build.fingerprint"],
                                           "model": props["ro.product.model"], "emulated": True}))
        app_json.write_text(json.dumps({"package": pkg.name, "version_name": pkg.version_name,
                                        "version_code": pkg.version_code, "runtime": RUNTIME}))
        argv = list(self.device.hostrun_cmd or [sys.executable, "-m", HOSTRUN_MODULE])
        return argv + ["--spec", str(fs.host(fs.normalize(self.spec_path))), "--model", str(model_host),
                       "--result", str(tmp_result), "--device-json", str(device_json), "--app-json", str(app_json)]

    def _run_host_runner(self, model_host: Path, tmp_result: Path, work: Path) -> tuple[dict | None, str | None]:
        argv = self._runner_argv(model_host, tmp_result, work)
        self.state_file = work / "device-state.json"
        self.write_state_file()
        env = python_env(dict(os.environ))
        env[STATE_FILE_ENV] = str(self.state_file)
        stderr_path = work / "runner.stderr"
        with open(stderr_path, "wb") as stderr:
            try:
                self.runner = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                               env=env, start_new_session=True, text=True, encoding="utf-8",
                                               errors="replace", bufsize=1, umask=0o077)
            except OSError as e:
                return None, f"cannot start the host runner: {e}"
            if self.stopped.is_set():
                kill_runner(self.runner)
            pairs = self._relay_progress()
            code = self.runner.wait()
        if self.stopped.is_set():
            return None, None
        return self._read_result(tmp_result, stderr_path, code, pairs)

    def _relay_progress(self) -> list[tuple]:
        """Log the runner's progress lines; the thermal state before and after each generation
        (the app reads it around each one, Session.runPhase)."""
        seen_progress = False
        pairs = []
        before = self._state_snapshot()
        for line in self.runner.stdout:
            line = line.strip()
            if not line.startswith("HARNESS_PROGRESS"):
                continue
            after = self._state_snapshot()
            pairs.append((before, after))
            before = self._state_snapshot()
            self.manager.memory_kb(self.proc.pid)
            self.write_state_file()
            self._log(line)
            if not seen_progress:
                seen_progress = True
                self._first_progress()
        return pairs

    @staticmethod
    def _read_result(tmp_result: Path, stderr_path: Path, code: int, pairs: list) -> tuple[dict | None, str | None]:
        """The runner's result with each generation's thermal state added, or why there is none."""
        if not tmp_result.is_file():
            tail = [ln for ln in stderr_path.read_text("utf-8", "replace").splitlines() if ln.strip()][-1:]
            return None, f"host runner exited with status {code} without a result" + (f": {tail[0]}" if tail else "")
        try:
            doc = json.loads(tmp_result.read_text("utf-8"))
        except ValueError as e:
            return None, f"host runner wrote an unreadable result: {e}"
        for g, (b, a) in zip(doc.get("generations") or [], pairs):
            g.update(zip(_snapshot_fields("before"), b))
            g.update(zip(_snapshot_fields("after"), a))
        return doc, None

    def _first_progress(self) -> None:
        faults = self.device.faults
        if faults.take("drop_during_benchmark"):
            self.device.drop_connections()
        if faults.take("app_crash"):
            self._crash()

    def _crash(self) -> None:
        """Die like an Android app: FATAL EXCEPTION lines (crash buffer), process gone, no result."""
        proc = self.proc
        self.manager.forget(proc)
        self.stop()
        for line in ("FATAL EXCEPTION: harness-benchmark",
                     f"Process: {proc.package}, PID: {proc.pid}",
                     "java.lang.IllegalStateException: emulated crash (fault app_crash)",
                     "\tat dev.harness.benchmark.core.BenchmarkSession.run(Session.kt:88)"):
            self.device.logcat.log("AndroidRuntime", line, level="E", pid=proc.pid, tid=proc.pid + 17,
                                   buffer="crash")
        self.device.logcat.log("ActivityManager", f"Process {proc.package} (pid {proc.pid}) has died: "
                               "fg  TOP ", pid=600)

    def _publish(self, doc: dict) -> None:
        """Write the result where the host pulls it: tmp file, then rename (atomic)."""
        fs = self.device.fs
        final = fs.host(contract.result_device_path(self.run_id))
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(final.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False), "utf-8")
        os.replace(tmp, final)

    def _error_result(self, error: str, model_path: str, started: str) -> dict:
        props = self.device.props
        pkg = self.device.packages.get(contract.APP_PACKAGE)
        return contract.new_result(
            self.run_id, model_path, status="error", error=error.splitlines()[0] if error else "error",
            app={"package": contract.APP_PACKAGE,
                 "version_name": pkg.version_name if pkg else contract.APP_VERSION_NAME,
                 "version_code": pkg.version_code if pkg else contract.APP_VERSION_CODE,
                 "runtime": RUNTIME, "tflite_version": "unknown"},
            device={"fingerprint": props["ro.build.fingerprint"], "model": props["ro.product.model"],
                    "emulated": True},
            started_at=started, finished_at=now_iso())
