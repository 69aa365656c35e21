#!/usr/bin/env python3
"""Throughput of the emulated device through the real adb server.

Starts a private adb server (own port and HOME) and one emulated device, then times:
the connect handshake (``adb connect`` until ``get-state`` says ``device``), ``adb
push``/``adb pull`` of a FILE_MB file, and adbutils ``sync.push``/``sync.pull`` of the
same file. Prints a markdown table (median of --repeats) and the machine it ran on.

    .venv/bin/python scripts/bench_adb_transport.py [--size-mb 100] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit  # noqa: E402  (scripts/benchkit.py: refuse or flag a busy machine)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import adbutils  # noqa: E402

from harness.emulator.manage import connect_adb, run_adb, start_emulator, stop_emulator  # noqa: E402
from harness.emulator.server import free_port  # noqa: E402
from harness.hostinfo import cpu_model  # noqa: E402

BYTES_PER_MB = 1_000_000


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    benchkit.add_arguments(ap)
    args = ap.parse_args()
    watch = benchkit.Watch()
    benchkit.check_start(args, 'bench_adb_transport')
    with tempfile.TemporaryDirectory(prefix="bench-adb-") as tmp:
        tmp = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("ADB_SERVER_SOCKET", "ANDROID_SERIAL")}
        env["HOME"] = str(tmp)
        adb_port = free_port()
        size = args.size_mb * BYTES_PER_MB
        src = tmp / "payload.bin"
        with open(src, "wb") as f:
            for _ in range(args.size_mb):
                f.write(os.urandom(BYTES_PER_MB))
        h = start_emulator("bench", state_root=tmp / "emus", adb_port=adb_port, env=env, connect=False)
        try:
            run_adb(["start-server"], adb_port, env)
            connects = []
            for _ in range(max(3, args.repeats)):
                connects.append(_timed(lambda: connect_adb(h, adb_port, env=env)))
                run_adb(["disconnect", h.serial], adb_port, env)
                time.sleep(0.2)
            connect_adb(h, adb_port, env=env)
            device = adbutils.AdbClient(host="127.0.0.1", port=adb_port, socket_timeout=120).device(h.serial)

            def adb(*a):
                r = subprocess.run(["adb", "-P", str(adb_port), "-s", h.serial, *a], capture_output=True,
                                   env=env, timeout=600)
                if r.returncode:
                    raise SystemExit(f"adb {' '.join(a)} failed: {r.stdout!r} {r.stderr!r}")

            results = {"adb push": [], "adb pull": [], "adbutils sync.push": [], "adbutils sync.pull": []}
            for _ in range(args.repeats):
                results["adb push"].append(_timed(lambda: adb("push", str(src), "/data/local/tmp/p.bin")))
                results["adb pull"].append(_timed(lambda: adb("pull", "/data/local/tmp/p.bin", str(tmp / "b1"))))
                results["adbutils sync.push"].append(_timed(lambda: device.sync.push(src, "/data/local/tmp/q.bin")))
                results["adbutils sync.pull"].append(
                    _timed(lambda: device.sync.pull("/data/local/tmp/q.bin", tmp / "b2")))
                for out in (tmp / "b1", tmp / "b2"):
                    if out.stat().st_size != size:
                        raise SystemExit(f"{out} has {out.stat().st_size} bytes, expected {size}")
                    out.unlink()
        finally:
            stop_emulator("bench", state_root=tmp / "emus", env=env)
            run_adb(["kill-server"], adb_port, env)
    print(f"command: {' '.join([Path(sys.executable).name] + sys.argv)}")
    print(f"machine: nproc={os.cpu_count()}, CPU: {cpu_model()}, Python {platform.python_version()}, "
          f"{subprocess.run(['adb', 'version'], capture_output=True, text=True).stdout.splitlines()[1]}")
    print()
    print("| what | median | runs |")
    print("|---|---|---|")
    ms = [c * 1000 for c in connects]
    print(f"| connect handshake (adb connect -> device) | {statistics.median(ms):.0f} ms | "
          + ", ".join(f"{m:.0f}" for m in ms) + " ms |")
    for name, times in results.items():
        rates = [size / BYTES_PER_MB / t for t in times]
        print(f"| {name} {args.size_mb} MB | {statistics.median(rates):.0f} MB/s | "
              + ", ".join(f"{r:.0f}" for r in rates) + " MB/s |")
    print(f"\nMachine during the measurement: {benchkit.label(watch.stop())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
