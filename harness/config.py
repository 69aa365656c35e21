"""devices.yaml -> validated, frozen dataclasses. Unknown keys and wrong types are refused.

Every mistake is one line naming the file and the key: ``devices.yaml: devices.pixel7.cooldown.ceiling:
unknown key (known: thermal_ceiling, max_wait_s, poll_s)``. Refused besides wrong types and
unknown keys: a key given twice (YAML would keep the last silently), more than one way to
find a device (serial, endpoint, match, emulated), an unknown ``kind``, durations that are
negative, zero where zero means nothing, or not finite, and a file that is not UTF-8 text.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness import contract
from harness.errors import UserError
from harness.files import read_text

THERMAL_STATUS_NAMES = ["none", "light", "moderate", "severe", "critical", "emergency", "shutdown"]


@dataclass(frozen=True)
class Cooldown:
    """The thermal gate: before each block, wait until the device's thermal status is at or
    below ``thermal_ceiling`` (0 none … 6 shutdown), polling every ``poll_s``, at most ``max_wait_s``."""

    thermal_ceiling: int = 1
    max_wait_s: float = 300.0
    poll_s: float = 5.0
    # After the wait, an optional fixed pause (seconds) before measuring.
    settle_s: float = 0.0


@dataclass(frozen=True)
class Match:
    """How an alias finds its device among the attached ones."""

    serial: str | None = None          # exact serial, e.g. 37211FDJH0002B or emulator-5554
    endpoint: str | None = None        # host:port, attached with `adb connect`
    model: str | None = None           # ro.product.model, e.g. "Pixel 7"
    device: str | None = None          # ro.product.device, e.g. panther


@dataclass(frozen=True)
class Emulated:
    """An emulated device (harness.emulator) the harness starts itself when it is not running."""

    profile: str = "pixel7"
    port: int = 15037
    name: str | None = None


@dataclass(frozen=True)
class DeviceConfig:
    alias: str
    match: Match
    kind: str = "android"              # which package finds and drives it (harness.devices.registry)
    emulated: Emulated | None = None
    threads: int = 1
    cooldown: Cooldown = field(default_factory=Cooldown)
    work_dir: str = contract.DEFAULT_WORK_DIR
    adb_server: str | None = None
    apk: str | None = None             # path of the built APK to install (default: the build script's output)


@dataclass(frozen=True)
class Config:
    path: Path
    adb_server: str | None
    devices: dict[str, DeviceConfig]

    def get(self, alias: str) -> DeviceConfig:
        if alias not in self.devices:
            known = ", ".join(sorted(self.devices)) or "none"
            raise UserError(f"{self.path}: no device alias {alias!r} (known: {known}, or 'host')")
        return self.devices[alias]


def _keys(where: str, value: Any, allowed: dict[str, type | tuple], path: Path) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{path}: {where}: expected a mapping, got {type(value).__name__}")
    for k, v in value.items():
        if k not in allowed:
            raise UserError(f"{path}: {where}.{k}: unknown key (known: {', '.join(allowed)})")
        types = allowed[k]
        ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)))
        if v is not None and not ok:
            want = "/".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
            raise UserError(f"{path}: {where}.{k}: expected {want}, got {type(v).__name__} {v!r}")
    return value


def _endpoint(where: str, value: str | None, path: Path) -> None:
    if value is None:
        return
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"{path}: {where}: expected host:port, got {value!r}")


def _durations(where: str, cd: Cooldown, path: Path) -> None:
    """Seconds that must be finite and positive (poll, max wait) or at least zero (settle)."""
    for name, minimum_open in (("poll_s", True), ("max_wait_s", True), ("settle_s", False)):
        value = getattr(cd, name)
        if not math.isfinite(value) or value < 0 or (minimum_open and value == 0):
            want = "a number of seconds above 0" if minimum_open else "a number of seconds, 0 or more"
            raise UserError(f"{path}: {where}.cooldown.{name}: must be {want}, got {value!r}")


def _one_selector(where: str, match: Match, emulated: Emulated | None, path: Path) -> None:
    """Exactly one way to find the device: serial, endpoint, match (model/device) or emulated."""
    given = [name for name, present in (("serial", match.serial), ("endpoint", match.endpoint),
                                        ("match", match.model or match.device), ("emulated", emulated))
             if present]
    if not given:
        raise UserError(f"{path}: {where}: say how to find it: serial, endpoint, match or emulated")
    if len(given) > 1:
        raise UserError(f"{path}: {where}: give one of serial, endpoint, match or emulated, not "
                        f"{' and '.join(given)} (which one would be measured?)")


def _kind(where: str, kind: str, path: Path) -> str:
    from harness.devices.registry import KINDS

    if kind not in KINDS:
        raise UserError(f"{path}: {where}.kind: unknown device kind {kind!r} (known: {', '.join(KINDS)})")
    return kind


def definition(cfg: DeviceConfig) -> dict:
    """A device's definition as plain data, as recorded in a run's plan (``apk`` left out:
    where the APK sits is not part of how the device measures)."""
    d = dataclasses.asdict(cfg)
    d.pop("apk", None)
    return d


def parse(doc: Any, path: Path) -> Config:
    top = _keys("(top)", doc, {"adb_server": str, "defaults": dict, "devices": dict}, path)
    _endpoint("adb_server", top.get("adb_server"), path)
    dev_keys = {"kind": str, "serial": str, "endpoint": str, "match": dict, "emulated": dict, "threads": int,
                "cooldown": dict, "work_dir": str, "adb_server": str, "apk": str}
    defaults = _keys("defaults", top.get("defaults"), {k: dev_keys[k] for k in
                                                       ("threads", "cooldown", "work_dir")}, path)
    devices = {}
    for alias, body in (top.get("devices") or {}).items():
        where = f"devices.{alias}"
        if not isinstance(alias, str) or not alias or alias in ("host", "all") or "," in alias:
            raise UserError(f"{path}: {where}: bad alias (reserved or contains a comma)")
        body = _keys(where, body, dev_keys, path)
        match = Match(**_keys(f"{where}.match", body.get("match"), {"model": str, "device": str}, path),
                      serial=body.get("serial"), endpoint=body.get("endpoint"))
        _endpoint(f"{where}.endpoint", match.endpoint, path)
        _endpoint(f"{where}.adb_server", body.get("adb_server"), path)
        emulated = None
        if "emulated" in body:
            em = _keys(f"{where}.emulated", body["emulated"], {"profile": str, "port": int, "name": str}, path)
            emulated = Emulated(**em)
            if not 1024 <= emulated.port <= 65535 or 5555 <= emulated.port <= 5585:
                raise UserError(f"{path}: {where}.emulated.port: {emulated.port} must be 1024-65535 and "
                                "outside 5555-5585 (the adb server probes those for emulators)")
        _one_selector(where, match, emulated, path)
        cd_keys = {"thermal_ceiling": int, "max_wait_s": (int, float), "poll_s": (int, float),
                   "settle_s": (int, float)}
        cd = {**_keys("defaults.cooldown", defaults.get("cooldown"), cd_keys, path),
              **_keys(f"{where}.cooldown", body.get("cooldown"), cd_keys, path)}
        cooldown = Cooldown(**cd)
        _durations(where, cooldown, path)
        if not 0 <= cooldown.thermal_ceiling <= 6:
            raise UserError(f"{path}: {where}.cooldown.thermal_ceiling: must be 0..6 "
                            f"({', '.join(f'{i} {n}' for i, n in enumerate(THERMAL_STATUS_NAMES))})")
        threads = body.get("threads", defaults.get("threads", 1))
        if threads < 1:
            raise UserError(f"{path}: {where}.threads: must be at least 1")
        work_dir = body.get("work_dir", defaults.get("work_dir", contract.DEFAULT_WORK_DIR))
        if not work_dir.startswith("/") or any(c in work_dir for c in "'\"`$;&|\n\\ "):
            raise UserError(f"{path}: {where}.work_dir: must be an absolute path of plain characters")
        devices[alias] = DeviceConfig(alias=alias, match=match, kind=_kind(where, body.get("kind", "android"), path),
                                      emulated=emulated, threads=threads,
                                      cooldown=cooldown, work_dir=work_dir.rstrip("/"),
                                      adb_server=body.get("adb_server") or top.get("adb_server"),
                                      apk=body.get("apk"))
    return Config(path=path, adb_server=top.get("adb_server"), devices=devices)


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(path: Path) -> Config:
    path = Path(path)
    text = read_text(path, "device configuration")
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)   # noqa: S506  a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}:{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    return parse(doc or {}, path)
