"""An Android phone (or Android emulator, or the emulated phone) over ADB.

``AndroidDevice`` is composed of parts: an ``Adb`` proxy (the only way to the device), the
app client (``app_client``: launch, watch, pull), the state probes (``probes``) and the
thermal gate (``harness.devices.gate``). Finding devices is ``discovery``'s job.
"""
from __future__ import annotations

import time
from pathlib import Path

from harness import contract
from harness.config import DeviceConfig
from harness.convert.artifact import Converted
from harness.devices import gate
from harness.devices.android import app_client, probes
from harness.devices.android.adb import Adb
from harness.devices.android.device_lock import DeviceLock
from harness.devices.base import ProgressFn, check_runtime
from harness.errors import DeviceError, UserError
from harness.files import sha256_file

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_APK = ROOT / "android/benchmark_app/app/build/outputs/apk/release/app-release.apk"
APK_BUILD_SCRIPT = "android/benchmark_app/scripts/build_apk.sh"
RECONNECT_TIMEOUT_S = 30.0
STAY_ON_SETTING = "stay_on_while_plugged_in"
# Taking the device's lock is retried like a block: a drop or a hang at the start is not the end.
CLAIM_RETRY_S = (1.0, 3.0, 9.0)
# Keep this much free on the device beyond the models being pushed.
FREE_SPACE_MARGIN_BYTES = 64 * 1024 * 1024


