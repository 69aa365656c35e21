"""The run itself: every device measures its blocks, in parallel, retrying what a device drops.

With ``rounds > 1`` every cell gets one block per round and the cell order rotates each
round. Each finished block goes to the ``Recorder`` at once (written atomically), so a
crash, a dropped device or Ctrl-C never loses it, and ``--resume RUN_ID`` skips the
blocks that finished. A ``DeviceError`` is retried after a back-off and a recovery; any
other harness error (full storage, no APK) stops that device with its reason.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from harness import signals
from harness.convert.artifact import Converted
from harness.devices.base import Device
from harness.errors import DeviceError, HarnessError
from harness.hostinfo import utc_now
from harness.results.schema import Block
from harness.results.store import Recorder
from harness.run.plan import Cell, Plan, block_id, rotation
from harness.run.spec import make_spec, params_record, to_samples

# A device that fails is retried this many times, waiting RETRY_BACKOFF_S[i] before try i.
RETRY_BACKOFF_S = (1.0, 3.0, 9.0)
# After an interrupt, how long the device threads get to notice it (an Android block's app is
# force-stopped and seen gone within a few seconds) before the leftovers are removed again.
STOP_GRACE_S = 10.0
ProgressFn = Callable[[str, str], None]     # (device alias, message)
TokenIdsFn = Callable[[Cell, list[str]], "list[list[int]] | None"]


@dataclass
class Job:
    """One device's share of the run."""

    device: Device
    cells: list[Cell]
    models: dict[tuple[str, int], Converted]          # (variant, max_length) -> model
    token_ids: TokenIdsFn = lambda cell, prompts: None
    detokenize: Callable[[list[int]], str] | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class _Context:
    """What every step of one device's work needs."""

    job: Job
    plan: Plan
    rec: Recorder
    progress: ProgressFn
    stop: threading.Event

    def say(self, message: str) -> None:
        self.progress(self.job.device.alias, message)


def _with_retries(ctx: _Context, what: str, fn):
    """Call ``fn``; on a DeviceError wait (back-off), let the device recover, and try again.

    Returns (True, value), or (False, None) once the device is given up on (the reason is
    in ``job.errors``). Any other harness error stops this device at once.
    """
    dev, job = ctx.job.device, ctx.job
    attempt = 0
    while True:
        try:
            return True, fn()
        except DeviceError as e:
            if attempt >= len(RETRY_BACKOFF_S) or ctx.stop.is_set():
                job.errors.append(f"{e}; gave up on {dev.alias} during {what} after {attempt + 1} tries")
                return False, None
            wait = RETRY_BACKOFF_S[attempt]
            ctx.say(f"{e}; retrying in {wait:.0f} s")
            attempt += 1
            if ctx.stop.wait(wait):
                return False, None
            try:
                ctx.rec.note_deployment(dev.alias, dev.recover(list(job.models.values())))
            except DeviceError as e2:
                ctx.say(f"recovery failed: {e2}")
            except HarnessError as e2:
                job.errors.append(str(e2))
                return False, None
        except HarnessError as e:
            job.errors.append(str(e))
            return False, None


