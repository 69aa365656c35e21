"""Whole ``harness run`` commands in real processes, with real signals and a second process at once.

The device is ``kind: fake`` (fake_kind.py: a scripted FakeDevice) and conversion is the stub
worker, so each run takes about a second: signals (D6, D11), the run lock (D3), the device
lock on this machine (D3), the threads check (D4), the resume line (D17), a resume that
finds devices.yaml changed (D13) and run ids (D8), each as a user meets them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import cli

HERE = Path(__file__).resolve().parent
RUNNER = [sys.executable, str(HERE / "fake_run.py")]


class World:
    """A results folder, a cache, a devices.yaml with fake devices, and how to start runs."""

    def __init__(self, tmp: Path):
        self.tmp, self.results, self.marker = tmp, tmp / "results", tmp / "marker"
        self.config = tmp / "devices.yaml"
        self.config.write_text("devices:\n  fk1:\n    kind: fake\n    serial: one\n"
                               "  fk2:\n    kind: fake\n    serial: two\n"
                               "  fk1-again:\n    kind: fake\n    serial: one\n")
        self.started: list[subprocess.Popen] = []
        self.env = {**os.environ, "HARNESS_CACHE": str(tmp / "cache"),
                    "HARNESS_TEST_CONVERT_WORKER": str(HERE.parent / "stub_convert_worker.py"),
                    "HARNESS_TEST_CONVERT_LOG": str(tmp / "convert.log")}

    def start(self, *args: str, device: str = "fk1", resume: str | None = None, stderr: Path | None = None,
              **fake) -> subprocess.Popen:
        env = {**self.env, "HARNESS_TEST_FAKE_DEVICE": json.dumps({"marker": str(self.marker), **fake})}
        plan = ["--resume", resume] if resume else ["--device", device, "--variants", "fp32,dynamic",
                                                    "--max-length", "16", "--runs", "2", "--warmup", "0"]
        argv = [*RUNNER, "run", *plan, "--config", str(self.config), "--results-dir", str(self.results),
                "--no-report", *args]
        # A terminal's Ctrl-C reaches a child even when pytest runs as a background job (SIGINT ignored).
        err = open(stderr, "w") if stderr else subprocess.PIPE
        try:
            p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            self.started.append(p)
            return p
        finally:
            if stderr:
                err.close()

    def run(self, *args: str, **kw) -> tuple[int, str]:
        p = self.start(*args, **kw)
        _, err = p.communicate(timeout=120)
        return p.returncode, err

    def docs(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.results.glob("*.json"))]

    def wait_for(self, cond, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "timed out waiting"
            time.sleep(0.02)

    def marks(self) -> list[str]:
        return self.marker.read_text().splitlines() if self.marker.exists() else []

    def measuring(self) -> bool:
        return any(len(d["blocks"]) >= 1 for d in self.docs()) if self.results.is_dir() else False

    def leftover_locks(self) -> list[Path]:
        return [p for p in (self.tmp / "cache" / "locks").glob("*")] + list(self.results.glob(".*.lock"))


@pytest.fixture
def world(tmp_path) -> World:
    w = World(tmp_path)
    yield w
    for p in w.started:            # a failed test leaves no run behind
        if p.poll() is None:
            p.kill()
            p.wait()


def errors(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("harness:")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_ends_the_run_as_ctrl_c_does(world, sig):
    """D6: SIGTERM (CI cancel, timeout) and SIGHUP (a closed terminal) behave as Ctrl-C."""
    p = world.start(run_s=0.6)
    world.wait_for(world.measuring)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    (doc,) = world.docs()
    assert doc["status"] == "interrupted" and len(doc["blocks"]) == 1
    assert f"finish with: harness run --resume {doc['run_id']}" in err
    assert errors(err) == ["harness: interrupted"]
    assert [m.split()[1] for m in world.marks() if "run" not in m] == ["open", "claim", "close"]   # let go
    assert not world.leftover_locks()
    if sig != signal.SIGTERM:
        return
    status, err = world.run(resume=doc["run_id"])                                   # and it resumes
    (done,) = world.docs()
    assert status == 0 and done["status"] == "complete", err
    assert [b["block_id"] for b in done["blocks"]] == ["fk1/fp32/L16/cw8/tdev/r0", "fk1/dynamic/L16/cw8/tdev/r0"]
    assert done["blocks"][0] == doc["blocks"][0]                                    # kept as it was


def test_a_second_signal_during_cleanup_orphans_nothing(world):
    """D11: the second Ctrl-C used to cut the cleanup short and leave the emulated phone running."""
    p = world.start(run_s=5.0, close_s=1.5)
    world.wait_for(lambda: any(m.split()[1] == "claim" for m in world.marks()))
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    time.sleep(0.4)                       # inside the 1.5 s the device takes to close
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert [m.split()[1] for m in world.marks()][-1] == "close"
    (doc,) = world.docs() or [None]
    assert doc is None or doc["status"] == "interrupted"
    assert not world.leftover_locks()


def test_a_run_resumed_twice_at_once_is_refused_the_second_time(world):
    """D3: both resumes used to measure every remaining block; the last writer's file won."""
    p = world.start(run_s=0.5)
    world.wait_for(world.measuring)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    (doc,) = world.docs()
    go_on = world.tmp / "go-on"
    first = world.start(resume=doc["run_id"], hold_until=str(go_on))
    world.wait_for(lambda: f"{first.pid} run fk1" in world.marks())          # measuring again
    status, err = world.run(resume=doc["run_id"])
    go_on.touch()
    (line,) = errors(err)
    assert status == 1 and line.startswith(
        f"harness: run {doc['run_id']} is in use by pid {first.pid} on {os.uname().nodename} "
        f"(run {doc['run_id']}, since "), err
    assert first.wait(timeout=60) == 0
    (done,) = world.docs()
    assert done["status"] == "complete" and len(done["blocks"]) == 2 and len(done["resumed_at"]) == 1


