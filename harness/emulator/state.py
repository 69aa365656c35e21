"""The emulated phone's state apart from its files: scriptable knobs, installed packages, processes."""
from __future__ import annotations

import dataclasses
from typing import Any

from harness.errors import UserError


@dataclasses.dataclass
class DeviceState:
    """Scriptable state: battery, thermal status (0-6), storage, screen and keyguard.

    ``thermal_cool_every_queries``: when > 0, the thermal status drops by one level every
    that many ``dumpsys thermalservice`` queries (a phone cooling down between runs).
    ``screen`` "on"/"off" and ``locked``: while the screen is off or the keyguard shows,
    the benchmark app runs slowed by ``background_slowdown`` (a model of a background-group
    app, not a measurement). ``secure_lock``: a PIN is set, so ``wm dismiss-keyguard`` does
    not unlock.
    """

    battery_level: int = 85
    battery_temp_tenths_c: int = 290
    charging: bool = True
    thermal_status: int = 0
    thermal_cool_every_queries: int = 0
    # What the app reads from PowerManager.getThermalHeadroom (None: no answer, as below API 30).
    thermal_headroom: float | None = None
    quota_bytes: int | None = None
    screen: str = "on"
    locked: bool = False
    secure_lock: bool = False
    background_slowdown: float = 3.0

    def update(self, values: dict[str, Any]) -> None:
        fields = {f.name for f in dataclasses.fields(self)}
        for key, value in values.items():
            if key not in fields:
                raise UserError(f"unknown device state {key!r}; known: {', '.join(sorted(fields))}")
            if key == "thermal_status" and not (isinstance(value, int) and 0 <= value <= 6):
                raise UserError(f"thermal_status must be an integer 0-6, got {value!r}")
            if key == "thermal_headroom" and not (value is None or (isinstance(value, (int, float))
                                                                    and not isinstance(value, bool) and value >= 0)):
                raise UserError(f"thermal_headroom must be a number >= 0 or null, got {value!r}")
            if key == "battery_level" and not (isinstance(value, int) and 0 <= value <= 100):
                raise UserError(f"battery_level must be an integer 0-100, got {value!r}")
            if key == "screen" and value not in ("on", "off"):
                raise UserError(f"screen must be 'on' or 'off', got {value!r}")
            if key in ("locked", "secure_lock", "charging") and not isinstance(value, bool):
                raise UserError(f"{key} must be true or false, got {value!r}")
            if key == "background_slowdown" and not (isinstance(value, (int, float)) and value >= 1):
                raise UserError(f"background_slowdown must be a number >= 1, got {value!r}")
            setattr(self, key, value)

    @property
    def interactive(self) -> bool:
        """The user could see the app: screen on and no keyguard."""
        return self.screen == "on" and not self.locked


@dataclasses.dataclass
class Package:
    name: str
    version_code: int
    version_name: str
    code_path: str                 # /data/app/~~X==/pkg-Y==
    first_install_time: float = 0.0
    last_update_time: float = 0.0
    target_sdk: int = 35
    min_sdk: int = 24
    signer: str | None = None
    test_only: bool = False
    debuggable: bool = False
    abis: tuple = ()
    primary_abi: str | None = None

    @property
    def base_apk(self) -> str:
        return self.code_path + "/base.apk"


@dataclasses.dataclass
class Proc:
    pid: int
    name: str
    user: str = "root"
    ppid: int = 1
    started: float = 0.0
    rss_kb: int = 4_000


# What `ps -A` shows besides the shells and the app (a small slice of a real phone's list).
SYSTEM_PROCS = ((1, "init", "root", 0), (2, "kthreadd", "root", 0), (289, "ueventd", "root", 1),
                 (402, "logd", "logd", 1), (415, "servicemanager", "system", 1), (561, "lmkd", "lmkd", 1),
                 (600, "system_server", "system", 690), (690, "zygote64", "root", 1),
                 (702, "surfaceflinger", "system", 1), (731, "adbd", "shell", 1), (888, "thermal-hal", "system", 1),
                 (1523, "com.android.systemui", "u0_a186", 690))