def _measure(ctx: _Context, describe: dict, cell: Cell, model: Converted, bid: str, round_: int) -> Block | None:
    dev, plan = ctx.job.device, ctx.plan
    started = utc_now()
    env_before = dev.wait_steady(ctx.say)
    if ctx.stop.is_set():
        return None                  # interrupted while waiting: start no app
    app_run_id = f"{ctx.rec.run_id}-{secrets.token_hex(3)}"
    threads = cell.threads or dev.default_threads    # 0 in a cell: the device's own setting
    spec = make_spec(app_run_id, plan, cell, model, dev.model_path(model),
                     ctx.job.token_ids(cell, plan.prompts), threads)
    ctx.say(f"measuring {cell.describe()} (round {round_ + 1} of {plan.rounds})")
    result = dev.run(spec, model, ctx.say)
    env_after = dev.state()
    return Block(
        block_id=bid, round=round_, app_run_id=app_run_id,
        # The app's own start and end (its clock): the block's time outside them is the harness's.
        app_started_at=result["started_at"] or None, app_finished_at=result["finished_at"] or None,
        status=result["status"], error=result["error"], started_at=started, finished_at=utc_now(),
        device={**describe, "fingerprint": result["device"]["fingerprint"] or describe["fingerprint"],
                "emulated": bool(describe.get("emulated") or result["device"]["emulated"])},
        app=result["app"], model=model.record(), params=params_record(plan, cell, spec, result),
        load_ms=result["load_ms"], load_kind=result.get("load_kind"), cold_load_ms=result.get("cold_load_ms"),
        memory=result["memory"], env_before=env_before, env_after=env_after,
        samples=to_samples(result["generations"], cell.max_length, ctx.job.detokenize), drift=None)


def run_device(ctx: _Context) -> None:
    """Measure every block of one device; a failed block is recorded, a lost device stops this job."""
    dev, job = ctx.job.device, ctx.job
    done = ctx.rec.finished_ids()
    ok, info = _with_retries(ctx, "deploy", lambda: dev.deploy(list(job.models.values()), ctx.say))
    if not ok:
        return
    ctx.rec.note_deployment(dev.alias, info)
    ok, describe = _with_retries(ctx, "describe", dev.describe)
    if not ok:
        return
    for round_ in range(ctx.plan.rounds):
        for cell in rotation(job.cells, round_):
            if ctx.stop.is_set():
                return
            bid = block_id(dev.alias, cell, round_)
            if bid in done:
                continue
            model = job.models[(cell.variant, cell.max_length)]
            ok, block = _with_retries(ctx, bid, lambda: _measure(ctx, describe, cell, model, bid, round_))
            if not ok or block is None or (ctx.stop.is_set() and not block.ok):
                return       # a block the interrupt cut short (its app stopped) is not a measurement
            ctx.rec.add(block)


def execute(jobs: list[Job], plan: Plan, rec: Recorder, progress: ProgressFn) -> str:
    """Run every job (one thread per device). Returns the run's final status.

    On Ctrl-C (or a signal turned into KeyboardInterrupt) the devices are told to stop, the
    run is marked ``interrupted`` and the interrupt goes on to the caller.
    """
    stop = threading.Event()

    def guarded(job: Job) -> None:
        try:
            run_device(_Context(job, plan, rec, progress, stop))
        except Exception as e:  # noqa: BLE001  a bug must not vanish with its thread
            job.errors.append(f"{job.device.alias}: internal error: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=guarded, args=(j,), daemon=True, name=f"device-{j.device.alias}")
               for j in jobs]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.2)
    except KeyboardInterrupt:
        with signals.shielded():     # a second Ctrl-C must not cut the cleanup short
            stop.set()
            rec.finish("interrupted")
            for j in jobs:           # stop the apps now: a cut block must not go on heating the phone
                _cleanup_quietly(j.device, rec.run_id)
            # A device thread may be between its stop check and pushing a spec: give each one
            # time to see the stop (its app is gone), then remove what it left.
            deadline = time.monotonic() + STOP_GRACE_S
            for t in threads:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
            for j in jobs:
                _cleanup_quietly(j.device, rec.run_id)
        raise
    for j in jobs:
        _cleanup_quietly(j.device, rec.run_id)
    failed = any(j.errors for j in jobs) or any(not b.ok for b in rec.doc.blocks)
    status = "failed" if failed else "complete"
    rec.finish(status)
    return status


def _cleanup_quietly(dev: Device, run_id: str) -> None:
    """Remove the run's leftovers on the device. Cleanup never raises."""
    try:
        dev.cleanup_run(run_id)
    except Exception:  # noqa: BLE001
        pass