def test_a_device_in_use_is_refused_or_waited_for(world):
    """D3: a second run on the same device waits (default) or, with --device-wait 0, is refused."""
    go_on, waiting = world.tmp / "go-on", world.tmp / "second.err"
    first = world.start(hold_until=str(go_on))
    world.wait_for(lambda: f"{first.pid} run fk1" in world.marks())
    status, err = world.run("--device-wait", "0")
    assert status == 1, err
    (line,) = errors(err)
    assert line.startswith(f"harness: fk1 is in use by pid {first.pid} on ") and "--device-wait" in line
    second = world.start(stderr=waiting)          # waits (up to 600 s by default) and then measures
    world.wait_for(lambda: waiting.exists() and "waiting up to" in waiting.read_text())
    assert f"fk1 is in use by pid {first.pid}" in waiting.read_text()
    go_on.touch()
    assert first.wait(timeout=60) == 0 and second.wait(timeout=120) == 0, waiting.read_text()
    docs = world.docs()
    assert len(docs) == 2 and all(d["status"] == "complete" and len(d["blocks"]) == 2 for d in docs)
    a, b = sorted(docs, key=lambda d: d["blocks"][0]["started_at"])      # one after the other
    assert a["blocks"][-1]["finished_at"] <= b["blocks"][0]["started_at"]


def test_two_runs_naming_two_devices_in_opposite_orders_do_not_deadlock(world):
    """Found by the soak: 'emu0,emu1' and 'emu1,emu0' at once each held one and waited for the
    other until --device-wait ran out. Devices are now taken in one order, whatever the order asked."""
    first = world.start(device="fk1,fk2", claim_s=1.5)
    world.wait_for(lambda: f"{first.pid} claim fk1" in world.marks())
    second = world.start("--device-wait", "60", device="fk2,fk1")
    assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
    for doc in world.docs():
        assert doc["status"] == "complete" and len(doc["blocks"]) == 4
    second_pid_marks = [m.split()[1:] for m in world.marks() if m.startswith(f"{second.pid} ")]
    assert second_pid_marks[:2] == [["open", "fk1"], ["claim", "fk1"]]          # fk1 first, as asked of all


# ----------------------------------------------------------------- in this process (faster)

