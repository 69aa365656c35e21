"""The executor with a fake device: rotation, resume, retries, give-up, recovery, parallelism.

Milliseconds each: no adb, no TensorFlow — what used to be tested only by whole runs.
"""
from __future__ import annotations

import signal
import threading

import pytest

from fakes import FakeDevice, converted
from harness.results.schema import Block
from harness.results.store import Recorder
from harness.run import executor
from harness.run.executor import Job, execute
from harness.run.plan import Plan, block_id, cells


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(executor, "RETRY_BACKOFF_S", (0.0, 0.0, 0.0))


def plan(**kw) -> Plan:
    base = dict(model="synthetic:tiny", devices=["fake"], variants=["fp32", "dynamic", "fp16"],
                max_lengths=[8], context_windows=[None], threads=[0], warmup=1, runs=2, rounds=1,
                prompts_source="builtin:en", prompts=["a b", "c d e"])
    base.update(kw)
    return Plan(**base)


def go(tmp_path, p: Plan, *devices, rec=None):
    keep, _ = cells(p)
    models = {(v, 8): converted(v) for v in p.variants}
    rec = rec or Recorder.create(tmp_path, p.to_dict(), [], ["harness", "run"])
    jobs = [Job(d, keep, models) for d in devices]
    status = execute(jobs, p, rec, lambda alias, msg: None)
    return status, rec, jobs


def runs_of(dev):
    return [c[1] for c in dev.calls if c[0] == "run"]


def test_rounds_rotate_the_cell_order(tmp_path):
    dev = FakeDevice()
    status, rec, _ = go(tmp_path, plan(rounds=3), dev)
    assert status == "complete"
    assert runs_of(dev) == ["fp32", "dynamic", "fp16", "dynamic", "fp16", "fp32", "fp16", "fp32", "dynamic"]
    assert len(rec.doc.blocks) == 9 and all(b.ok for b in rec.doc.blocks)


def test_threads_zero_means_the_devices_own_setting(tmp_path):
    dev = FakeDevice(default_threads=3)
    go(tmp_path, plan(variants=["fp32"]), dev)
    assert {c[2] for c in dev.calls if c[0] == "run"} == {3}


def test_delegates_multiply_the_cells_and_older_plans_asked_for_cpu(tmp_path):
    p = plan(variants=["fp32"], delegates=["cpu", "cpu-builtin"])
    keep, _ = cells(p)
    assert [c.delegate for c in keep] == ["cpu", "cpu-builtin"]
    # The default adds nothing to a block id: runs from before the option resume as they were.
    assert [block_id("fake", c, 0) for c in keep] == ["fake/fp32/L8/cwall/tdev/r0",
                                                      "fake/fp32/L8/cwall/tdev/cpu-builtin/r0"]
    old = p.to_dict()
    del old["delegates"]
    assert Plan.from_dict(old).delegates == ["cpu"]
    status, rec, _ = go(tmp_path, p, FakeDevice())
    assert status == "complete"
    assert sorted((b.params["delegate_requested"], b.params["delegate_used"]) for b in rec.doc.blocks) == [
        ("cpu", "cpu"), ("cpu-builtin", "cpu-builtin")]


def test_resume_skips_finished_blocks(tmp_path):
    p = plan()
    rec = Recorder.create(tmp_path, p.to_dict(), [], ["harness", "run"])
    done = block_id("fake", cells(p)[0][1], 0)          # dynamic finished before
    rec.add(Block(block_id=done, status="ok", device={"alias": "fake"}, model={"variant": "dynamic"},
                  params={}, samples=[]))
    dev = FakeDevice()
    status, rec, _ = go(tmp_path, p, dev, rec=rec)
    assert status == "complete" and runs_of(dev) == ["fp32", "fp16"]
    assert sorted(b.block_id for b in rec.doc.blocks) == sorted(block_id("fake", c, 0) for c in cells(p)[0])


def test_a_dropped_run_is_recovered_and_retried(tmp_path):
    dev = FakeDevice(fail_runs=2)
    status, rec, jobs = go(tmp_path, plan(variants=["fp32"]), dev)
    assert status == "complete" and runs_of(dev) == ["fp32"] * 3
    assert [c[0] for c in dev.calls].count("recover") == 2
    assert len(rec.doc.deployments) == 3          # the deploy and two recoveries
    assert not jobs[0].errors


