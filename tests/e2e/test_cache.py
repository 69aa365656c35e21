"""The conversion cache shared by several processes (D2) and checking itself (D7).

A stub worker (tests/stub_convert_worker.py) stands in for TensorFlow: each step sleeps a
little and writes a real tiny .tflite with random weights, so two builds of one entry never
have the same sha256 — a replaced model cannot hide. The processes are real.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.convert import cache as keys, pipeline
from harness.errors import ConversionError
from harness.model import sources

TESTS = Path(__file__).resolve().parents[1]
STUB = TESTS / "stub_convert_worker.py"
CONVERT = """
import json, sys
from harness.convert import convert
from harness.model import sources
out = convert(sources.resolve("synthetic:tiny"), sys.argv[2].split(","), 16, cache=__import__("pathlib").Path(sys.argv[1]),
              progress=lambda m: print("PROGRESS", m, flush=True))
print(json.dumps({c.variant: [c.sha256, str(c.path), c.cache_hit] for c in out}))
"""


@pytest.fixture
def stub_env(monkeypatch, tmp_path):
    log = tmp_path / "steps.log"
    monkeypatch.setenv("HARNESS_TEST_CONVERT_WORKER", str(STUB))
    monkeypatch.setenv("HARNESS_TEST_CONVERT_LOG", str(log))
    return log


def start(cache: Path, variants: str, step_s: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "HARNESS_TEST_CONVERT_STEP_S": str(step_s)}
    return subprocess.Popen([sys.executable, "-c", CONVERT, str(cache), variants], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p: subprocess.Popen) -> tuple[dict, list[str]]:
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    lines = out.splitlines()
    return json.loads(lines[-1]), [ln for ln in lines if ln.startswith("PROGRESS")]


def builds(log: Path) -> list[str]:
    return [ln.split(" ", 2)[2] for ln in log.read_text().splitlines() if " finish " in ln]


def test_processes_sharing_a_cache_build_each_entry_once_and_lose_nothing(stub_env, tmp_path):
    cache = tmp_path / "cache"
    procs = [start(cache, "fp32,dynamic", step_s=0.3) for _ in range(3)]
    results = [finish(p)[0] for p in procs]
    # Every process got every model, all the same file and sha256: nobody replaced anybody's.
    for variant in ("fp32", "dynamic"):
        assert len({r[variant][0] for r in results}) == 1
        assert len({r[variant][1] for r in results}) == 1
        assert sum(not r[variant][2] for r in results) == 1            # converted by exactly one
        assert keys.sha256_file(Path(results[0][variant][1])) == results[0][variant][0]
    assert sorted(builds(stub_env)) == ["dynamic", "fp32"]
    assert (stub_env.read_text().count(" export ")) == 1
    # No private build folder and no lock file is left behind.
    assert not list((cache / keys.STAGING).iterdir())
    assert not list((cache / keys.LOCKS).iterdir())


def test_a_waiting_process_says_whom_it_waits_for(stub_env, tmp_path):
    cache = tmp_path / "cache"
    first = start(cache, "fp32", step_s=1.0)
    deadline = time.monotonic() + 30
    while not list((cache / keys.LOCKS).glob("models-*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    second = start(cache, "fp32")
    (r1, _), (r2, lines2) = finish(first), finish(second)
    assert r1["fp32"][0] == r2["fp32"][0] and r2["fp32"][2] is True
    assert any(f"waiting for pid {first.pid}" in ln and "model fp32" in ln for ln in lines2), lines2


def test_a_model_a_run_recorded_is_never_replaced_by_a_later_one(stub_env, tmp_path):
    cache = tmp_path / "cache"
    (first, _) = finish(start(cache, "fp16"))
    model = Path(first["fp16"][1])
    inode = model.stat().st_ino
    (second, _) = finish(start(cache, "fp16"))
    assert second["fp16"] == [first["fp16"][0], first["fp16"][1], True]
    assert model.stat().st_ino == inode and builds(stub_env) == ["fp16"]


def _entry(cache: Path, variant: str) -> Path:
    source = sources.resolve("synthetic:tiny")
    return cache / "models" / keys.conversion_key(source, variant, "oneshot", 16)


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory) -> Path:
    """A cache with fp32 built once (by the stub) for the damage tests to copy."""
    cache = tmp_path_factory.mktemp("built") / "cache"
    env = {"HARNESS_TEST_CONVERT_WORKER": str(STUB)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pipeline.convert(sources.resolve("synthetic:tiny"), ["fp32"], 16, cache=cache)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return cache


@pytest.mark.parametrize("damage,why", [
    ("truncate_model", "model.tflite has 100 bytes, its report says"),
    ("flip_model_byte", "sha256 differs"),
    ("truncate_report", "conversion.json is not valid JSON"),
    ("binary_report", "conversion.json is not valid JSON"),
    ("no_report", "conversion.json is missing"),
    ("no_model", "model.tflite is missing"),
])
def test_a_damaged_entry_is_rebuilt_with_one_line(stub_env, built_cache, tmp_path, damage, why):
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(built_cache, cache)
    lines: list[str] = []
    source = sources.resolve("synthetic:tiny")
    (good,) = pipeline.convert(source, ["fp32"], 16, cache=cache)
    assert good.cache_hit
    entry = _entry(cache, "fp32")
    model, report = entry / "model.tflite", entry / "conversion.json"
    if damage == "truncate_model":
        model.write_bytes(model.read_bytes()[:100])
    elif damage == "flip_model_byte":
        data = bytearray(model.read_bytes())
        data[-1] ^= 0xFF
        model.write_bytes(bytes(data))
    elif damage == "truncate_report":
        report.write_text(report.read_text()[:200])
    elif damage == "binary_report":
        report.write_bytes(b"\xff\xfe\x00garbage")
    elif damage == "no_report":
        report.unlink()
    else:
        model.unlink()
    (again,) = pipeline.convert(source, ["fp32"], 16, cache=cache, progress=lines.append)
    assert not again.cache_hit and again.sha256 != good.sha256
    assert keys.sha256_file(again.path) == again.sha256 == json.loads(report.read_text())["sha256"]
    damaged = [ln for ln in lines if "damaged" in ln]
    assert len(damaged) == 1 and why in damaged[0] and "building it again" in damaged[0], lines
    (third,) = pipeline.convert(source, ["fp32"], 16, cache=cache)       # whole again: a hit
    assert third.cache_hit and third.sha256 == again.sha256


def test_reports_are_written_whole_and_a_killed_build_leaves_nothing_that_counts(stub_env, tmp_path):
    cache = tmp_path / "cache"
    p = start(cache, "int8", step_s=1.0)
    deadline = time.monotonic() + 30
    while not (stub_env.exists() and " export" in stub_env.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    p.kill()
    p.wait()
    assert not _entry(cache, "int8").exists()                  # nothing half-built is in place
    assert list((cache / keys.STAGING).iterdir())             # the killed one's private folder ...
    (again, lines) = finish(start(cache, "int8"))
    assert again["int8"][2] is False
    assert not list((cache / keys.STAGING).iterdir())         # ... is swept by the next process


def test_a_small_models_steps_share_one_process_and_a_hung_one_is_stopped(stub_env, tmp_path, monkeypatch):
    """Small models (the stub's export says 1 parameter) run every step in one worker
    process, each step still under its deadline; a large one runs each in a fresh process."""
    from harness.convert import steps

    source = sources.resolve("synthetic:tiny")
    out = pipeline.convert(source, ["fp32", "int8"], 16, cache=tmp_path / "a")
    pids = {ln.split()[0] for ln in stub_env.read_text().splitlines()}
    assert len(pids) == 1 and all(s["process"] == "shared" for c in out for s in c.report["convert_stages"])
    assert not list((tmp_path / "a" / "staging").iterdir())          # the worker's log went with it

    stub_env.write_text("")
    monkeypatch.setattr(steps, "SHARED_MAX_PARAMS", 0)
    out = pipeline.convert(source, ["fp32", "int8"], 16, cache=tmp_path / "b")
    # two exports (int8's masks attention its own way: exports/masking.py) + 2 + 3 steps
    assert len({ln.split()[0] for ln in stub_env.read_text().splitlines()}) == 7
    assert all(s["process"] == "own" for c in out for s in c.report["convert_stages"])

    monkeypatch.setattr(steps, "SHARED_MAX_PARAMS", 10)
    monkeypatch.setattr(steps, "STEP_TIMEOUT_S", 1.0)
    monkeypatch.setenv("HARNESS_TEST_CONVERT_STEP_S", "30")
    t0 = time.monotonic()
    with pytest.raises(ConversionError, match=r"exporting synthetic:tiny \(oneshot, max length 16\) "
                                              r"did not finish in 1 s; stopped it \(log: "):
        pipeline.convert(source, ["fp32"], 16, cache=tmp_path / "c")
    assert time.monotonic() - t0 < 10
