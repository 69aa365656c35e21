"""The thermal gate: before a block, wait (with a limit) until the device is cool enough.

A part any device kind plugs in: it needs only a way to read the device's state (whose
``thermal_status`` is Android's 0 none … 6 shutdown, or None when unknown) and the
device's ``Cooldown`` settings from devices.yaml.
"""
from __future__ import annotations

import time
from typing import Callable

from harness.config import Cooldown

ProgressFn = Callable[[str], None]


def wait_steady(read_state: Callable[[], dict], cooldown: Cooldown, on_wait: ProgressFn,
                sleep: Callable[[float], None] = time.sleep) -> dict:
    """Poll until thermal status <= the ceiling or ``max_wait_s`` passed (then flagged);
    return the last state with ``thermal_wait_s`` (and ``thermal_gate_timed_out``)."""
    started = time.monotonic()
    while True:
        st = read_state()
        status = st.get("thermal_status")
        waited = time.monotonic() - started
        if status is None or status <= cooldown.thermal_ceiling:
            break
        if waited >= cooldown.max_wait_s:
            st["thermal_gate_timed_out"] = True
            on_wait(f"still thermal status {status} after {waited:.0f} s; measuring anyway (flagged)")
            break
        on_wait(f"cooling down: thermal status {status} > {cooldown.thermal_ceiling}")
        sleep(cooldown.poll_s)
    if cooldown.settle_s:
        sleep(cooldown.settle_s)
    st["thermal_wait_s"] = round(time.monotonic() - started, 3)
    return st
