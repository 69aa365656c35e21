"""Android devices over ADB: finding them from devices.yaml, their state, deploying, running.

An ``AndroidDevice`` is composed of parts: an ``Adb`` proxy (the only way to the device),
the app client (``harness.app``) and state probes (battery, thermal, storage) read with
``dumpsys``/``df``. Emulated devices (``emulated:`` in devices.yaml) are started by the
harness when they are not running, and stopped again when the run ends.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

from harness import app as app_client, config as config_mod, contract
from harness.adb import Adb, AdbServer
from harness.convert import Converted
from harness.errors import DeviceError, UserError

ProgressFn = Callable[[str], None]
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APK = ROOT / "android/benchmark_app/app/build/outputs/apk/release/app-release.apk"
APK_BUILD_SCRIPT = "android/benchmark_app/scripts/build_apk.sh"
RECONNECT_TIMEOUT_S = 30.0
# Keep this much free on the device beyond the models being pushed.
FREE_SPACE_MARGIN_BYTES = 64 * 1024 * 1024


def _parse_int(pattern: str, text: str) -> int | None:
    m = re.search(pattern, text, re.MULTILINE)
    return int(m.group(1)) if m else None


class AndroidDevice:
    kind = "adb"

    def __init__(self, cfg: config_mod.DeviceConfig, adb: Adb, started_emulator: str | None = None):
        self.alias = cfg.alias
        self.cfg = cfg
        self.adb = adb
        self._started_emulator = started_emulator
        self._props: dict[str, str] | None = None

    # ------------------------------------------------------------------ identity
    def props(self) -> dict[str, str]:
        if self._props is None:
            self._props = self.adb.props()
        return self._props

    def describe(self) -> dict:
        p = self.props()
        soc = " ".join(x for x in (p.get("ro.soc.manufacturer"), p.get("ro.soc.model")) if x) or None
        emulated = (p.get("ro.harness.emulated") == "1" or p.get("ro.kernel.qemu") == "1"
                    or self.adb.serial.startswith("emulator-"))
        sdk = p.get("ro.build.version.sdk")
        return {"alias": self.alias, "kind": "adb", "serial": self.adb.serial,
                "fingerprint": p.get("ro.build.fingerprint", ""), "manufacturer": p.get("ro.product.manufacturer"),
                "model": p.get("ro.product.model"), "device": p.get("ro.product.device"), "soc": soc,
                "abi": p.get("ro.product.cpu.abi"), "sdk": int(sdk) if sdk and sdk.isdigit() else None,
                "android_version": p.get("ro.build.version.release"), "emulated": emulated}

    def app_info(self) -> dict | None:
        out = self.adb.shell(["dumpsys", "package", contract.APP_PACKAGE], check=False).stdout
        code = _parse_int(r"versionCode=(\d+)", out)
        if code is None:
            return None
        name = re.search(r"versionName=(\S+)", out)
        return {"package": contract.APP_PACKAGE, "version_code": code,
                "version_name": name.group(1) if name else None}

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        """Thermal status, battery, screen and free storage, read in one shell call."""
        battery, thermal, power, df = self.adb.shell_batch(
            [["dumpsys", "battery"], ["dumpsys", "thermalservice"], ["dumpsys", "power"], self._df_argv()])
        temp = _parse_int(r"^\s*temperature:\s*(-?\d+)", battery)
        screen = re.search(r"Display Power: state=(\w+)", power) or re.search(r"mWakefulness=(\w+)", power)
        return {"thermal_status": _parse_int(r"Thermal Status:\s*(\d+)", thermal),
                "screen": screen.group(1) if screen else None,
                "charging": bool(re.search(r"(AC|USB|Wireless) powered: true", battery)),
                "battery_level": _parse_int(r"^\s*level:\s*(\d+)", battery),
                "battery_temp_c": temp / 10 if temp is not None else None,
                "free_storage_bytes": self._parse_df(df)}

    def _df_argv(self) -> list[str]:
        return ["df", "-k", self.cfg.work_dir.rsplit("/", 1)[0] or "/"]

    @staticmethod
    def _parse_df(out: str) -> int | None:
        rows = [ln.split() for ln in out.splitlines()[1:] if ln.split()]
        try:
            return int(rows[-1][3]) * 1024
        except (IndexError, ValueError):
            return None

    def free_bytes(self) -> int | None:
        return self._parse_df(self.adb.shell(self._df_argv(), check=False).stdout)

    def wait_steady(self, on_wait: ProgressFn) -> dict:
        """The thermal gate: wait (with a limit) until thermal status <= the configured ceiling."""
        cd = self.cfg.cooldown
        started = time.monotonic()
        while True:
            st = self.state()
            status = st["thermal_status"]
            waited = time.monotonic() - started
            if status is None or status <= cd.thermal_ceiling:
                break
            if waited >= cd.max_wait_s:
                st["thermal_gate_timed_out"] = True
                on_wait(f"still thermal status {status} after {waited:.0f} s; measuring anyway (flagged)")
                break
            on_wait(f"cooling down: thermal status {status} > {cd.thermal_ceiling}")
            time.sleep(cd.poll_s)
        if cd.settle_s:
            time.sleep(cd.settle_s)
        st["thermal_wait_s"] = round(time.monotonic() - started, 3)
        return st

    # ------------------------------------------------------------------ deploy
    def model_path(self, model: Converted) -> str:
        return contract.model_device_path(self.cfg.work_dir, model.sha256)

    def _remote_sha256(self, path: str) -> str | None:
        r = self.adb.shell(["sha256sum", path], check=False, timeout_s=300)
        return r.stdout.split()[0] if r.exit_status == 0 and r.stdout.split() else None

    def deploy(self, models: list[Converted], progress: ProgressFn) -> dict:
        """Install the app if needed, push the models that are not already there (by sha256,
        checked on the device). Returns what was done, for the result file."""
        installed = self.ensure_app(progress)
        self.adb.shell(["mkdir", "-p", f"{self.cfg.work_dir}/models", f"{self.cfg.work_dir}/specs"])
        todo = []
        for m in {m.sha256: m for m in models}.values():
            remote = self.model_path(m)
            if self.adb.stat_size(remote) == m.size_bytes and self._remote_sha256(remote) == m.sha256:
                continue
            todo.append(m)
        need = sum(m.size_bytes for m in todo)
        free = self.free_bytes()
        if todo and free is not None and free < need + FREE_SPACE_MARGIN_BYTES:
            raise UserError(f"{self.alias}: not enough storage for the models: {need / 1e6:.0f} MB to push, "
                            f"{free / 1e6:.0f} MB free in {self.cfg.work_dir}")
        for m in todo:
            remote = self.model_path(m)
            sent = 0

            def on_bytes(n, m=m):
                nonlocal sent
                sent += n
                progress(f"pushing {m.variant} L{m.max_length}: {sent / 1e6:.1f}/{m.size_bytes / 1e6:.1f} MB")

            self.adb.push(m.path, remote + ".part", on_bytes)
            self.adb.shell(["mv", remote + ".part", remote])
            if self._remote_sha256(remote) != m.sha256:
                self.adb.shell(["rm", "-f", remote], check=False)
                raise DeviceError(self.alias, f"model {m.variant} arrived corrupted (sha256 differs)")
        already = len({m.sha256 for m in models}) - len(todo)
        progress(f"models: {len(todo)} pushed ({need / 1e6:.1f} MB), {already} already on the device")
        return {"app_installed": installed, "pushed": [m.sha256 for m in todo], "pushed_bytes": need,
                "already_there": already}

    def ensure_app(self, progress: ProgressFn) -> bool:
        """Install the benchmark app when missing or older than this harness expects."""
        info = self.app_info()
        if info is not None and info["version_code"] >= contract.APP_VERSION_CODE:
            return False
        apk = Path(self.cfg.apk) if self.cfg.apk else DEFAULT_APK
        what = "not installed" if info is None else f"version {info['version_code']} is older than {contract.APP_VERSION_CODE}"
        if not apk.is_file():
            raise UserError(f"{self.alias}: the benchmark app is {what} and no APK is built at {apk}; "
                            f"build it with {APK_BUILD_SCRIPT}")
        progress(f"installing the benchmark app ({what})")
        self.adb.install(apk)
        return True

    # ------------------------------------------------------------------ run
    def run(self, spec: dict, model: Converted, on_progress: ProgressFn) -> dict:
        return app_client.run_block(self.adb, self.cfg.work_dir, spec, on_progress)

    def recover(self, models: list[Converted]) -> dict:
        """After a drop or a hang: re-attach a network device (disconnect + connect, since adb
        never notices a device that hangs with its TCP open), wait for it, re-check the models."""
        if self.cfg.match.endpoint or self.adb.serial.count(":") == 1:
            self.adb.server.disconnect(self.adb.serial)
            try:
                self.adb.server.connect(self.adb.serial)
            except DeviceError:
                pass
        if not self.adb.wait_for_device(RECONNECT_TIMEOUT_S):
            raise DeviceError(self.alias, f"did not come back within {RECONNECT_TIMEOUT_S:.0f} s")
        return self.deploy(models, lambda _msg: None)

    def cleanup_run(self, run_id: str) -> None:
        """Remove this run's spec and result files left on the device (e.g. by a block cut short)."""
        for directory in (f"{self.cfg.work_dir}/specs", contract.RESULT_DIR):
            names = [n for n in self.adb.list_dir(directory) if n.startswith(run_id)]
            if names:
                self.adb.shell(["rm", "-f", *[f"{directory}/{n}" for n in names]], check=False)

    def close(self) -> None:
        if self._started_emulator:
            from harness import emulator

            try:
                emulator.stop_emulator(self._started_emulator)
            except Exception:  # noqa: BLE001  cleanup never raises
                pass


