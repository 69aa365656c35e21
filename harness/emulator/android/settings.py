"""The emulated phone's settings, screen and keyguard controls: ``settings``, ``input``, ``svc``, ``wm``.

Sources: SettingsService, svc's PowerCommand, InputShellCommand, WindowManagerShellCommand.
"""
from __future__ import annotations

from harness.emulator.sh.streams import Ctx

# svc power stayon: BatteryManager.BATTERY_PLUGGED_AC | USB | WIRELESS.
_STAYON = {"true": 7, "false": 0, "ac": 1, "usb": 2, "wireless": 4}
_WAKE_KEYS = {"KEYCODE_WAKEUP", "224"}
_SLEEP_KEYS = {"KEYCODE_SLEEP", "223"}
_POWER_KEYS = {"KEYCODE_POWER", "26"}
_MENU_KEYS = {"KEYCODE_MENU", "82"}


def cmd_settings(ctx: Ctx) -> int:
    args = [a for a in ctx.argv[1:] if not a.startswith("--user")]
    store = ctx.device.settings
    if len(args) >= 3 and args[0] == "get":
        ctx.out(store.get((args[1], args[2]), "null") + "\n")
        return 0
    if len(args) >= 4 and args[0] == "put":
        store[(args[1], args[2])] = args[3]
        return 0
    if len(args) >= 3 and args[0] == "delete":
        ctx.out(f"Deleted {int(store.pop((args[1], args[2]), None) is not None)} rows\n")
        return 0
    if len(args) == 2 and args[0] == "list":
        for (ns, k), v in sorted(store.items()):
            if ns == args[1]:
                ctx.out(f"{k}={v}\n")
        return 0
    ctx.err("Invalid command: " + " ".join(args) + "\n")
    return 255


def cmd_input(ctx: Ctx) -> int:
    """``input keyevent`` wakes/sleeps the screen and, on an insecure keyguard, MENU unlocks;
    other input is accepted and has no effect on the emulated phone."""
    args = ctx.argv[1:]
    if args[:1] == ["keyevent"]:
        dev = ctx.device
        for key in args[1:]:
            if key in _WAKE_KEYS:
                dev.set_state({"screen": "on"})
            elif key in _SLEEP_KEYS:
                dev.set_state({"screen": "off", "locked": True})
            elif key in _POWER_KEYS:
                on = dev.state.screen == "on"
                dev.set_state({"screen": "off", "locked": True} if on else {"screen": "on"})
            elif key in _MENU_KEYS and dev.state.screen == "on" and not dev.state.secure_lock:
                dev.set_state({"locked": False})
        return 0
    if not args:
        ctx.err("Usage: input [<source>] <command> [<arg>...]\n")
        return 1
    return 0


def cmd_svc(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    if args[:2] == ["power", "stayon"] and len(args) == 3 and args[2] in _STAYON:
        ctx.device.settings[("global", "stay_on_while_plugged_in")] = str(_STAYON[args[2]])
        return 0
    if args[:1] == ["power"]:
        ctx.out("Control the power manager\n\nusage: svc power stayon [true|false|usb|ac|wireless]\n"
                "         Set the 'keep awake while plugged in' setting.\n       svc power reboot [reason]\n"
                "         Perform a runtime shutdown and reboot device with specified reason.\n")
        return 0
    return 0


def screen_size(ctx: Ctx) -> str:
    """``wm size``: the override, else the profile's screen."""
    w, h, _d = ctx.device.profile.screen
    return getattr(ctx.device, "wm_size", None) or f"{w}x{h}"


def density(ctx: Ctx) -> int:
    """``wm density``: the override, else the profile's."""
    return getattr(ctx.device, "wm_density", None) or ctx.device.profile.screen[2]


def cmd_wm(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    dev = ctx.device
    w, h, d = dev.profile.screen
    if args[:1] == ["size"]:
        if len(args) == 1:
            ctx.out(f"Physical size: {w}x{h}\n" + (f"Override size: {dev.wm_size}\n" if getattr(dev, "wm_size", None)
                                                  else ""))
        else:
            dev.wm_size = None if args[1] == "reset" else args[1]
        return 0
    if args[:1] == ["density"]:
        if len(args) == 1:
            ctx.out(f"Physical density: {d}\n" + (f"Override density: {dev.wm_density}\n"
                                                  if getattr(dev, "wm_density", None) else ""))
        else:
            dev.wm_density = None if args[1] == "reset" else int(args[1])
        return 0
    if args[:1] == ["dismiss-keyguard"]:
        if not dev.state.secure_lock:
            dev.set_state({"locked": False})
        return 0
    ctx.err(f"Unknown command: {' '.join(args)}\n")
    return 255


COMMANDS = {"settings": cmd_settings, "input": cmd_input, "svc": cmd_svc, "wm": cmd_wm}
