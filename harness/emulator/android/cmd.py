"""Android's ``cmd SERVICE ...``: the shell commands of package, activity, battery and thermalservice."""
from __future__ import annotations

from harness.emulator.android.am import cmd_am
from harness.emulator.android.dumpsys import battery_command, thermal_command
from harness.emulator.android.pm import cmd_pm
from harness.emulator.sh.streams import Ctx


def cmd_cmd(ctx: Ctx) -> int:
    service = ctx.argv[1] if len(ctx.argv) > 1 else ""
    if service == "package":
        return cmd_pm(ctx, ctx.argv[2:])
    if service == "battery":
        return battery_command(ctx, ctx.argv[2:])
    if service == "thermalservice":
        return thermal_command(ctx, ctx.argv[2:])
    if service == "activity":
        return cmd_am(ctx, ctx.argv[2:])
    ctx.err(f"cmd: Can't find service: {service}\n")
    return 20


COMMANDS = {"cmd": cmd_cmd}