# ---------------------------------------------------------------------- finding devices

def _is_emulated(adb: Adb) -> bool:
    return (adb.serial.startswith("emulator-") or adb.getprop("ro.harness.emulated") == "1"
            or adb.getprop("ro.kernel.qemu") == "1")


def _find_by_props(server: AdbServer, cfg: config_mod.DeviceConfig) -> str | None:
    """The first attached phone whose model/device matches. Emulated devices never match by
    model: `pixel7` must not silently measure an emulated Pixel 7 (use serial/endpoint/emulated)."""
    for serial, state in server.devices():
        if state != "device":
            continue
        adb = Adb(server, serial)
        try:
            if _is_emulated(adb):
                continue
            if cfg.match.model and adb.getprop("ro.product.model") != cfg.match.model:
                continue
            if cfg.match.device and adb.getprop("ro.product.device") != cfg.match.device:
                continue
        except DeviceError:
            continue
        return serial
    return None


def _attach(cfg: config_mod.DeviceConfig, start_emulators: bool) -> tuple[str, AdbServer, str | None] | None:
    """(serial, server, name of an emulator started for it) or None when not attached."""
    server = AdbServer.from_address(cfg.adb_server)
    server.ensure_running()
    started = None
    if cfg.emulated:
        from harness import emulator

        name = cfg.emulated.name or cfg.alias
        serial = f"127.0.0.1:{cfg.emulated.port}"
        running = {h.name: h for h in emulator.list_emulators()}
        if name in running and running[name].port == cfg.emulated.port:
            if dict(server.devices()).get(serial) != "device":
                server.connect(serial)
        elif not start_emulators:
            return None
        else:
            if name in running:
                emulator.stop_emulator(name)
            emulator.start_emulator(name, profile=cfg.emulated.profile, port=cfg.emulated.port,
                                    adb_port=server.port)
            started = name
        return serial, server, started
    if cfg.match.endpoint:
        if dict(server.devices()).get(cfg.match.endpoint) != "device":
            try:
                server.connect(cfg.match.endpoint)
            except DeviceError:
                return None
        return cfg.match.endpoint, server, None
    if cfg.match.serial:
        return (cfg.match.serial, server, None) if dict(server.devices()).get(cfg.match.serial) == "device" else None
    serial = _find_by_props(server, cfg)
    return (serial, server, None) if serial else None


