"""An emulated Android device that the real adb server attaches (``adb connect 127.0.0.1:PORT``).

It speaks the device side of the ADB transport (shell v2, sync), keeps a file system in a
host directory, answers getprop/pm/am/dumpsys/logcat, and runs the benchmark app contract
with the host reference runner. See docs/emulator.md.

Public API: start_emulator, stop_emulator, list_emulators, EmulatorHandle.
"""
from harness.emulator.manage import EmulatorHandle, list_emulators, start_emulator, stop_emulator

__all__ = ["EmulatorHandle", "list_emulators", "start_emulator", "stop_emulator"]
