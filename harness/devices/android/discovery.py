"""Finding the Android device an alias names: by serial, network endpoint, model match, or an
emulated phone the harness starts itself (and stops again when the run ends)."""
from __future__ import annotations

from harness.config import DeviceConfig
from harness.devices.android.adb import Adb, AdbServer
from harness.devices.android.device import AndroidDevice, is_emulated
from harness.errors import DeviceError, UserError


def _find_by_props(server: AdbServer, cfg: DeviceConfig) -> str | None:
    """The first attached phone whose model/device matches. Emulated devices never match by
    model: `pixel7` must not silently measure an emulated Pixel 7 (use serial/endpoint/emulated)."""
    for serial, state in server.devices():
        if state != "device":
            continue
        adb = Adb(server, serial)
        try:
            if is_emulated(adb):
                continue
            if cfg.match.model and adb.getprop("ro.product.model") != cfg.match.model:
                continue
            if cfg.match.device and adb.getprop("ro.product.device") != cfg.match.device:
                continue
        except DeviceError:
            continue
        return serial
    return None


def _attach_emulated(cfg: DeviceConfig, server: AdbServer, start: bool) -> tuple[str, str | None] | None:
    """(serial, name of the emulated phone started for it) or None when not running and not started."""
    from harness import emulator

    name = cfg.emulated.name or cfg.alias
    serial = f"127.0.0.1:{cfg.emulated.port}"
    running = {h.name: h for h in emulator.list_emulators()}
    if name in running and running[name].port == cfg.emulated.port:
        if dict(server.devices()).get(serial) != "device":
            server.connect(serial)
        return serial, None
    if not start:
        return None
    if name in running:
        emulator.stop_emulator(name)
    emulator.start_emulator(name, profile=cfg.emulated.profile, port=cfg.emulated.port, adb_port=server.port)
    return serial, name


def _stopper(name: str):
    """Stop the emulated phone ``name`` (that this run started) when its device closes."""
    def stop() -> None:
        from harness import emulator

        emulator.stop_emulator(name)
    return stop


def attach(cfg: DeviceConfig, start_emulators: bool) -> AndroidDevice | None:
    """The device for ``cfg`` when it is attached (or could be started), else None."""
    server = AdbServer.from_address(cfg.adb_server)
    server.ensure_running()
    if cfg.emulated:
        found = _attach_emulated(cfg, server, start_emulators)
        if found is None:
            return None
        serial, started = found
        return AndroidDevice(cfg, Adb(server, serial), _stopper(started) if started else None)
    if cfg.match.endpoint:
        if dict(server.devices()).get(cfg.match.endpoint) != "device":
            try:
                server.connect(cfg.match.endpoint)
            except DeviceError:
                return None
        return AndroidDevice(cfg, Adb(server, cfg.match.endpoint))
    if cfg.match.serial:
        attached = dict(server.devices()).get(cfg.match.serial) == "device"
        return AndroidDevice(cfg, Adb(server, cfg.match.serial)) if attached else None
    serial = _find_by_props(server, cfg)
    return AndroidDevice(cfg, Adb(server, serial)) if serial else None


def lock_key(cfg: DeviceConfig) -> str | None:
    """The device's key for the machine-wide lock (``AndroidDevice.lock_key``), when the
    definition names it without looking (serial, endpoint, emulated port); else None."""
    server = AdbServer.from_address(cfg.adb_server)
    serial = (f"127.0.0.1:{cfg.emulated.port}" if cfg.emulated else cfg.match.endpoint or cfg.match.serial)
    return f"adb-{server.host}-{server.port}-{serial}" if serial else None


def how_found(cfg: DeviceConfig) -> str:
    m = cfg.match
    return (f"serial {m.serial}" if m.serial else f"endpoint {m.endpoint}" if m.endpoint
            else f"model {m.model!r}" if m.model else f"device {m.device!r}" if m.device
            else f"emulated port {cfg.emulated.port}" if cfg.emulated else "?")


def open_device(cfg: DeviceConfig) -> AndroidDevice:
    device = attach(cfg, start_emulators=True)
    if device is None:
        raise UserError(f"device {cfg.alias!r} ({how_found(cfg)}) is not attached; `harness devices` lists what is")
    return device
