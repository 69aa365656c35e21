"""The ``android`` device kind: phones, Android emulators and the emulated phone, over ADB."""
from harness.devices.android.discovery import attach, lock_key, open_device

__all__ = ["attach", "lock_key", "open_device"]
