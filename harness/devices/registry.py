"""Device kinds by name, and opening the devices a run names.

``host`` is this machine; every other alias comes from devices.yaml, whose ``kind:``
(default ``android``) picks the package that finds it. A new kind — another OS, a cloud
device farm — is one package with ``open_device(cfg)`` and ``attach(cfg, start_emulators)``
plus one entry in ``KINDS``.
"""
from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Iterator

from harness import config as config_mod, signals
from harness.devices.base import Device
from harness.errors import UserError

HOST = "host"
ALL = "all"
# kind -> module providing open_device(cfg) and attach(cfg, start_emulators)
KINDS = {"android": "harness.devices.android"}


def _kind(name: str):
    if name not in KINDS:
        raise UserError(f"unknown device kind {name!r}; known: {', '.join(KINDS)}")
    return importlib.import_module(KINDS[name])


def check_names(names: list[str], config_path: Path) -> None:
    """Fail fast (before any conversion) on an unknown alias or a bad devices.yaml."""
    others = [n for n in names if n not in (HOST, ALL)]
    if others or ALL in names:
        cfg = config_mod.load(config_path)
        for n in others:
            cfg.get(n)


def _open_all(cfg: config_mod.Config, config_path: Path) -> list[Device]:
    found = [_kind(c.kind).attach(c, start_emulators=False) for c in cfg.devices.values()]
    devices = [d for d in found if d is not None]
    if not devices:
        raise UserError(f"--device all: none of the devices in {config_path} is attached")
    return devices


@contextlib.contextmanager
def open_devices(names: list[str], config_path: Path) -> Iterator[list[Device]]:
    """Open the named devices; close every one of them on the way out, whatever happens."""
    devices: list[Device] = []
    try:
        if HOST in names:
            from harness.devices.host.device import HostDevice

            devices.append(HostDevice())
        others = [n for n in names if n != HOST]
        if others:
            cfg = config_mod.load(config_path)
            if others == [ALL]:
                devices.extend(_open_all(cfg, config_path))
            else:
                for alias in others:
                    c = cfg.get(alias)
                    devices.append(_kind(c.kind).open_device(c))
        yield devices
    finally:
        with signals.shielded():     # a second Ctrl-C must not orphan an emulated phone
            for d in devices:
                try:
                    d.close()
                except Exception:  # noqa: BLE001  cleanup never raises
                    pass
