"""``harness devices``: every attached device, with its alias, state and installed app."""
from __future__ import annotations

import sys

from harness.cli import common


def add_parser(sub) -> None:
    p = common.add_command(
        sub, "devices", help="list attached and configured devices",
        description="Every device the adb server(s) of devices.yaml know, with its alias, model, Android "
                    "version, ABI, battery, temperature, thermal status and the benchmark app installed on it; "
                    "then the aliases devices.yaml defines ('host' needs no entry).",
        examples="harness devices\nharness devices --config lab.yaml",
        exits="0 listed\n1 a bad devices.yaml or no adb (one line)\n2 usage error")
    common.add_config(p)
    p.set_defaults(func=run)


def _alias_for(cfg, serial: str, described: dict | None) -> str:
    for c in cfg.devices.values():
        key = c.match.serial or c.match.endpoint or (f"127.0.0.1:{c.emulated.port}" if c.emulated else None)
        if key == serial:
            return c.alias
    if described and not described["emulated"]:
        for c in cfg.devices.values():
            if (c.match.model and c.match.model == described["model"]) or \
                    (c.match.device and c.match.device == described["device"]):
                return c.alias
    return ""


def _row(cfg, server, serial: str, state: str) -> list[str]:
    from harness import config as config_mod
    from harness.devices.android.adb import Adb
    from harness.devices.android.device import AndroidDevice
    from harness.errors import DeviceError

    if state != "device":
        return [_alias_for(cfg, serial, None), serial, state, *[""] * 8]
    c = config_mod.DeviceConfig(alias=serial, match=config_mod.Match(serial=serial))
    dev = AndroidDevice(c, Adb(server, serial))
    try:
        d, st, info = dev.describe(), dev.state(), dev.app_info()
        build = dev.installed_apk_sha256() if info else None
    except DeviceError as e:
        return [_alias_for(cfg, serial, None), serial, f"error: {e}", *[""] * 8]
    return [_alias_for(cfg, serial, d), serial, state, str(d["model"]), str(d["android_version"]), str(d["abi"]),
            f"{st['battery_level']}%" if st["battery_level"] is not None else "?",
            str(st["battery_temp_c"]), str(st["thermal_status"]),
            _app_cell(info, build),
            "yes" if d["emulated"] else "no"]


def _app_cell(info: dict | None, build: str | None) -> str:
    """The installed app: version, and which build (its APK's sha256) against the one built here."""
    from harness.devices.android.device import DEFAULT_APK
    from harness.files import sha256_file

    if not info:
        return "not installed"
    text = f"{info['version_name']} ({info['version_code']})"
    if build:
        local = sha256_file(DEFAULT_APK) if DEFAULT_APK.is_file() else None
        text += f" build {build[:8]}" + ("" if local is None else " = local build" if local == build
                                         else " ≠ local build")
    return text


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness import config as config_mod
    from harness.devices.android.adb import AdbServer

    config_path = common.config_path(args)
    cfg = config_mod.load(config_path)
    servers = {c.adb_server for c in cfg.devices.values()} | {cfg.adb_server}
    table = Table(title="attached devices")
    for col in ("alias", "serial", "state", "model", "android", "abi", "battery", "temp °C", "thermal",
                "app", "emulated"):
        table.add_column(col)
    rows = 0
    for address in servers:
        server = AdbServer.from_address(address)
        for serial, state in server.devices():
            table.add_row(*_row(cfg, server, serial, state))
            rows += 1
    (Console() if sys.stdout.isatty() else Console(width=200)).print(table)
    if not rows:
        print("no devices attached (harness emulator start starts an emulated one)")
    print(f"aliases in {config_path}: {', '.join(sorted(cfg.devices))}, and host (this machine)")
    return 0