def test_a_device_that_keeps_failing_is_given_up_after_four_tries(tmp_path):
    dev = FakeDevice(fail_runs=99)
    status, rec, jobs = go(tmp_path, plan(), dev)
    assert status == "failed" and runs_of(dev) == ["fp32"] * 4 and rec.doc.blocks == []
    (err,) = jobs[0].errors
    assert "gave up on fake" in err and "after 4 tries" in err


def test_a_failed_recovery_is_retried_not_fatal(tmp_path):
    dev = FakeDevice(fail_runs=1, recover_fails=1)
    status, _, _ = go(tmp_path, plan(variants=["fp32"]), dev)
    assert status == "complete"


def test_a_harness_error_stops_the_device_at_once(tmp_path):
    dev = FakeDevice(fatal_on_run=True)
    status, rec, jobs = go(tmp_path, plan(), dev)
    assert status == "failed" and runs_of(dev) == ["fp32"]
    assert jobs[0].errors == ["fake: storage full"]


def test_an_error_result_is_a_failed_block_and_the_run_goes_on(tmp_path):
    dev = FakeDevice(error_variants=("dynamic",))
    status, rec, _ = go(tmp_path, plan(), dev)
    assert status == "failed" and runs_of(dev) == ["fp32", "dynamic", "fp16"]
    assert [b.status for b in rec.doc.blocks] == ["ok", "error", "ok"]


def test_devices_run_in_parallel(tmp_path):
    barrier = threading.Barrier(2, timeout=5)        # each waits for the other: sequential would time out
    a = FakeDevice(alias="a", on_run=lambda spec: barrier.wait())
    b = FakeDevice(alias="b", on_run=lambda spec: barrier.wait())
    status, rec, _ = go(tmp_path, plan(variants=["fp32"]), a, b)
    assert status == "complete" and {blk.device["alias"] for blk in rec.doc.blocks} == {"a", "b"}


@pytest.fixture
def ctrl_c():
    """Python's own SIGINT handler for the test: ``_thread.interrupt_main()`` does nothing when
    SIGINT is ignored, as it is for a suite started in the background (``cmd &``)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_ctrl_c_marks_the_run_interrupted_and_keeps_finished_blocks(tmp_path, ctrl_c):
    import _thread
    import time

    def interrupt(spec, n=[0]):
        n[0] += 1
        if n[0] == 2:                  # Ctrl-C reaches the main thread while block 2 runs
            _thread.interrupt_main()
            time.sleep(0.5)
    dev = FakeDevice(on_run=interrupt)
    with pytest.raises(KeyboardInterrupt):
        go(tmp_path, plan(), dev)
    (path,) = tmp_path.glob("*.json")
    from harness.results.store import load

    doc = load(path)
    assert doc.status == "interrupted"
    assert [b.model["variant"] for b in doc.blocks] in (["fp32"], ["fp32", "dynamic"])
    assert any(c[0] == "cleanup" for c in dev.calls)


def test_ctrl_c_while_a_device_waits_starts_no_app_and_cleans_up_after_the_thread(tmp_path, ctrl_c):
    """A device thread between its stop check and starting the app must not push a spec after
    the cleanup (an interrupted run left a spec on the phone)."""
    import _thread
    import time

    class Slow(FakeDevice):
        def wait_steady(self, on_wait):
            if not any(c[0] == "interrupted" for c in self.calls):
                self.calls.append(("interrupted",))
                _thread.interrupt_main()
                time.sleep(0.5)          # the main thread's first cleanup runs meanwhile
            return self.state()

    dev = Slow()
    with pytest.raises(KeyboardInterrupt):
        go(tmp_path, plan(), dev)
    kinds = [c[0] for c in dev.calls]
    assert "run" not in kinds                      # no app started once stopped
    assert kinds.count("cleanup") == 2 and kinds[-1] == "cleanup"


def test_every_block_is_on_disk_as_soon_as_it_finishes(tmp_path):
    seen = []

    def check(spec):
        files = list(tmp_path.glob("*.json"))
        import json
        seen.append(len(json.loads(files[0].read_text())["blocks"]))
    dev = FakeDevice(on_run=check)
    go(tmp_path, plan(), dev)
    assert seen == [0, 1, 2]
