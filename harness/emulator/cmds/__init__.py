"""The emulated phone's commands by name: toybox's (files, fileops, text, system) and Android's.

Each command is ``func(ctx) -> exit status``; messages follow toybox's wording ("ls: /x:
No such file or directory") so code written against a phone sees the same. Android's own
commands (pm, am, dumpsys, logcat, getprop...) are in harness.emulator.android.
"""
from __future__ import annotations

from harness.emulator import android
from harness.emulator.cmds import fileops, files, system, text

COMMANDS = {**files.COMMANDS, **fileops.COMMANDS, **text.COMMANDS, **system.COMMANDS, **android.COMMANDS}
