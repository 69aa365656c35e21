"""Start, stop and list emulated devices as background processes (the Python API).

``start_emulator`` spawns ``python -m harness.emulator serve`` in its own session with
its state under ``$HARNESS_CACHE/emulators/<name>/`` (default ``~/.cache/harness``),
waits for it to listen, and ``adb connect``s it to the adb server (starting the server
if needed). ``harness emulator start|stop|list`` (harness/cli/emulator.py) calls these.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import contract
from harness.emulator.children import pid_alive, python_env, terminate, wait_gone
from harness.emulator.profiles import DEFAULT_PROFILE, PROFILE_NAMES
from harness.emulator.server import STATE_FILE
from harness.errors import UserError
from harness.paths import cache_root

DEFAULT_ADB_PORT = 5037
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
ADB_CALL_TIMEOUT_S = 20.0
CONTROL_TIMEOUT_S = 10.0


def default_adb_port() -> int:
    """The adb server port adb itself would use: $ANDROID_ADB_SERVER_PORT, else 5037."""
    try:
        return int(os.environ.get("ANDROID_ADB_SERVER_PORT") or DEFAULT_ADB_PORT)
    except ValueError:
        raise UserError(f"ANDROID_ADB_SERVER_PORT is not a port: {os.environ['ANDROID_ADB_SERVER_PORT']!r}") from None


def emulators_root(state_root: Path | str | None = None) -> Path:
    return Path(state_root) if state_root else cache_root() / "emulators"


def adb_binary() -> str:
    found = os.environ.get("HARNESS_ADB") or shutil.which("adb") or "/usr/bin/adb"
    return found


def adb_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for adb without the variables that would redirect it elsewhere."""
    env = dict(os.environ if base is None else base)
    for k in ("ADB_SERVER_SOCKET", "ANDROID_SERIAL", "ANDROID_ADB_SERVER_PORT"):
        env.pop(k, None)
    return env


def run_adb(args: list[str], adb_port: int, env: dict[str, str] | None = None,
            timeout_s: float = ADB_CALL_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run the adb client against server ``adb_port``; raises UserError on timeout or a missing binary."""
    argv = [adb_binary(), "-P", str(adb_port), *args]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                              env=adb_env(env), stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise UserError(f"adb not found ({argv[0]}); install it (apt-get install adb)") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"adb {' '.join(args)} timed out after {timeout_s:.0f} s") from None


def control(control_port: int, op: str, timeout_s: float = CONTROL_TIMEOUT_S, **fields: Any) -> dict:
    """Send one request on an emulator's control channel; raises UserError if it fails."""
    try:
        with socket.create_connection(("127.0.0.1", control_port), timeout=timeout_s) as s:
            s.sendall(json.dumps({"op": op, **fields}).encode() + b"\n")
            with s.makefile("rb") as f:
                line = f.readline()
    except OSError as e:
        raise UserError(f"emulator control port {control_port} unreachable: {e}") from None
    if not line:
        raise UserError(f"emulator control port {control_port} closed without a reply to {op!r}")
    reply = json.loads(line)
    if not reply.get("ok"):
        raise UserError(f"emulator refused {op!r}: {reply.get('error')}")
    return reply


@dataclasses.dataclass
class EmulatorHandle:
    """A running emulated device, as seen from outside its process."""

    name: str
    serial: str
    port: int
    control_port: int
    pid: int
    profile: str
    state_dir: Path
    fs_root: Path
    adb_port: int | None = None

    def control(self, op: str, **fields: Any) -> dict:
        return control(self.control_port, op, **fields)

    def set_faults(self, **faults: Any) -> dict:
        return self.control("set_faults", faults=faults)["faults"]

    def clear_faults(self) -> dict:
        return self.control("clear_faults")["faults"]

    def set_state(self, **state: Any) -> dict:
        return self.control("set_state", state=state)["snapshot"]

    def snapshot(self) -> dict:
        return self.control("snapshot")["snapshot"]

    def drop_connections(self) -> int:
        return self.control("drop")["dropped"]

    def __str__(self) -> str:
        return f"{self.name}\t{self.serial}\t{self.profile}\tpid {self.pid}\tadb port {self.adb_port}"

    def alive(self) -> bool:
        return pid_alive(self.pid)

    @classmethod
    def from_state_file(cls, path: Path) -> "EmulatorHandle":
        info = json.loads(path.read_text())
        return cls(name=info["name"], serial=info["serial"], port=info["port"], control_port=info["control_port"],
                   pid=info["pid"], profile=info["profile"], state_dir=Path(info["state_dir"]),
                   fs_root=Path(info["fs_root"]), adb_port=info.get("adb_port"))


def start_emulator(name: str | None = None, *, profile: str = DEFAULT_PROFILE, port: int | None = None,
                   adb_port: int | None = None, connect: bool = True,
                   state_root: Path | str | None = None, faults: dict | None = None, state: dict | None = None,
                   app_version_code: int | None = contract.APP_VERSION_CODE,
                   app_version_name: str = contract.APP_VERSION_NAME, hostrun_cmd: list[str] | None = None,
                   env: dict[str, str] | None = None, timeout_s: float = START_TIMEOUT_S) -> EmulatorHandle:
    """Start an emulated device in the background and (by default) ``adb connect`` it.

    ``adb_port=None`` means $ANDROID_ADB_SERVER_PORT or 5037. ``app_version_code=None``
    starts with the benchmark app not installed. ``env`` is
    the environment for the adb client and the device process (tests pass one with
    their own HOME). Raises UserError with the device log's tail if it does not come up.
    """
    if adb_port is None:
        adb_port = default_adb_port()
    if profile not in PROFILE_NAMES:
        raise UserError(f"unknown emulator profile {profile!r}; known: {', '.join(PROFILE_NAMES)}")
    root = emulators_root(state_root)
    name = _free_name(root, profile) if name is None else name
    if not name or "/" in name or name.startswith("."):
        raise UserError(f"bad emulator name {name!r}")
    state_dir = root / name
    if _live_state(state_dir):
        raise UserError(f"emulator {name!r} is already running; stop it first (harness emulator stop {name})")
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    argv = [sys.executable, "-m", "harness.emulator", "serve", "--name", name, "--profile", profile,
            "--state-dir", str(state_dir), "--app-version-name", app_version_name,
            "--app-version-code", "none" if app_version_code is None else str(app_version_code)]
    if port is not None:
        argv += ["--port", str(port)]
    argv += ["--adb-port", str(adb_port)]
    for option, value in (("--faults", faults), ("--state", state), ("--hostrun-cmd", hostrun_cmd)):
        if value:
            argv += [option, json.dumps(value)]
    handle = _spawn(argv, name, state_dir, python_env(adb_env(env)), timeout_s)
    if connect:
        try:
            connect_adb(handle, adb_port, env=env, timeout_s=timeout_s)
        except UserError:
            stop_emulator(name, state_root=state_root, env=env)
            raise
    return handle


def _free_name(root: Path, profile: str) -> str:
    """``<profile>-<n>`` for the first n whose state directory is unused or stale."""
    taken = {p.name for p in root.iterdir()} if root.is_dir() else set()
    return next(f"{profile}-{i}" for i in range(1, 10_000) if f"{profile}-{i}" not in taken
                or not _live_state(root / f"{profile}-{i}"))


def _spawn(argv: list[str], name: str, state_dir: Path, env: dict[str, str], timeout_s: float) -> EmulatorHandle:
    """Run ``serve`` in a session of its own; its handle once its state file names its pid."""
    log_path = state_dir / "emulator.log"
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                                start_new_session=True, cwd=str(state_dir))
    deadline = time.monotonic() + timeout_s
    state_file = state_dir / STATE_FILE
    while True:
        if state_file.is_file():
            try:
                handle = EmulatorHandle.from_state_file(state_file)
                if handle.pid == proc.pid:
                    return handle
            except (ValueError, KeyError, OSError):
                pass
        if proc.poll() is not None or time.monotonic() > deadline:
            terminate(proc.pid, STOP_TIMEOUT_S)
            tail = log_path.read_text("utf-8", "replace").strip().splitlines()[-5:]
            raise UserError(f"emulator {name!r} did not start"
                            + (f" (exit status {proc.returncode})" if proc.returncode is not None else "")
                            + (": " + " | ".join(tail) if tail else ""))
        time.sleep(0.02)


