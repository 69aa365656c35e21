"""Fault knobs: the ways a real phone fails, made to happen on purpose in tests.

Every knob can be set when the device starts (CLI ``--faults JSON``) and at runtime
through the control channel (``set_faults``). One-shot faults (drop, hang, crash)
disarm themselves when they fire, so the device comes back on the same port and the
adb server re-attaches it by itself.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from harness.errors import UserError


@dataclasses.dataclass
class Faults:
    """What should go wrong, and when. ``None``/``0``/``False`` means "not armed"."""

    # Close the TCP link after this many bytes of one push (sync SEND) / pull (RECV).
    drop_push_after_bytes: int | None = None
    drop_pull_after_bytes: int | None = None
    # Stop answering (TCP stays open) after this many bytes of a push / pull.
    hang_push_after_bytes: int | None = None
    hang_pull_after_bytes: int | None = None
    # Stop answering at the next packet, whatever it is.
    hang_now: bool = False
    # Close the link once the benchmark app has logged its first progress line.
    drop_during_benchmark: bool = False
    # The app dies (FATAL EXCEPTION, no result) after its first progress line.
    app_crash: bool = False
    # The app's next HARNESS_DONE line never reaches logcat (the ring rotated, logd dropped it);
    # the result file is still written. One-shot.
    lose_done_line: bool = False
    # ``logcat`` without ``-d`` prints its buffer and exits instead of following the log
    # (as when logd drops a reader that falls behind). Stays armed.
    logcat_no_follow: bool = False
    # Reset the first K TCP connections right after accept().
    refuse_connections: int = 0
    # A slow link: added latency per packet sent, and a bandwidth cap (both directions).
    latency_ms_per_packet: float = 0.0
    bandwidth_bytes_per_s: float | None = None
    # The benchmark app's work takes this many times longer (>= 1; 1.2 = a 20 % slowdown):
    # the host runner stretches each interpreter call inside its timed region (app.py), so
    # the slowdown is measured inside the app like a real one (issue #15: rehearsing the
    # regression gate).
    slow_factor: float = 1.0

    def update(self, values: dict[str, Any]) -> None:
        """Set knobs from a dict; an unknown knob or a bad value is an error naming it."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        for key, value in values.items():
            if key not in fields:
                raise UserError(f"unknown fault knob {key!r}; known: {', '.join(sorted(fields))}")
            if value is not None and not isinstance(value, (int, float, bool)):
                raise UserError(f"fault knob {key!r} needs a number or boolean, got {value!r}")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise UserError(f"fault knob {key!r} must not be negative, got {value!r}")
            if key == "slow_factor" and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                             and value >= 1):
                raise UserError(f"fault knob 'slow_factor' must be a number >= 1, got {value!r}")
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class FaultBox:
    """Thread-safe holder of the device's faults, with one-shot ``take_*`` checks."""

    def __init__(self, faults: Faults | None = None):
        self._lock = threading.Lock()
        self.faults = faults or Faults()

    def update(self, values: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.faults.update(values)
            return self.faults.as_dict()

    def clear(self) -> dict[str, Any]:
        with self._lock:
            self.faults = Faults()
            return self.faults.as_dict()

    def snapshot(self) -> Faults:
        with self._lock:
            return dataclasses.replace(self.faults)

    def transfer_action(self, direction: str, transferred_bytes: int) -> str | None:
        """'drop' or 'hang' if a push/pull fault fires at this byte count (and disarm it)."""
        with self._lock:
            f = self.faults
            drop_key, hang_key = f"drop_{direction}_after_bytes", f"hang_{direction}_after_bytes"
            drop_at, hang_at = getattr(f, drop_key), getattr(f, hang_key)
            if drop_at is not None and transferred_bytes >= drop_at:
                setattr(f, drop_key, None)
                return "drop"
            if hang_at is not None and transferred_bytes >= hang_at:
                setattr(f, hang_key, None)
                return "hang"
            return None

    def take(self, name: str) -> bool:
        """True once if boolean fault ``name`` is armed; disarms it."""
        with self._lock:
            if getattr(self.faults, name):
                setattr(self.faults, name, False)
                return True
            return False

    def take_refusal(self) -> bool:
        with self._lock:
            if self.faults.refuse_connections > 0:
                self.faults.refuse_connections -= 1
                return True
            return False


class LinkShaper:
    """Applies the slow-link and hang faults to every packet of a connection."""

    def __init__(self, box: FaultBox):
        self.box = box

    def _shape(self, conn, payload_bytes: int, latency: bool) -> None:
        f = self.box.faults  # reads of plain attributes need no lock
        if f.hang_now:
            self.box.take("hang_now")
            hang(conn)
        delay_s = 0.0
        if latency and f.latency_ms_per_packet:
            delay_s += f.latency_ms_per_packet / 1000.0
        if f.bandwidth_bytes_per_s:
            delay_s += payload_bytes / float(f.bandwidth_bytes_per_s)
        if delay_s > 0:
            time.sleep(delay_s)

    def before_send(self, conn, payload_bytes: int) -> None:
        self._shape(conn, payload_bytes, latency=True)

    def after_receive(self, conn, payload_bytes: int) -> None:
        self._shape(conn, payload_bytes, latency=False)


def hang(conn) -> None:
    """Block the calling thread until the link is dropped: the device stops answering
    but keeps TCP open, as a wedged phone does. Raises ConnectionDropped afterwards."""
    from harness.emulator.transport import ConnectionDropped

    conn.hung = True
    conn.wait_closed()
    raise ConnectionDropped("hung link was dropped")
