"""The release-notes recipe (scripts/release_notes.sh) end to end: the real CLI, adb server and
emulated phone, with an app whose times are scripted so the gate's verdict is known: a pass
saves the next baseline, a 30 % slowdown exits 1 and saves nothing, a typo runs nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TINY_MAX_LENGTH

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "release_notes.sh"
SCRIPTED_APP = Path(__file__).resolve().parent / "scripted_app.py"
# The recipe's own --rounds 5 --runs 3 on the first call; 3 rounds (the gate's minimum of blocks) after.
RECIPE = ["--device", "phone", "--model", "synthetic:tiny", "--variants", "fp32,dynamic",
          "--max-length", str(TINY_MAX_LENGTH), "--context-window", "3", "--warmup", "1"]
RUN = [*RECIPE, "--rounds", "3"]


@pytest.fixture
def phone(adb_server, tmp_path):
    """An emulated phone whose app takes scripted times: (env for the script, factor file)."""
    from harness.emulator import start_emulator, stop_emulator

    factor = tmp_path / "factor"
    factor.write_text("1.0")
    root = tmp_path / "emulators"
    handle = start_emulator("scripted", state_root=root, adb_port=adb_server.port, env=adb_server.env,
                            hostrun_cmd=[sys.executable, str(SCRIPTED_APP), "--factor-file", str(factor)])
    config = tmp_path / "devices.yaml"
    config.write_text(f"adb_server: 127.0.0.1:{adb_server.port}\ndevices:\n  phone:\n"
                      f"    endpoint: {handle.serial}\n    cooldown: {{max_wait_s: 10, poll_s: 0.2}}\n")
    env = {**adb_server.env, "HARNESS_CONFIG": str(config), "HARNESS_RESULTS": str(tmp_path / "results")}
    try:
        yield env, factor
    finally:
        stop_emulator("scripted", state_root=root, env=adb_server.env)


def notes(tmp_path, env, *args):
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def run_files(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "results").glob("*.json"))


@pytest.mark.timeout(900)
def test_pass_saves_the_next_baseline_and_a_regression_saves_nothing(tiny_models, phone, tmp_path):
    env, factor = phone
    first = notes(tmp_path, env, "none", "v1", *RECIPE)
    assert first.returncode == 0, first.stderr
    plan = json.loads((tmp_path / "results" / run_files(tmp_path)[0]).read_text())["plan"]
    assert (plan["rounds"], plan["runs"]) == (5, 3)
    assert first.stdout.strip() == "docs/release-notes/v1.md"
    page = (tmp_path / "docs/release-notes/v1.md").read_text()
    assert "| variant |" in page and "dynamic" in page and "SYNTHETIC" in page and "No previous baseline" in page
    assert (tmp_path / "results/baselines/v1.json").is_file()

    same = notes(tmp_path, env, "v1", "v2", *RUN)                  # unchanged: the gate passes
    assert same.returncode == 0, same.stderr
    assert "gate: PASS: 2 cells, none slower than v1" in same.stderr
    assert "## Changes since v1" in (tmp_path / "docs/release-notes/v2.md").read_text()
    assert (tmp_path / "results/baselines/v2.json").is_file()

    factor.write_text("1.3")                                        # every generation 30 % slower
    slow = notes(tmp_path, env, "v2", "v3", *RUN)
    assert slow.returncode == 1, slow.stderr
    assert "gate: FAIL: 2 of 2 cells slower than v2 (fp32 +30.0 %, dynamic +30.0 %)" in slow.stderr
    assert "NOT saved as baseline 'v3'" in slow.stderr
    assert not (tmp_path / "results/baselines/v3.json").exists()
    page3 = (tmp_path / "docs/release-notes/v3.md").read_text()
    assert "### Benchmark comparison: FAIL" in page3 and "| SLOWER |" in page3

    forced = notes(tmp_path, env, "--force", "v2", "v3", *RUN)    # the release manager overrides
    assert forced.returncode == 1 and (tmp_path / "results/baselines/v3.json").is_file()
    saved = json.loads((tmp_path / "results/baselines/v3.json").read_text())
    assert saved["baseline"]["runs"] == [run_files(tmp_path)[-1].removesuffix(".json")]


def test_unknown_previous_or_existing_new_baseline_runs_nothing(tmp_path):
    env = {**os.environ, "HARNESS_RESULTS": str(tmp_path / "results")}
    typo = notes(tmp_path, env, "no-such-baseline", "v4", "--runs", "3")
    assert typo.returncode == 2 and "no previous baseline 'no-such-baseline'" in typo.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "docs").exists()
    (tmp_path / "results/baselines").mkdir(parents=True)
    (tmp_path / "results/baselines/v4.json").write_text("{}")
    taken = notes(tmp_path, env, "none", "v4", "--runs", "3")
    assert taken.returncode == 2 and "baseline 'v4' already exists" in taken.stderr
    assert run_files(tmp_path) == []


def test_usage_and_help(tmp_path):
    r = subprocess.run(["bash", str(SCRIPT), "only-one"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
    h = subprocess.run(["bash", str(SCRIPT), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert h.returncode == 0 and "Exit status" in h.stdout and "--force" in h.stdout