def connect_adb(handle: EmulatorHandle, adb_port: int, env: dict[str, str] | None = None,
                timeout_s: float = START_TIMEOUT_S) -> None:
    """``adb connect`` the device and wait until the server lists it as ``device``."""
    started = run_adb(["start-server"], adb_port, env)
    if started.returncode != 0:
        raise UserError(f"adb -P {adb_port} start-server failed: {started.stderr.strip() or started.stdout.strip()}")
    deadline = time.monotonic() + timeout_s
    result = run_adb(["connect", handle.serial], adb_port, env)
    if "connected to" not in result.stdout:
        raise UserError(f"adb connect {handle.serial} failed: {(result.stdout + result.stderr).strip()}")
    while time.monotonic() < deadline:
        state = run_adb(["-s", handle.serial, "get-state"], adb_port, env)
        if state.stdout.strip() == "device":
            return
        time.sleep(0.05)
    raise UserError(f"{handle.serial} did not become 'device' within {timeout_s:.0f} s")


def _live_state(state_dir: Path) -> EmulatorHandle | None:
    path = state_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        handle = EmulatorHandle.from_state_file(path)
    except (ValueError, KeyError, OSError):
        return None
    return handle if pid_alive(handle.pid) else None


def stop_emulator(name: str | None = None, *, all: bool = False, state_root: Path | str | None = None,
                  env: dict[str, str] | None = None, disconnect: bool = True) -> list[str]:
    """Stop one emulator (``name``), or every running one (``all=True`` or ``name=None``),
    and ``adb disconnect`` it; returns the names stopped. Never raises for a device that is
    already gone; raises UserError for an unknown name."""
    root = emulators_root(state_root)
    if all or name is None:
        handles = list_emulators(state_root)
    else:
        handle = _live_state(root / name)
        if handle is None:
            if (root / name).is_dir():
                return []
            raise UserError(f"no emulator named {name!r} under {root}")
        handles = [handle]
    stopped = []
    for h in handles:
        if disconnect and h.adb_port is not None:
            try:
                run_adb(["disconnect", h.serial], h.adb_port, env, timeout_s=5)
            except UserError:
                pass
        try:
            control(h.control_port, "stop", timeout_s=2)
        except (UserError, ValueError):
            pass
        if not wait_gone(h.pid, STOP_TIMEOUT_S):
            terminate(h.pid, STOP_TIMEOUT_S)
        try:
            (h.state_dir / STATE_FILE).unlink(missing_ok=True)
        except OSError:
            pass
        stopped.append(h.name)
    return stopped


def list_emulators(state_root: Path | str | None = None) -> list[EmulatorHandle]:
    """Running emulators (stale state files of dead ones are skipped)."""
    root = emulators_root(state_root)
    if not root.is_dir():
        return []
    return [h for d in sorted(root.iterdir()) if d.is_dir() and (h := _live_state(d)) is not None]
