"""``python -m harness.emulator start|stop|list|serve``: manage emulated ADB devices.

``serve`` is the device process itself (foreground); ``start`` runs it in the
background and connects it to the adb server.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

from harness import contract
from harness.emulator.profiles import DEFAULT_PROFILE, PROFILE_NAMES
from harness.errors import UserError


def _json_arg(text: str) -> dict | list:
    try:
        return json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from None


def build_parser(prog: str = "python -m harness.emulator") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILE_NAMES)
        sp.add_argument("--port", type=int, help="TCP port for adb (default: a free one outside 5554-5585)")
        sp.add_argument("--faults", type=_json_arg, help='fault knobs as JSON, e.g. {"refuse_connections": 2}')
        sp.add_argument("--state", type=_json_arg, help='device state as JSON, e.g. {"thermal_status": 3}')
        sp.add_argument("--app-version-code", default=str(contract.APP_VERSION_CODE),
                        help="installed benchmark app version, or 'none' for not installed")
        sp.add_argument("--app-version-name", default=contract.APP_VERSION_NAME)
        sp.add_argument("--hostrun-cmd", type=_json_arg, help="argv prefix of the host runner (JSON list)")
        sp.add_argument("--screen", choices=("on", "off"), help="screen state at start (state knob 'screen')")
        sp.add_argument("--locked", action="store_true", default=None, help="keyguard showing at start")
        sp.add_argument("--secure-lock", action="store_true", default=None,
                        help="the keyguard has a PIN: wm dismiss-keyguard does not unlock")
        sp.add_argument("--slow-factor", type=float, help="fault knob slow_factor (>= 1): the app's work takes "
                                                          "this many times longer")
        sp.add_argument("--thermal-status", type=int, help="state knob thermal_status (0-6)")
        sp.add_argument("--thermal-headroom", type=float, help="state knob thermal_headroom (>= 0)")

    start = sub.add_parser("start", help="start a device in the background and adb-connect it")
    common(start)
    start.add_argument("--name")
    start.add_argument("--adb-port", type=int, help="adb server port (default: $ANDROID_ADB_SERVER_PORT or 5037)")
    start.add_argument("--no-connect", action="store_true")

    serve = sub.add_parser("serve", help="run a device in the foreground (what start spawns)")
    common(serve)
    serve.add_argument("--name", required=True)
    serve.add_argument("--state-dir", required=True, type=Path)
    serve.add_argument("--adb-port", type=int)
    serve.add_argument("-v", "--verbose", action="store_true")

    stop = sub.add_parser("stop", help="stop a device (or --all)")
    stop.add_argument("name", nargs="?")
    stop.add_argument("--all", action="store_true")

    sub.add_parser("list", help="list running devices")
    return p


def _version_code(text: str) -> int | None:
    if text.lower() in ("none", "", "0"):
        return None
    try:
        return int(text)
    except ValueError:
        raise UserError(f"--app-version-code must be an integer or 'none', got {text!r}") from None


def _merged(args) -> tuple[dict | None, dict | None]:
    """--faults/--state JSON plus the convenience options, as one faults and one state dict."""
    faults = dict(args.faults or {})
    state = dict(args.state or {})
    if args.slow_factor is not None:
        faults["slow_factor"] = args.slow_factor
    for key in ("screen", "locked", "secure_lock", "thermal_status", "thermal_headroom"):
        value = getattr(args, key)
        if value is not None:
            state[key] = value
    return faults or None, state or None


def serve(args) -> int:
    from harness.emulator.device import Device
    from harness.emulator.server import EmulatorServer

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # adbd runs every command with umask(0) (packages/modules/adb/daemon/main.cpp adbd_main):
    # new directories are 0777 and files made with > or touch 0666, as on a phone.
    os.umask(0)
    faults, state = _merged(args)
    device = Device(args.state_dir, args.name, args.profile, app_version_code=_version_code(args.app_version_code),
                    app_version_name=args.app_version_name, hostrun_cmd=args.hostrun_cmd,
                    faults=faults, state=state)
    server = EmulatorServer(device, port=args.port, adb_port=args.adb_port)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    server.start()
    logging.info("emulated %s listening as %s (control port %d)", args.profile, server.serial, server.control_port)
    while not server.stopped.wait(0.5):
        pass
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m harness.emulator") -> int:
    from harness.emulator import manage

    args = build_parser(prog).parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "start":
            faults, state = _merged(args)
            h = manage.start_emulator(args.name, profile=args.profile, port=args.port, adb_port=args.adb_port,
                                      connect=not args.no_connect, faults=faults, state=state,
                                      app_version_code=_version_code(args.app_version_code),
                                      app_version_name=args.app_version_name, hostrun_cmd=args.hostrun_cmd)
            print(h.serial)
            print(f"emulator {h.name!r} ({h.profile}) running as {h.serial}, pid {h.pid}, state in {h.state_dir}",
                  file=sys.stderr)
            print(f"stop it with: python -m harness.emulator stop {h.name}", file=sys.stderr)
            return 0
        if args.command == "stop":
            names = manage.stop_emulator(args.name, all=args.all)
            print("stopped: " + (", ".join(names) if names else "nothing"))
            return 0
        if args.command == "list":
            handles = manage.list_emulators()
            if not handles:
                print("no emulators running")
            for h in handles:
                print(h)
            return 0
    except UserError as e:
        print(f"harness: {e}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
