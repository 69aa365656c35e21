"""Android 14's own commands on the emulated phone, by name (toybox's are in harness.emulator.cmds).

Output and exit codes follow Android 14 (sources named per command; transcripts of real
phones in tests/data/android14/).
"""
from __future__ import annotations

from harness.emulator.android import am, cmd, dumpsys, logcat, pm, procs, props, settings

COMMANDS = {**props.COMMANDS, **pm.COMMANDS, **am.COMMANDS, **cmd.COMMANDS, **procs.COMMANDS, **logcat.COMMANDS,
            **dumpsys.COMMANDS, **settings.COMMANDS}
