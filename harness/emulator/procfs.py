"""The emulated phone's synthesised /proc files: meminfo, version, uptime, loadavg and per-process status."""
from __future__ import annotations

import re
import time

from harness.emulator.state import Proc

# The app's uid (u0_a234); other users map to their fixed Android uids.
APP_UID = 10234
_UIDS = {"root": 0, "shell": 2000, "system": 1000}


def virtual_text(device, dev: str) -> str | None:
    """Text of a synthesised /proc (or CPU /sys) file of ``device``, or None."""
    if dev in ("/sys/devices/system/cpu/possible", "/sys/devices/system/cpu/present"):
        return f"0-{device.profile.cpus - 1}\n"         # the kernel's cpulist format
    if not dev.startswith("/proc/"):
        return None
    if dev == "/proc/meminfo":
        return meminfo(device.profile.mem_total_kb)
    if dev == "/proc/version":
        return (f"Linux version {device.profile.kernel} (build-user@build-host) (Android (10087095, +pgo, +bolt, "
                "+lto, -mlgo, based on r487747c) clang version 17.0.2) #1 SMP PREEMPT Mon Jan 1 00:00:00 UTC 2024\n")
    if dev == "/proc/uptime":
        up = time.time() - device.boot_time
        return f"{up:.2f} {up * 7:.2f}\n"
    if dev == "/proc/loadavg":
        return f"1.52 1.37 1.29 2/1873 {device._next_pid}\n"
    m = re.fullmatch(r"/proc/(\d+|self)/(status|cmdline|stat)", dev)
    if not m:
        return None
    if m.group(1) == "self":
        return status_text(device, Proc(device._next_pid + 1, "cat", "shell", 731, time.time(), 3_212), m.group(2))
    pid = int(m.group(1))
    proc = device.procs.get(pid)
    if proc is None:
        app = device.apps.process(pid) if hasattr(device, "apps") else None
        if app is None:
            return None
        proc = app
    return status_text(device, proc, m.group(2))


def status_text(device, proc, what: str) -> str:
    """``/proc/<pid>/cmdline``, ``stat`` or ``status`` of ``proc`` (the app's from its runner's memory)."""
    rss, hwm = device.apps.memory_kb(proc.pid) if hasattr(device, "apps") and device.apps.process(proc.pid) \
        else (proc.rss_kb, proc.rss_kb)
    if what == "cmdline":
        return proc.name + "\0"
    if what == "stat":
        return f"{proc.pid} ({proc.name[-15:]}) S {proc.ppid} 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 0 0 {rss // 4}\n"
    uid = _UIDS.get(proc.user, APP_UID)
    return (f"Name:\t{proc.name[-15:]}\nUmask:\t0077\nState:\tS (sleeping)\nTgid:\t{proc.pid}\nNgid:\t0\n"
            f"Pid:\t{proc.pid}\nPPid:\t{proc.ppid}\nTracerPid:\t0\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
            f"Gid:\t{uid}\t{uid}\t{uid}\t{uid}\nFDSize:\t128\nVmPeak:\t{max(hwm, rss) * 4 + 1_000_000:8d} kB\n"
            f"VmSize:\t{rss * 4 + 1_000_000:8d} kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\n"
            f"VmHWM:\t{hwm:8d} kB\nVmRSS:\t{rss:8d} kB\nRssAnon:\t{rss * 2 // 3:8d} kB\n"
            f"RssFile:\t{rss // 3:8d} kB\nRssShmem:\t       0 kB\nVmData:\t{rss:8d} kB\n"
            f"VmStk:\t     136 kB\nVmExe:\t      24 kB\nVmLib:\t  150000 kB\nVmPTE:\t     800 kB\n"
            f"VmSwap:\t       0 kB\nThreads:\t{12 if proc.user.startswith('u0_') else 1}\n")


def meminfo(total: int) -> str:
    """/proc/meminfo of a phone with ``total`` kB of RAM."""
    free = total // 7
    avail = total // 3
    rows = [("MemTotal", total), ("MemFree", free), ("MemAvailable", avail), ("Buffers", 6_012),
            ("Cached", total // 4), ("SwapCached", 0), ("Active", total // 5), ("Inactive", total // 6),
            ("SwapTotal", total // 2), ("SwapFree", total // 2 - 1024), ("Dirty", 108),
            ("AnonPages", total // 6), ("Mapped", total // 12), ("Shmem", 21_000)]
    return "".join(f"{k + ':':<16}{v:>8} kB\n" for k, v in rows)