def open_devices(aliases: list[str], config_path: Path) -> list[AndroidDevice]:
    cfg = config_mod.load(config_path)
    if aliases == ["all"]:
        found = [(c, _attach(c, start_emulators=False)) for c in cfg.devices.values()]
        devices = [AndroidDevice(c, Adb(a[1], a[0]), a[2]) for c, a in found if a]
        if not devices:
            raise UserError(f"--device all: none of the devices in {config_path} is attached")
        return devices
    devices = []
    try:
        for alias in aliases:
            c = cfg.get(alias)
            attached = _attach(c, start_emulators=True)
            if attached is None:
                how = (f"serial {c.match.serial}" if c.match.serial else f"endpoint {c.match.endpoint}"
                       if c.match.endpoint else f"model {c.match.model!r}" if c.match.model
                       else f"device {c.match.device!r}")
                raise UserError(f"device {alias!r} ({how}) is not attached; `harness devices` lists what is")
            serial, server, started = attached
            devices.append(AndroidDevice(c, Adb(server, serial), started))
    except BaseException:
        for d in devices:
            d.close()
        raise
    return devices


def list_devices(config_path: Path) -> int:
    """``harness devices``: every attached device, with its alias when devices.yaml knows it."""
    from rich.console import Console
    from rich.table import Table

    cfg = config_mod.load(config_path)
    servers = {c.adb_server for c in cfg.devices.values()} | {cfg.adb_server}
    by_serial: dict[str, str] = {}
    for c in cfg.devices.values():
        key = c.match.serial or c.match.endpoint or (f"127.0.0.1:{c.emulated.port}" if c.emulated else None)
        if key:
            by_serial[key] = c.alias
    import sys

    table = Table(title="attached devices")
    for col in ("alias", "serial", "state", "model", "android", "abi", "battery", "temp °C", "thermal",
                "app", "emulated"):
        table.add_column(col)
    rows = 0
    for address in servers:
        server = AdbServer.from_address(address)
        for serial, state in server.devices():
            alias = by_serial.get(serial, "")
            if state != "device":
                table.add_row(alias, serial, state, *[""] * 8)
                rows += 1
                continue
            c = cfg.devices.get(alias) or config_mod.DeviceConfig(alias=alias or serial,
                                                                  match=config_mod.Match(serial=serial))
            dev = AndroidDevice(c, Adb(server, serial))
            try:
                d, st, info = dev.describe(), dev.state(), dev.app_info()
            except DeviceError as e:
                table.add_row(alias, serial, f"error: {e}", *[""] * 8)
                continue
            if not alias and not d["emulated"]:
                for c2 in cfg.devices.values():
                    if (c2.match.model and c2.match.model == d["model"]) or (c2.match.device and c2.match.device == d["device"]):
                        alias = c2.alias
                        break
            table.add_row(alias, serial, state, str(d["model"]), str(d["android_version"]), str(d["abi"]),
                          f"{st['battery_level']}%" if st["battery_level"] is not None else "?",
                          str(st["battery_temp_c"]), str(st["thermal_status"]),
                          f"{info['version_name']} ({info['version_code']})" if info else "not installed",
                          "yes" if d["emulated"] else "no")
            rows += 1
    (Console() if sys.stdout.isatty() else Console(width=200)).print(table)
    if not rows:
        print("no devices attached (harness emulator start starts an emulated one)")
    known = ", ".join(sorted(cfg.devices))
    print(f"aliases in {config_path}: {known}")
    return 0