@pytest.fixture
def here(world, monkeypatch):
    """The same world, with ``harness run`` called in this process (no signals needed)."""
    from harness.devices import registry
    from harness.run import executor

    monkeypatch.setitem(registry.KINDS, "fake", "fake_kind")
    monkeypatch.setattr(executor, "RETRY_BACKOFF_S", (0.0, 0.0, 0.0))
    for k in ("HARNESS_CACHE", "HARNESS_TEST_CONVERT_WORKER", "HARNESS_TEST_CONVERT_LOG"):
        monkeypatch.setenv(k, world.env[k])

    def run(*args: str, resume: str | None = None, device: str = "fk1", **fake) -> int:
        monkeypatch.setenv("HARNESS_TEST_FAKE_DEVICE", json.dumps({"marker": str(world.marker), **fake}))
        plan = ["--resume", resume] if resume else ["--device", device, "--variants", "fp32,dynamic",
                                                    "--max-length", "16", "--runs", "2", "--warmup", "0"]
        return cli.main(["run", *plan, "--config", str(world.config), "--results-dir", str(world.results),
                         "--no-report", *args])
    return run


def test_threads_beyond_the_devices_cores_are_refused_before_converting(world, here, capsys):
    """D4: --threads 999 on a 2-core host hung the run; now one line, before any conversion."""
    assert here("--threads", "999", cores=4) == 1
    assert errors(capsys.readouterr().err) == [
        "harness: fk1 has 4 core(s); 999 threads would oversubscribe them; use --threads 4 or fewer "
        "(or --allow-threads-beyond-cores)"]
    assert not (world.tmp / "convert.log").exists() and not world.docs()
    assert here("--threads", "5", "--allow-threads-beyond-cores", cores=4) == 0
    assert "warning fk1 has 4 core(s); 5 threads would oversubscribe them" in capsys.readouterr().err


def test_a_lost_device_ends_with_the_resume_line_and_a_resume_checks_devices_yaml(world, here, capsys):
    """D17: a run that stops because a device was lost says how to finish it. D13: the plan
    records how each alias resolved, and a resume refuses a devices.yaml that now says otherwise."""
    assert here(fail_runs=99) == 1
    (doc,) = world.docs()
    err = capsys.readouterr().err
    assert doc["status"] == "failed" and "gave up on fk1" in err
    assert f"finish the missing blocks with: harness run --resume {doc['run_id']}" in err
    assert doc["plan"]["device_definitions"]["fk1"]["match"]["serial"] == "one"
    assert doc["plan"]["config"] == str(world.config)
    before = (world.results / f"{doc['run_id']}.json").read_bytes()
    world.config.write_text(world.config.read_text().replace("serial: one", "serial: uno"))
    assert here(resume=doc["run_id"]) == 1
    assert errors(capsys.readouterr().err) == [
        f"harness: --resume {doc['run_id']}: {world.config} now defines 'fk1' differently "
        "(match: {'serial': 'one', 'endpoint': None, 'model': None, 'device': None} then, "
        "{'serial': 'uno', 'endpoint': None, 'model': None, 'device': None} now); restore it, or start a new run"]
    assert (world.results / f"{doc['run_id']}.json").read_bytes() == before
    world.config.write_text(world.config.read_text().replace("serial: uno", "serial: one"))
    assert here(resume=doc["run_id"]) == 0                        # as it was: it finishes
    (done,) = world.docs()
    assert done["status"] == "complete" and len(done["blocks"]) == 2


def test_one_device_named_twice_is_refused(world, here, capsys):
    assert here(device="fk1,fk1-again") == 1
    assert errors(capsys.readouterr().err) == ["harness: fk1-again and fk1 are the same device; name it once"]


@pytest.mark.parametrize("run_id", ["../outside/victim", "/etc/passwd", "a/../../b", ".."])
def test_resume_takes_a_run_id_not_a_path(world, here, run_id, capsys):
    """D8: ``--resume ../outside/victim`` loaded and rewrote a file outside the results folder."""
    victim = world.tmp / "outside" / "victim.json"
    victim.parent.mkdir()
    victim.write_text('{"schema_version": 2, "run_id": "victim", "status": "interrupted", "blocks": []}')
    assert here(resume=run_id) == 1
    err = capsys.readouterr().err
    assert len(errors(err)) == 1 and "a run id, not a path" in err
    assert json.loads(victim.read_text())["status"] == "interrupted"
