#!/usr/bin/env python3
"""Benchmark the regression gate: its false-alarm and detection rates at the default settings.

On the emulated phone, through the real CLI (``harness run`` + ``harness compare``), it makes
PAIRS of runs: for each pair a fresh baseline run, then (in alternating order) an UNCHANGED
re-run and a run on a phone whose generations take ``--slow-factor`` times as long. Each
candidate is compared with its own baseline; the exit statuses give the rates:

    false alarms = unchanged candidates the gate failed (exit 1)     goal: <= 1 in 20
    detections   = slowed candidates the gate failed (exit 1)        goal: >= 19 in 20

Two phones with the pixel7 profile (same build fingerprint, so their cells match): one as
is, one slowed. ``--slowdown knob`` (default) uses the emulated phone's fault knob
``slow_factor`` (``--faults '{"slow_factor": 1.2}'``: the app's generations take 20 % longer,
measured inside the app); ``--slowdown hostrun`` uses this script as the phones' app runner
(``--hostrun-cmd``), busy-waiting inside each timed generation — for emulator versions
without the knob. Each phone and a private adb server are started here and stopped at the end.

    .venv/bin/python scripts/bench_gate.py                       # 20 pairs, the defaults
    .venv/bin/python scripts/bench_gate.py --pairs 5 --slowdown hostrun --work /tmp/gate
    .venv/bin/python scripts/bench_gate.py --reuse /tmp/gate     # only re-judge the runs kept there

Prints the command of every step to the log (``WORK/bench.log``), the rates at the gate's
defaults (the CLI's exit statuses) and, for tuning, the rates the gate would give with other
settings (computed in-process from the same result files). Figures from emulated phones on a
shared machine: label them as such (docs/reports.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit  # noqa: E402  (scripts/benchkit.py, beside this file)
SLOW_RUNNER = "slow-runner"       # argv[1] when this script runs as the phones' app runner
PROFILE = "pixel7"
SAME, SLOW = "gate-same", "gate-slow"
# What scripts/release_notes.sh runs unless told otherwise: the gate judges cells on blocks.
RELEASE_ROUNDS, RELEASE_RUNS = 5, 3
# Other settings shown next to the defaults (from the same result files), for tuning.
GRID = ([{"min_effect": me} for me in (0.0, 0.02, 0.10)]
        # the same runs judged on samples (as with --rounds 1): with and without the CV rule
        + [{"min_blocks": 99, "cv_threshold": cv} for cv in (0.10, 1.0)])


# ----------------------------------------------------------------- the slowed app runner

def slow_runner(argv: list[str]) -> int:
    """The host reference app with every timed generation ``factor`` times as long (busy-wait)."""
    factor = float(argv[0])
    sys.path.insert(0, str(ROOT))
    from harness.devices.host import generate, reference_app

    def stretch(method):
        def timed(self, *args, **kwargs):
            t0 = time.perf_counter_ns()
            rec = method(self, *args, **kwargs)
            end = time.perf_counter() + rec["wall_ms"] * (factor - 1.0) / 1000.0
            while time.perf_counter() < end:      # busy: the CPU is taken, as slower code would
                pass
            rec["wall_ms"] = (time.perf_counter_ns() - t0) / 1e6
            return rec
        return timed

    if factor != 1.0:
        generate.Oneshot.generate = stretch(generate.Oneshot.generate)
        generate.PrefillDecodeRunner.generate = stretch(generate.PrefillDecodeRunner.generate)
    return reference_app.main(argv[1:])


# ----------------------------------------------------------------- the bench

class Bench:
    """A work folder with its own adb server, two emulated phones, devices.yaml and results."""

    def __init__(self, args):
        self.args = args
        self.work = Path(args.work or tempfile.mkdtemp(prefix="bench-gate-")).resolve()
        self.results = self.work / "results"
        self.config = self.work / "devices.yaml"
        self.log = self.work / "bench.log"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("ADB_SERVER_SOCKET", "ANDROID_SERIAL", "ANDROID_ADB_SERVER_PORT")}
        self.env.update(HOME=str(self.work / "home"), HARNESS_CONFIG=str(self.config),
                        HARNESS_RESULTS=str(self.results))
        # The model cache is the user's (converted once); the phones' state lives under it.
        self.env.setdefault("HARNESS_CACHE", str(Path(os.environ.get("HOME", "~")).expanduser() / ".cache" / "harness"))
        self.adb_port = None
        self.names = {SAME: f"{SAME}-{os.getpid()}", SLOW: f"{SLOW}-{os.getpid()}"}

    def say(self, text: str) -> None:
        print(text, flush=True)
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(text + "\n")

    def harness(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "harness.cli", *argv]
        with open(self.log, "a", encoding="utf-8") as f:
            f.write("$ harness " + " ".join(argv) + "\n")
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, cwd=ROOT)
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(r.stdout + r.stderr + f"[exit {r.returncode}]\n")
        if check and r.returncode not in (0,):
            raise SystemExit(f"bench_gate: `harness {' '.join(argv)}` failed with exit {r.returncode}: "
                             f"{(r.stderr.strip().splitlines() or [''])[-1]} (log: {self.log})")
        return r

    def start(self) -> None:
        from harness.emulator.server import free_port

        (self.work / "home").mkdir(parents=True, exist_ok=True)
        self.results.mkdir(exist_ok=True)
        self.adb_port = free_port()
        subprocess.run(["adb", "-P", str(self.adb_port), "start-server"], env=self.env, check=True,
                       capture_output=True, timeout=30)
        ports = {SAME: free_port(), SLOW: free_port()}
        devices = "\n".join(f"  {alias}:\n    emulated: {{profile: {PROFILE}, port: {ports[alias]}, "
                            f"name: {self.names[alias]}}}\n    cooldown: {{thermal_ceiling: 1, max_wait_s: 60, "
                            f"poll_s: 0.5}}" for alias in (SAME, SLOW))
        self.config.write_text(f"adb_server: 127.0.0.1:{self.adb_port}\ndevices:\n{devices}\n")
        for alias, factor in ((SAME, 1.0), (SLOW, self.args.slow_factor)):
            argv = ["emulator", "start", "--name", self.names[alias], "--profile", PROFILE,
                    "--port", str(ports[alias]), "--adb-port", str(self.adb_port)]
            if self.args.slowdown == "hostrun":
                argv += ["--hostrun-cmd", json.dumps([sys.executable, str(Path(__file__).resolve()),
                                                      SLOW_RUNNER, str(factor)])]
            elif factor != 1.0:
                argv += ["--faults", json.dumps({"slow_factor": factor})]
            self.harness(*argv)

    def stop(self) -> None:
        for name in self.names.values():
            self.harness("emulator", "stop", name, check=False)
        if self.adb_port:
            subprocess.run(["adb", "-P", str(self.adb_port), "kill-server"], env=self.env,
                           capture_output=True, timeout=30)

    def run(self, alias: str) -> str:
        """One `harness run` at the given settings; returns its run id."""
        before = {p.name for p in self.results.glob("*.json")}
        a = self.args
        self.harness("run", "--device", alias, "--model", a.model, "--variants", a.variants,
                     "--runs", str(a.runs), "--rounds", str(a.rounds), "--warmup", str(a.warmup), "--no-report")
        new = sorted({p.name for p in self.results.glob("*.json")} - before)
        if len(new) != 1:
            raise SystemExit(f"bench_gate: expected one new result file, found {new}")
        return new[0].removesuffix(".json")

    def pairs(self) -> list[dict]:
        """Run the pairs (or read them back with --reuse); each is {i, baseline, unchanged, slowed}."""
        done: list[dict] = []
        plan = self.work / "pairs.json"
        if plan.is_file():
            done = json.loads(plan.read_text())
        for i in range(len(done), self.args.pairs):
            pair = {"i": i, "baseline": self.run(SAME)}
            order = (("unchanged", SAME), ("slowed", SLOW)) if i % 2 == 0 else (("slowed", SLOW), ("unchanged", SAME))
            for kind, alias in order:
                pair[kind] = self.run(alias)
            done.append(pair)
            plan.write_text(json.dumps(done, indent=1))
            self.say(f"pair {i + 1}/{self.args.pairs}: baseline {pair['baseline']}, unchanged {pair['unchanged']}, "
                     f"slowed {pair['slowed']} (load average {os.getloadavg()[0]:.2f})")
        return done

    def judge_cli(self, pairs: list[dict]) -> dict:
        """`harness compare` at its defaults: the exit status of every comparison."""
        out: dict[str, list[int]] = {"unchanged": [], "slowed": []}
        for pair in pairs:
            for kind in out:
                r = self.harness("compare", pair["baseline"], pair[kind], check=False)
                out[kind].append(r.returncode)
                summary = (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1]
                self.say(f"  pair {pair['i'] + 1} {kind:<9} exit {r.returncode}: {summary}")
        return out


def judge_grid(results: Path, pairs: list[dict]) -> list[dict]:
    """The same comparisons in-process at other settings: rates for tuning the defaults."""
    sys.path.insert(0, str(ROOT))
    from harness.analysis import stats
    from harness.analysis.compare import Settings, compare
    from harness.results.frame import load_frame

    frames = {}

    def frame(run_id):
        if run_id not in frames:
            frames[run_id] = load_frame([run_id], results)
        return frames[run_id]

    rows = []
    for settings in [{}] + GRID:
        s = Settings(**settings)
        counts = {"unchanged": {}, "slowed": {}}
        for pair in pairs:
            for kind in counts:
                cmp = compare(frame(pair["baseline"]), frame(pair[kind]), s)
                worst = (stats.SLOWER if len(cmp.regressions) else
                         stats.UNSTABLE if len(cmp.having(stats.UNSTABLE)) else "pass")
                counts[kind][worst] = counts[kind].get(worst, 0) + 1
                for v in cmp.rows["verdict"]:
                    counts[kind][f"cells {v}"] = counts[kind].get(f"cells {v}", 0) + 1
        rows.append({"settings": settings or "defaults", **counts})
    return rows


def _machine() -> str:
    from harness.hostinfo import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def report(bench: Bench, pairs: list[dict], cli: dict, grid: list[dict], load_before, load_after, wall_s) -> dict:
    n = len(pairs)
    false_alarms, detected = cli["unchanged"].count(1), cli["slowed"].count(1)
    a = bench.args
    settings = {"runs": a.runs, "rounds": a.rounds, "warmup": a.warmup, "variants": a.variants,
                "model": a.model, "slow_factor": a.slow_factor, "slowdown": a.slowdown}
    made_by = {}
    if a.reuse and (bench.work / "summary.json").is_file():   # the runs' own settings, not this call's
        previous = json.loads((bench.work / "summary.json").read_text())
        made_by = previous.get("made_by") or previous     # a re-judged folder keeps the first record
        settings = made_by.get("settings", settings)
    s = settings
    summary = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "settings": settings,
        "made_by": {k: made_by[k] for k in ("command", "settings", "load_average_before", "load_average_after",
                                            "wall_s") if k in made_by} or None,
        "machine": _machine(), "load_average_before": load_before, "load_average_after": load_after,
        "wall_s": round(wall_s, 1), "pairs": n,
        "false_alarms": false_alarms, "detected": detected,
        "exit_codes": cli, "grid": grid, "work": str(bench.work),
    }
    (bench.work / "summary.json").write_text(json.dumps(summary, indent=1))
    bench.say(f"\nmachine: {summary['machine']}; load average before {load_before}, after {load_after}")
    made = (f"judged again (--reuse) by today's gate; measured by `{made_by.get('command', '?')}`, load "
            f"average before {made_by.get('load_average_before', '?')}" if a.reuse
            else f"{n} pairs in {wall_s / 60:.1f} min")
    bench.say(f"settings: --runs {s['runs']} --rounds {s['rounds']} --warmup {s['warmup']} --variants "
              f"{s['variants']} ({s['model']}), slow factor {s['slow_factor']} ({s['slowdown']}); {made}")
    bench.say("gate at its defaults (harness compare exit statuses):")
    bench.say(f"  false alarms: {false_alarms} of {n} unchanged re-runs (goal <= {max(1, n // 20)}); "
              f"exit 2: {cli['unchanged'].count(2)}")
    bench.say(f"  detected:     {detected} of {n} runs {s['slow_factor']:g}x slower (goal >= {n - max(1, n // 20)}); "
              f"exit 2: {cli['slowed'].count(2)}")
    bench.say("other settings (in-process, same files; run = worst verdict of its cells):")
    for row in grid:
        bench.say(f"  {row['settings']}: unchanged {row['unchanged']}; slowed {row['slowed']}")
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [SLOW_RUNNER]:
        return slow_runner(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--pairs", type=int, default=20, help="baseline + unchanged + slowed runs per pair")
    ap.add_argument("--slow-factor", type=float, default=1.2, help="how much longer the slowed phone's generations take")
    ap.add_argument("--slowdown", choices=["knob", "hostrun"], default="knob",
                    help="the emulated phone's slow_factor fault knob, or this script as the app runner")
    ap.add_argument("--runs", type=int, default=RELEASE_RUNS, help="harness run --runs (the release recipe's)")
    ap.add_argument("--rounds", type=int, default=RELEASE_ROUNDS,
                    help="harness run --rounds (the release recipe's: blocks a cell, the gate's unit)")
    ap.add_argument("--warmup", type=int, default=1, help="harness run --warmup (the default of harness run)")
    benchkit.add_arguments(ap)
    ap.add_argument("--variants", default="dynamic", help="harness run --variants")
    ap.add_argument("--model", default="synthetic:gpt2-base",
                    help="harness run --model: the GPT-2 base shape, what a release is gated on "
                         "(synthetic:tiny's 10 ms generations are mostly per-call overhead)")
    ap.add_argument("--work", help="work folder (kept; default: a new temporary folder)")
    ap.add_argument("--reuse", metavar="WORK", help="judge the runs already in WORK again; run nothing")
    args = ap.parse_args(argv)
    if args.reuse:
        args.work = args.reuse
    bench = Bench(args)
    bench.work.mkdir(parents=True, exist_ok=True)
    if shutil.which("adb") is None and not args.reuse:
        raise SystemExit("bench_gate: the adb binary is missing (bash scripts/setup.sh installs it)")
    start = {"load_avg_at_start": [round(x, 2) for x in os.getloadavg()]} if args.reuse else \
        benchkit.check_start(args, "bench_gate")      # the emulated phones measure on this host's CPU
    load_before, t0 = start["load_avg_at_start"], time.monotonic()
    bench.say(f"bench_gate: work folder {bench.work}")
    if args.reuse:
        pairs = json.loads((bench.work / "pairs.json").read_text())
    else:
        from harness import signals

        signals.install()             # SIGTERM/SIGHUP -> KeyboardInterrupt: the phones are still stopped
        try:
            bench.start()
            pairs = bench.pairs()
        finally:
            bench.stop()
    wall_s, load_after = time.monotonic() - t0, [round(x, 2) for x in os.getloadavg()]
    cli = bench.judge_cli(pairs)
    report(bench, pairs, cli, judge_grid(bench.results, pairs), load_before, load_after, wall_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
