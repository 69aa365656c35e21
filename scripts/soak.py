"""Soak: many short `harness run`s at once on emulated phones, with faults and signals; nothing lost.

Several runs at a time share one conversion cache and one results folder, on a few emulated
phones attached to a private adb server. A fault thread arms the emulated phones' knobs
(docs/emulator.md) through their control channel; runs are interrupted at random moments
(SIGINT, SIGTERM, SIGHUP, or two signals at once) and resumed, sometimes twice at once.
A monitor reads every result file all along and remembers every finished block it saw.

At the end it checks: every finished block ever seen is on disk exactly once, unchanged
(lost 0, replaced 0, duplicated 0); every result file loads; the cache verifies (each
model's size and sha256 against its report, no staging folder or lock left); no process of
the soak and no emulated phone is left. Exit 0 when all hold.

Figures come from emulated phones running the fake benchmark runner (tests/emulated/
fake_hostrun.py) and, by default, the stub converter (tests/stub_convert_worker.py, TEST
ONLY): the soak measures robustness, not speed. ``--real-convert`` converts with TensorFlow.

    .venv/bin/python scripts/soak.py --runs 40 --parallel 3 --devices 2 --seed 1
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.convert import cache as cache_mod  # noqa: E402
from harness.emulator import start_emulator, stop_emulator  # noqa: E402
from harness.emulator.server import free_port  # noqa: E402
from harness.results.store import load  # noqa: E402

FAKE_RUNNER = [sys.executable, str(ROOT / "tests" / "emulated" / "fake_hostrun.py"), "--sleep", "0.05"]
STUB_CONVERTER = ROOT / "tests" / "stub_convert_worker.py"
VARIANTS = ["fp32", "dynamic", "fp16", "int8"]
# One-shot knobs the fault thread arms (each fires once, then disarms), and what they take.
FAULTS = {
    "drop_push_after_bytes": lambda r: r.randint(200, 4000),
    "drop_pull_after_bytes": lambda r: r.randint(50, 2000),
    "hang_pull_after_bytes": lambda r: r.randint(50, 2000),
    "drop_during_benchmark": lambda r: True,
    "app_crash": lambda r: True,
    "refuse_connections": lambda r: r.randint(1, 3),
}
SIGNALS = {"INT": [signal.SIGINT], "TERM": [signal.SIGTERM], "HUP": [signal.SIGHUP],
           "INT+INT": [signal.SIGINT, signal.SIGINT], "INT+TERM": [signal.SIGINT, signal.SIGTERM]}


class Soak:
    def __init__(self, args):
        self.args, self.rng = args, random.Random(args.seed)
        self.root = Path(tempfile.mkdtemp(prefix="harness-soak-"))
        self.results, self.cache = self.root / "results", self.root / "cache"
        self.counts: Counter = Counter()
        self.seen: dict[tuple[str, str], str] = {}      # (run id, block id) -> digest of the block
        self.problems: list[str] = []
        self.stop = threading.Event()            # the monitor
        self.calm = threading.Event()            # no more faults (the final resumes)
        self.lock = threading.Lock()
        self.handles = []
        self.interrupted: list[str] = []                 # run ids to resume
        self.running: set[subprocess.Popen] = set()

    # ------------------------------------------------------------------ set-up
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("ANDROID_SERIAL", "ADB_SERVER_SOCKET")}
        env.update(HOME=str(self.root / "home"), HARNESS_CACHE=str(self.cache), HARNESS_ADB_TIMEOUT_S="3",
                   PYTHONPATH=str(ROOT))
        if not self.args.real_convert:
            env["HARNESS_TEST_CONVERT_WORKER"] = str(STUB_CONVERTER)
        return env

    def start_devices(self) -> None:
        (self.root / "home").mkdir()
        self.adb_port = free_port()
        lines = [f"adb_server: 127.0.0.1:{self.adb_port}", "devices:"]
        for i in range(self.args.devices):
            start_faults = {"latency_ms_per_packet": self.rng.choice([0, 1, 3])}
            h = start_emulator(f"soak{i}", profile=self.rng.choice(["pixel7", "pixel8"]), adb_port=self.adb_port,
                               state_root=self.root / "emulators", env=self.env(), hostrun_cmd=FAKE_RUNNER,
                               faults=start_faults)
            self.handles.append(h)
            lines += [f"  emu{i}:", f"    endpoint: {h.serial}",
                      "    cooldown: {thermal_ceiling: 6, max_wait_s: 5, poll_s: 0.2}"]
            self.counts["faults:latency_ms_per_packet(start)"] += 1
        self.config = self.root / "devices.yaml"
        self.config.write_text("\n".join(lines) + "\n")

    # ------------------------------------------------------------------ the runs
    def argv(self, resume: str | None) -> list[str]:
        base = [sys.executable, "-m", "harness.cli", "run", "--config", str(self.config), "--results-dir",
                str(self.results), "--no-report", "--device-wait", "300"]
        if resume:
            return base + ["--resume", resume]
        r = self.rng
        devices = r.sample([f"emu{i}" for i in range(self.args.devices)], r.randint(1, min(2, self.args.devices)))
        return base + ["--device", ",".join(devices), "--model", "synthetic:tiny",
                       "--variants", ",".join(r.sample(VARIANTS, r.randint(1, 3))),
                       "--max-length", r.choice(["16", "24", "16,24"]), "--context-window", "3",
                       "--runs", str(r.randint(1, 3)), "--warmup", "0", "--rounds", str(r.randint(1, 2))]

    def one_run(self, resume: str | None = None) -> None:
        argv = self.argv(resume)
        self.counts["resumes" if resume else "runs"] += 1
        p = subprocess.Popen(argv, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        with self.lock:
            self.running.add(p)
        sig_name = self.rng.choice(list(SIGNALS)) if self.rng.random() < self.args.signal_rate else None
        if sig_name:
            try:
                p.wait(timeout=self.rng.uniform(1.0, 12.0))
            except subprocess.TimeoutExpired:
                for i, sig in enumerate(SIGNALS[sig_name]):
                    if i:
                        time.sleep(0.05)
                    p.send_signal(sig)
                self.counts[f"signals:{sig_name}"] += 1
        _, err = p.communicate(timeout=900)
        with self.lock:
            self.running.discard(p)
        self.counts[f"exit:{p.returncode}"] += 1
        with self.lock:
            self.counts["_log"] += 1
            log = self.root / "logs" / f"{self.counts['_log']:04d}-exit{p.returncode}.log"
        log.parent.mkdir(exist_ok=True)
        log.write_text(" ".join(argv) + f"\nsignal: {sig_name}\n\n" + err)
        run_id = resume or next((ln.split("--resume ")[1].split()[0] for ln in err.splitlines()
                                 if "--resume " in ln), None)
        if any(ln.startswith("harness: ") and ("is in use by" in ln or "already complete" in ln)
               for ln in err.splitlines()):
            run_id = None            # its other resume finishes it (or it is done)
        bad = [ln for ln in err.splitlines() if "Traceback" in ln or "internal error" in ln]
        if bad:
            self.problems.append(f"{' '.join(argv[-2:])}: {bad[0]}")
        if run_id and p.returncode != 0:
            with self.lock:
                self.interrupted.append(run_id)

    def worker(self) -> None:
        while not self.stop.is_set() and not self.calm.is_set():
            with self.lock:
                if self.counts["runs"] + self.counts["resumes"] >= self.args.runs:
                    return
                resume = self.interrupted.pop(0) if self.interrupted and self.rng.random() < 0.6 else None
            if resume and self.rng.random() < 0.15:       # the same run resumed twice at once
                twin = threading.Thread(target=self.one_run, args=(resume,))
                twin.start()
                self.one_run(resume)
                twin.join()
                self.counts["double resumes"] += 1
            else:
                self.one_run(resume)

    def finish_unfinished(self) -> None:
        """Faults off, signals off: resume every run left unfinished (up to 3 tries each)."""
        self.calm.set()
        for h in self.handles:
            h.clear_faults()
        self.args.signal_rate = 0.0
        tries: Counter = Counter()
        while self.interrupted:
            run_id = self.interrupted.pop(0)
            tries[run_id] += 1
            if tries[run_id] <= 3:
                self.one_run(run_id)

    # ------------------------------------------------------------------ faults and the monitor
    def fault_thread(self) -> None:
        while not self.calm.wait(self.rng.uniform(2.0, 6.0)):
            h = self.rng.choice(self.handles)
            knob = self.rng.choice(list(FAULTS))
            try:
                h.set_faults(**{knob: FAULTS[knob](self.rng)})
                self.counts[f"faults:{knob}"] += 1
            except Exception as e:  # noqa: BLE001  a fault that could not be armed is not counted
                self.counts["faults: not armed"] += 1
                self.problems.append(f"arming {knob}: {e}") if not h.alive() else None

    def observe(self) -> None:
        for path in self.results.glob("*.json") if self.results.is_dir() else []:
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.problems.append(f"{path.name}: unreadable while the soak ran (a torn write?)")
                continue
            ids = [b["block_id"] for b in doc["blocks"]]
            if len(ids) != len(set(ids)):
                self.problems.append(f"{path.name}: a block id twice")
            for b in doc["blocks"]:
                if b["status"] != "ok":
                    continue
                digest = hashlib.sha256(json.dumps(b, sort_keys=True).encode()).hexdigest()
                key = (doc["run_id"], b["block_id"])
                if self.seen.setdefault(key, digest) != digest:
                    self.problems.append(f"{key}: a finished block was replaced")
                    self.seen[key] = digest

    def monitor(self) -> None:
        while not self.stop.wait(0.25):
            self.observe()

    # ------------------------------------------------------------------ the end
    def check(self) -> dict:
        self.observe()
        on_disk: dict[tuple[str, str], list[str]] = {}
        blocks = failed_blocks = 0
        statuses: Counter = Counter()
        for path in sorted(self.results.glob("*.json")):
            doc = load(path).to_dict()
            statuses[doc["status"]] += 1
            for b in doc["blocks"]:
                blocks += 1
                failed_blocks += b["status"] != "ok"
                if b["status"] == "ok":
                    digest = hashlib.sha256(json.dumps(b, sort_keys=True).encode()).hexdigest()
                    on_disk.setdefault((doc["run_id"], b["block_id"]), []).append(digest)
        lost = [k for k in self.seen if k not in on_disk]
        duplicated = [k for k, v in on_disk.items() if len(v) > 1]
        replaced = [k for k, v in on_disk.items() if k in self.seen and self.seen[k] != v[0]]
        return {"blocks_on_disk": blocks, "ok_blocks": len(on_disk), "failed_blocks": failed_blocks,
                "run_files": dict(statuses), "ok_blocks_seen_while_running": len(self.seen),
                "lost": len(lost), "duplicated": len(duplicated), "replaced": len(replaced),
                **self.check_cache()}

    def check_cache(self) -> dict:
        entries = damaged = 0
        for kind, check in (("models", cache_mod.check_model), ("exports", cache_mod.check_export)):
            for d in (self.cache / kind).iterdir() if (self.cache / kind).is_dir() else []:
                entries += 1
                try:
                    check(cache_mod.Entry(self.cache, kind, d.name, d.name))
                except cache_mod.Damaged as e:
                    damaged += 1
                    self.problems.append(f"cache {kind}/{d.name}: {e}")
        leftovers = [p.name for sub in (cache_mod.STAGING, cache_mod.LOCKS)
                     for p in ((self.cache / sub).iterdir() if (self.cache / sub).is_dir() else [])]
        return {"cache_entries": entries, "cache_damaged": damaged, "cache_leftovers": len(leftovers)}

    def leftover_processes(self) -> list[str]:
        import psutil

        me, mine = os.getpid(), []
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            try:        # an adb server a run restarted says where it belongs only in its environment
                env = " ".join(f"{k}={v}" for k, v in p.environ().items() if k in ("HOME", "HARNESS_CACHE"))
            except (psutil.Error, OSError):
                env = ""
            if p.info["pid"] != me and str(self.root) in cmd + " " + env:
                mine.append(f"{p.info['pid']} {cmd[:120]}")
        return mine

    def teardown(self) -> dict:
        self.stop.set()
        self.calm.set()                  # (an interrupted soak) no new runs; stop those going
        with self.lock:
            for p in list(self.running):
                p.terminate()
        deadline = time.monotonic() + 60
        while self.running and time.monotonic() < deadline:
            time.sleep(0.2)
        stopped = stop_emulator(all=True, state_root=self.root / "emulators", env=self.env())
        subprocess.run(["adb", "-P", str(self.adb_port), "kill-server"], env=self.env(), capture_output=True,
                       timeout=20)
        time.sleep(1.0)
        left = self.leftover_processes()
        self.problems += [f"left running: {p}" for p in left]
        return {"emulated_devices_stopped": len(stopped), "leftover_processes": len(left)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=40, help="runs and resumes to start in all")
    p.add_argument("--parallel", type=int, default=3, help="runs going at once")
    p.add_argument("--devices", type=int, default=2, help="emulated phones")
    p.add_argument("--signal-rate", type=float, default=0.35, help="share of runs sent a signal")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--real-convert", action="store_true", help="convert with TensorFlow, not the stub")
    p.add_argument("--keep", action="store_true", help="keep the soak's folder (results, cache, logs)")
    args = p.parse_args()
    soak = Soak(args)
    t0, load0 = time.monotonic(), os.getloadavg()[0]
    print(f"soak: folder {soak.root}; load average {load0:.2f}", file=sys.stderr)
    try:
        soak.start_devices()
        threads = [threading.Thread(target=soak.monitor, daemon=True),
                   threading.Thread(target=soak.fault_thread, daemon=True)]
        workers = [threading.Thread(target=soak.worker) for _ in range(args.parallel)]
        for t in threads + workers:
            t.start()
        for t in workers:
            t.join()
        soak.finish_unfinished()
        summary = soak.check()
    finally:
        ended = soak.teardown()
    summary.update(ended)
    summary.update(seconds=round(time.monotonic() - t0), load_average_start=round(load0, 2),
                   load_average_end=round(os.getloadavg()[0], 2),
                   counts={k: v for k, v in sorted(soak.counts.items()) if not k.startswith("_")},
                   problems=soak.problems)
    print(json.dumps(summary, indent=1))
    if not args.keep:
        import shutil

        shutil.rmtree(soak.root, ignore_errors=True)
    ok = not soak.problems and all(summary.get(k, 1) == 0 for k in ("lost", "duplicated", "replaced",
                                                                      "cache_damaged", "cache_leftovers",
                                                                      "leftover_processes"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
