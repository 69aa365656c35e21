"""Device kinds by name, and opening the devices a run names.

``host`` is this machine; every other alias comes from devices.yaml, whose ``kind:``
(default ``android``) picks the package that finds it. A new kind — another OS, a cloud
device farm — is one package with ``open_device(cfg)``, ``attach(cfg, start_emulators)`` and
``lock_key(cfg)`` plus one entry in ``KINDS``.

A device is measured by one run at a time. Opening it takes a lock on this machine
(``<cache>/locks/device-<adb server>-<serial>.lock``, or ``device-host.lock``), before an
emulated phone is started, and then the device's own lock (``claim``: for a phone, a
lock folder on the phone that harnesses on other machines honour too). A second run
waits for both, up to ``wait_s``, with one line naming the holder, then gives up in one line.
Every run takes its devices in the same order (of their lock keys), so two runs never wait
for each other.
"""
from __future__ import annotations

import contextlib
import importlib
import re
import time
from pathlib import Path
from typing import Callable, Iterator

from harness import config as config_mod, paths, signals
from harness.devices.base import Device
from harness.errors import UserError
from harness.locks import FileLock, LockHeld

HOST = "host"
ALL = "all"
# How long a run waits for a device another run holds, by default (--device-wait).
DEFAULT_WAIT_S = 600.0
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


def definitions(names: list[str], config_path: Path) -> dict[str, dict]:
    """How each named alias resolves now (devices.yaml), for the plan: alias -> definition."""
    out: dict[str, dict] = {}
    if HOST in names:
        out[HOST] = {"kind": "host"}
    others = [n for n in names if n not in (HOST, ALL)]
    if others or ALL in names:
        cfg = config_mod.load(config_path)
        for alias in (list(cfg.devices) if ALL in names else others):
            out[alias] = config_mod.definition(cfg.get(alias))
    return out


class _Holder:
    """The locks one run holds on its devices, and how it waits for them."""

    def __init__(self, run_id: str, wait_s: float, say: Callable[[str], None]):
        self.run_id, self.say, self.wait_s = run_id, say, wait_s
        self.deadline = time.monotonic() + max(0.0, wait_s)
        self.locks: list[FileLock] = []
        self.held: dict[str, str] = {}      # lock key -> the alias it was taken for

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def host_lock(self, key: str, alias: str) -> None:
        if key in self.held:       # flock would wait for ourselves: two aliases, one device
            raise UserError(f"{alias} and {self.held[key]} are the same device; name it once")
        name = re.sub(r"[^A-Za-z0-9._-]", "_", key)
        lock = FileLock(paths.cache_root() / "locks" / f"device-{name}.lock", f"run {self.run_id} on {alias}")

        def waiting(holder) -> None:
            who = holder.describe() if holder else "another process"
            self.say(f"{alias} is in use by {who}; waiting up to {self.left():.0f} s for it")
        try:
            self.locks.append(lock.acquire(self.left(), waiting))
            self.held[key] = alias
        except LockHeld as e:
            who = e.holder.describe() if e.holder else "another process"
            hint = f"waited {self.wait_s:.0f} s" if self.wait_s > 0 else "--device-wait SECONDS waits for it"
            raise UserError(f"{alias} is in use by {who}; {hint}") from None

    def release(self) -> None:
        for lock in reversed(self.locks):
            lock.release()


def _lock_order(names: list[str], cfg: config_mod.Config | None) -> list[str]:
    """The aliases in one total order of their lock keys, the same in every run: two runs that
    name the same two devices in opposite orders must not each hold one and wait for the other."""
    def key(alias: str) -> tuple[int, str]:
        if alias == HOST:
            return 0, "host"
        c = cfg.get(alias)
        found = _kind(c.kind).lock_key(c)
        return (0, found) if found else (1, alias)    # found only by looking: after the others
    return sorted(names, key=key)


def _open_one(alias: str, cfg: config_mod.Config | None, holder: _Holder) -> Device:
    if alias == HOST:
        from harness.devices.host.device import HostDevice

        device: Device = HostDevice()
        holder.host_lock(device.lock_key(), alias)
    else:
        c = cfg.get(alias)
        kind = _kind(c.kind)
        key = kind.lock_key(c)       # known before attaching (and starting an emulated phone), or None
        if key:
            holder.host_lock(key, alias)
        device = kind.open_device(c)
        if not key:
            holder.host_lock(device.lock_key(), alias)
    try:
        device.claim(holder.run_id, holder.left(), holder.say)
    except BaseException:
        _close_quietly(device)
        raise
    return device


@contextlib.contextmanager
def open_devices(names: list[str], config_path: Path, run_id: str = "unnamed",
                 wait_s: float = DEFAULT_WAIT_S, say: Callable[[str], None] = lambda _m: None
                 ) -> Iterator[list[Device]]:
    """Open and hold the named devices for run ``run_id``; let go of and close every one of
    them on the way out, whatever happens."""
    devices: list[Device] = []
    holder = _Holder(run_id, wait_s, say)
    try:
        cfg = config_mod.load(config_path) if any(n != HOST for n in names) else None
        if HOST in names:
            devices.append(_open_one(HOST, cfg, holder))
        if ALL in names:
            for d in sorted(_open_all(cfg, config_path), key=lambda d: d.lock_key()):
                holder.host_lock(d.lock_key(), d.alias)      # attached already: hold them in turn
                devices.append(d)
                d.claim(run_id, holder.left(), say)
        else:
            for alias in _lock_order([n for n in names if n != HOST], cfg):
                devices.append(_open_one(alias, cfg, holder))
            devices.sort(key=lambda d: names.index(d.alias))      # back in the order asked
        yield devices
    finally:
        with signals.shielded():     # a second Ctrl-C must not orphan an emulated phone
            for d in devices:
                _close_quietly(d)
            holder.release()


def _close_quietly(device: Device) -> None:
    try:
        device.close()
    except Exception:  # noqa: BLE001  cleanup never raises
        pass
