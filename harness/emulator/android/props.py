"""Android's system properties on the emulated phone: ``getprop`` and ``setprop`` (``ro.*`` is read-only)."""
from __future__ import annotations

from harness.emulator.sh.streams import Ctx


def cmd_getprop(ctx: Ctx) -> int:
    props = ctx.device.props
    if len(ctx.argv) > 1:
        value = props.get(ctx.argv[1])
        ctx.out((value if value is not None else (ctx.argv[2] if len(ctx.argv) > 2 else "")) + "\n")
        return 0
    for k in sorted(props):
        ctx.out(f"[{k}]: [{props[k]}]\n")
    return 0


def cmd_setprop(ctx: Ctx) -> int:
    if len(ctx.argv) != 3:
        ctx.err("usage: setprop NAME VALUE\n")
        return 1
    name, value = ctx.argv[1], ctx.argv[2]
    if name.startswith("ro."):
        ctx.err(f"Failed to set property '{name}' to '{value}'.\nSee dmesg for error reason.\n")
        return 1
    ctx.device.props[name] = value
    return 0


COMMANDS = {"getprop": cmd_getprop, "setprop": cmd_setprop}
