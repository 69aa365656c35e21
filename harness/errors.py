"""Error types. A UserError is printed as one line and exits 1, never a traceback."""
from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class UserError(HarnessError):
    """A mistake the user can fix (bad flag, missing file, unknown alias).

    The CLI prints ``harness: <message>`` and exits with status 1.
    """


class ConversionError(HarnessError):
    """A model could not be converted, or the conversion did not do what its variant promises."""


class DeviceError(HarnessError):
    """A device failed or disappeared. Messages start with the device's name."""

    def __init__(self, device: str, message: str):
        super().__init__(f"{device}: {message}")
        self.device = device
