"""The ``android`` device kind: phones, Android emulators and the emulated phone, over ADB."""
from harness.devices.android.discovery import attach, open_device

__all__ = ["attach", "open_device"]