class AndroidDevice:
    kind = "android"

    def __init__(self, cfg: DeviceConfig, adb: Adb, on_close=None):
        self.alias = cfg.alias
        self.cfg = cfg
        self.adb = adb
        self.default_threads = cfg.threads
        self._on_close = on_close          # e.g. stop the emulated phone discovery started
        self._props: dict[str, str] | None = None
        self._stay_on_before: str | None = None    # stay_on_while_plugged_in before this run
        self._lock: DeviceLock | None = None

    # ------------------------------------------------------------------ one run at a time
    def lock_key(self) -> str:
        """This device on this machine: its adb server and serial."""
        return f"adb-{self.adb.server.host}-{self.adb.server.port}-{self.adb.serial}"

    def claim(self, run_id: str, wait_s: float, on_wait: ProgressFn) -> None:
        """Hold the lock on the device itself (``device_lock``) for the run, or wait / refuse.
        A device that drops or hangs meanwhile is reconnected and asked again, as a run would."""
        lock = DeviceLock(self.adb, self.alias, self.cfg.work_dir, run_id)
        for pause in (*CLAIM_RETRY_S, None):
            try:
                lock.acquire(wait_s, on_wait)
                break
            except DeviceError as e:
                if pause is None:
                    raise
                on_wait(f"{e}; reconnecting, then asking again in {pause:.0f} s")
                time.sleep(pause)
                try:
                    self.reconnect()
                except DeviceError:
                    pass
        self._lock = lock

    def cpu_count(self) -> int | None:
        """Cores the device has (``nproc``, else ``/sys/devices/system/cpu/possible``); None if it won't say."""
        out = self.adb.shell_batch([["nproc"], ["cat", "/sys/devices/system/cpu/possible"]], timeout_s=30)
        return probes.cpu_count(*out)

    # ------------------------------------------------------------------ identity
    def props(self) -> dict[str, str]:
        if self._props is None:
            self._props = self.adb.props()
        return self._props

    def describe(self) -> dict:
        p = self.props()
        soc = " ".join(x for x in (p.get("ro.soc.manufacturer"), p.get("ro.soc.model")) if x) or None
        sdk = p.get("ro.build.version.sdk")
        return {"alias": self.alias, "kind": "adb", "serial": self.adb.serial,
                "fingerprint": p.get("ro.build.fingerprint", ""), "manufacturer": p.get("ro.product.manufacturer"),
                "model": p.get("ro.product.model"), "device": p.get("ro.product.device"), "soc": soc,
                "abi": p.get("ro.product.cpu.abi"), "sdk": int(sdk) if sdk and sdk.isdigit() else None,
                "android_version": p.get("ro.build.version.release"), "emulated": is_emulated(self.adb, p)}

    def app_info(self) -> dict | None:
        out = self.adb.shell(["dumpsys", "package", contract.APP_PACKAGE], check=False).stdout
        version = probes.package_version(out)
        return {"package": contract.APP_PACKAGE, **version} if version else None

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        """Thermal status, battery, screen and free storage, read in one shell call."""
        outputs = self.adb.shell_batch(
            [["dumpsys", "battery"], ["dumpsys", "thermalservice"], ["dumpsys", "power"], self._df_argv()])
        return probes.state(*outputs)

    def _df_argv(self) -> list[str]:
        return ["df", "-k", self.cfg.work_dir.rsplit("/", 1)[0] or "/"]

    def free_bytes(self) -> int | None:
        return probes.df_free_bytes(self.adb.shell(self._df_argv(), check=False).stdout)

    def wake(self) -> dict:
        """Wake the screen and dismiss the keyguard where it can be (not a PIN or pattern), then
        read what the display is: the app must be the resumed top app, or a phone runs it in the
        background scheduling group (slow) or freezes it (review B2)."""
        self.adb.shell_batch([["input", "keyevent", "KEYCODE_WAKEUP"], ["wm", "dismiss-keyguard"]])
        power, window = self.adb.shell_batch([["dumpsys", "power"], ["dumpsys", "window"]])
        on, locked = probes.screen_on(power), probes.keyguard_showing(window)
        return {"screen": probes.screen(power), "locked": locked,
                "interactive": None if on is None else bool(on and not locked)}

    def wait_steady(self, on_wait: ProgressFn) -> dict:
        display = self.wake()
        if display["interactive"] is False:
            what = "locked with a PIN, pattern or password" if display["locked"] else "off"
            raise UserError(f"{self.alias}: the screen is {what} and could not be woken and unlocked; "
                            "unlock it and set Screen lock to None (or Swipe) while benchmarking, so the "
                            "app runs in front at full speed")
        return {**gate.wait_steady(self.state, self.cfg.cooldown, on_wait), **display}

    # ------------------------------------------------------------------ deploy
    def model_path(self, model: Converted) -> str:
        return contract.model_device_path(self.cfg.work_dir, model.sha256)

    def _remote_sha256(self, path: str) -> str | None:
        r = self.adb.shell(["sha256sum", path], check=False, timeout_s=300)
        return r.stdout.split()[0] if r.exit_status == 0 and r.stdout.split() else None

    def _missing(self, models: list[Converted]) -> list[Converted]:
        """The models not already on the device (size and sha256 checked there)."""
        todo = []
        for m in {m.sha256: m for m in models}.values():
            remote = self.model_path(m)
            if self.adb.stat_size(remote) == m.size_bytes and self._remote_sha256(remote) == m.sha256:
                continue
            todo.append(m)
        return todo

    def _push_model(self, m: Converted, progress: ProgressFn) -> None:
        remote = self.model_path(m)
        sent = 0

        def on_bytes(n: int) -> None:
            nonlocal sent
            sent += n
            progress(f"pushing {m.variant} L{m.max_length}: {sent / 1e6:.1f}/{m.size_bytes / 1e6:.1f} MB")

        self.adb.push(m.path, remote + ".part", on_bytes)
        self.adb.shell(["mv", remote + ".part", remote])
        if self._remote_sha256(remote) != m.sha256:
            self.adb.shell(["rm", "-f", remote], check=False)
            raise DeviceError(self.alias, f"model {m.variant} arrived corrupted (sha256 differs)")

    def _keep_awake(self) -> None:
        """Keep the screen on while plugged in for the run (``svc power stayon true``); the
        previous setting is put back when the device closes."""
        if self._stay_on_before is not None:
            return
        before = self.adb.shell(["settings", "get", "global", STAY_ON_SETTING], check=False).stdout.strip()
        self._stay_on_before = before if before.isdigit() else "0"
        self.adb.shell(["svc", "power", "stayon", "true"], check=False)

    def _restore_awake(self) -> None:
        if self._stay_on_before is not None:
            self.adb.shell(["settings", "put", "global", STAY_ON_SETTING, self._stay_on_before],
                           check=False, timeout_s=10)
            self._stay_on_before = None

    def deploy(self, models: list[Converted], progress: ProgressFn) -> dict:
        """Install the app if needed, push the models that are not already there (by sha256,
        checked on the device). Returns what was done, for the result file."""
        self._keep_awake()
        installed = self.ensure_app(progress)
        check_runtime(self.alias, models, self.runtime_version(),
                      "build the app from the converter's TensorFlow version (docs/android.md) or convert "
                      "with the TensorFlow the app was built from")
        dirs = [self.cfg.work_dir, f"{self.cfg.work_dir}/models", f"{self.cfg.work_dir}/specs"]
        self.adb.shell(["mkdir", "-p", *dirs])
        # The app (another uid) reads specs and models through the "other" bits: whatever
        # umask the shell had, the directories must be searchable (review D9).
        self.adb.shell(["chmod", "755", *dirs])
        todo = self._missing(models)
        need = sum(m.size_bytes for m in todo)
        free = self.free_bytes()
        if todo and free is not None and free < need + FREE_SPACE_MARGIN_BYTES:
            raise UserError(f"{self.alias}: not enough storage for the models: {need / 1e6:.0f} MB to push, "
                            f"{free / 1e6:.0f} MB free in {self.cfg.work_dir}")
        for m in todo:
            self._push_model(m, progress)
        already = len({m.sha256 for m in models}) - len(todo)
        progress(f"models: {len(todo)} pushed ({need / 1e6:.1f} MB), {already} already on the device")
        return {"app_installed": installed, "pushed": [m.sha256 for m in todo], "pushed_bytes": need,
                "already_there": already}

    def runtime_version(self) -> str | None:
        """The TFLite runtime of the installed benchmark app (from its versionName), None if unknown."""
        info = self.app_info()
        return probes.runtime_from_version_name(info.get("version_name")) if info else None

    def installed_apk_sha256(self) -> str | None:
        """The sha256 of the installed app's base APK (``pm path``; readable by the shell)."""
        path = probes.installed_apk_path(
            self.adb.shell(["pm", "path", contract.APP_PACKAGE], check=False).stdout)
        return self._remote_sha256(path) if path else None

    def ensure_app(self, progress: ProgressFn) -> bool:
        """Install the benchmark app when it is missing, older than this harness expects, or
        another build than the APK built here (by content: a rebuilt APK keeps its versionCode)."""
        info = self.app_info()
        apk = Path(self.cfg.apk) if self.cfg.apk else DEFAULT_APK
        if apk.is_file():
            if info is not None and self.installed_apk_sha256() == sha256_file(apk):
                return False
            what = ("not installed" if info is None else
                    f"version {info['version_code']} is older than {contract.APP_VERSION_CODE}"
                    if info["version_code"] < contract.APP_VERSION_CODE else f"another build than {apk}")
        else:
            if info is not None and info["version_code"] >= contract.APP_VERSION_CODE:
                return False
            what = "not installed" if info is None else \
                f"version {info['version_code']} is older than {contract.APP_VERSION_CODE}"
            raise UserError(f"{self.alias}: the benchmark app is {what} and no APK is built at {apk}; "
                            f"build it with {APK_BUILD_SCRIPT}")
        progress(f"installing the benchmark app ({what})")
        self.adb.install(apk)
        return True

    # ------------------------------------------------------------------ run
    def run(self, spec: dict, model: Converted, on_progress: ProgressFn) -> dict:
        return app_client.run_block(self.adb, self.cfg.work_dir, spec, on_progress)

    def reconnect(self) -> None:
        """After a drop or a hang: re-attach a network device (disconnect + connect, since adb
        never notices a device that hangs with its TCP open) and wait for it."""
        if self.cfg.match.endpoint or self.adb.serial.count(":") == 1:
            self.adb.server.disconnect(self.adb.serial)
            try:
                self.adb.server.connect(self.adb.serial)
            except DeviceError:
                pass
        if not self.adb.wait_for_device(RECONNECT_TIMEOUT_S):
            raise DeviceError(self.alias, f"did not come back within {RECONNECT_TIMEOUT_S:.0f} s")

    def recover(self, models: list[Converted]) -> dict | None:
        """Reconnect, then re-check the models (a drop may have cut a push short)."""
        self.reconnect()
        return self.deploy(models, lambda _msg: None)

    def cleanup_run(self, run_id: str) -> None:
        """Stop the app (an interrupted run's block must not go on heating the phone) and remove
        this run's spec and result files left on the device. The run holds the device's lock, so
        the app is this run's."""
        self.adb.shell(["am", "force-stop", contract.APP_PACKAGE], timeout_s=30, check=False)
        for directory in (f"{self.cfg.work_dir}/specs", contract.RESULT_DIR):
            names = [n for n in self.adb.list_dir(directory) if n.startswith(run_id)]
            if names:
                self.adb.shell(["rm", "-f", *[f"{directory}/{n}" for n in names]], check=False)

    def close(self) -> None:
        try:
            self._restore_awake()
        except Exception:  # noqa: BLE001  cleanup never raises (the device may be gone)
            pass
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._on_close is not None:
            try:
                self._on_close()
            except Exception:  # noqa: BLE001  cleanup never raises
                pass


def is_emulated(adb: Adb, props: dict[str, str] | None = None) -> bool:
    """An Android emulator (``emulator-N``, ``ro.kernel.qemu``) or the harness's emulated phone."""
    if adb.serial.startswith("emulator-"):
        return True
    if props is not None:
        return props.get("ro.harness.emulated") == "1" or props.get("ro.kernel.qemu") == "1"
    return adb.getprop("ro.harness.emulated") == "1" or adb.getprop("ro.kernel.qemu") == "1"
