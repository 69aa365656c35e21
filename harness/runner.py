"""The run: device × variant × max length × context window × threads, measured in blocks.

A *cell* is one combination of parameters; a *block* is one launch of the app for a
cell (load the model, warm up, measure). With ``rounds > 1`` every cell gets one block
per round and the cell order rotates each round, so no variant always runs first on a
cool device. Each finished block is written to the run's result file at once
(atomically), so a crash, a dropped device or Ctrl-C never loses it, and
``--resume RUN_ID`` skips the blocks that finished.
"""
from __future__ import annotations

import datetime as dt
import itertools
import os
import platform
import secrets
import subprocess
import threading
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from harness import contract, prompts as prompts_mod, results
from harness.convert import Converted
from harness.device import Device
from harness.errors import DeviceError, HarnessError, UserError

# A device that fails is retried this many times, waiting RETRY_BACKOFF_S[i] before try i.
RETRY_BACKOFF_S = (1.0, 3.0, 9.0)


@dataclass
class Plan:
    """What the user asked for; stored in the result file so a run can be resumed."""

    model: str
    devices: list[str]
    variants: list[str]
    max_lengths: list[int]
    context_windows: list[int | None]   # words; None keeps the whole prompt, 0 = half the max length
    threads: list[int]
    warmup: int
    runs: int
    rounds: int
    prompts_source: str
    prompts: list[str]
    export: str = "oneshot"
    drift: bool = False

    @property
    def prompts_sha256(self) -> str:
        return prompts_mod.prompts_sha256(self.prompts)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["prompts_sha256"] = self.prompts_sha256
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d)


@dataclass(frozen=True)
class Cell:
    variant: str
    max_length: int
    context_window: int | None
    threads: int

    def label(self) -> str:
        cw = "all" if self.context_window is None else self.context_window
        return f"{self.variant}/L{self.max_length}/cw{cw}/t{self.threads or 'dev'}"


def cells(plan: Plan) -> tuple[list[Cell], list[dict]]:
    """The cross product of the plan's lists, minus impossible cells (returned with reasons)."""
    keep, skipped = [], []
    for L, cw, t, v in itertools.product(plan.max_lengths, plan.context_windows, plan.threads, plan.variants):
        # 0 is the default: half the max length in words (the runbook's suggested start).
        cell = Cell(v, L, max(1, L // 2) if cw == 0 else cw, t)
        if cell in keep or any(s["cell"] == asdict(cell) for s in skipped):
            continue   # the default window and an explicit one can name the same cell
        # The output includes the prompt: N words take at least N tokens plus the start
        # token, so a window of N >= L - 1 words leaves no room for a single new token.
        if cw is not None and cw >= L - 1:
            skipped.append({"cell": asdict(cell), "reason": f"context window of {cw} words leaves no room "
                            f"for output at max length {L} (the output includes the prompt)"})
        else:
            keep.append(cell)
    return keep, skipped


def block_id(alias: str, cell: Cell, round_: int) -> str:
    return f"{alias}/{cell.label()}/r{round_}"


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def host_record() -> dict:
    from harness.hostrun import cpu_model

    def v(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"os": platform.platform(), "python": platform.python_version(), "tensorflow": v("tensorflow"),
            "tensorflow_text": v("tensorflow-text"), "keras": v("keras"), "keras_hub": v("keras-hub"),
            "adbutils": v("adbutils"), "cpu": cpu_model(), "cpu_count": os.cpu_count()}


class Recorder:
    """The run's result file: one document, rewritten atomically after every block."""

    def __init__(self, path: Path, doc: dict):
        self.path = path
        self.doc = doc
        self._lock = threading.Lock()

    @classmethod
    def create(cls, results_dir: Path, plan: Plan, skipped: list[dict], argv: list[str]) -> "Recorder":
        run_id = new_run_id()
        doc = {
            "schema_version": results.SCHEMA_VERSION, "run_id": run_id, "status": "running",
            "started_at": _now(), "finished_at": None,
            "harness": {"version": _harness_version(), "git_commit": _git_commit()},
            "command": argv, "host": host_record(), "plan": plan.to_dict(), "skipped": skipped,
            "blocks": [],
        }
        rec = cls(results.run_path(run_id, results_dir), doc)
        rec.save()
        return rec

    @classmethod
    def resume(cls, results_dir: Path, run_id: str) -> "Recorder":
        path = results.run_path(run_id, results_dir)
        if not path.is_file():
            raise UserError(f"--resume: no run {run_id!r} in {results_dir}")
        doc = results.load_run(path)
        if doc.get("status") == "complete":
            raise UserError(f"--resume: run {run_id} is already complete")
        doc["status"] = "running"
        doc.setdefault("resumed_at", []).append(_now())
        rec = cls(path, doc)
        rec.save()
        return rec

    @property
    def run_id(self) -> str:
        return self.doc["run_id"]

    def finished_ids(self) -> set[str]:
        return {b["block_id"] for b in self.doc["blocks"] if b["status"] == "ok"}

    def add(self, block: dict) -> None:
        with self._lock:
            blocks = [b for b in self.doc["blocks"] if b["block_id"] != block["block_id"]]
            blocks.append(block)
            self.doc["blocks"] = blocks
            self.save()

    def note_deployment(self, alias: str, info: dict | None) -> None:
        """Record what a deploy did (app installed, models pushed) — the proof that a second run pushed nothing."""
        with self._lock:
            self.doc.setdefault("deployments", []).append({"device": alias, "at": _now(), **(info or {})})
            self.save()

    def finish(self, status: str) -> None:
        with self._lock:
            self.doc["status"] = status
            self.doc["finished_at"] = _now()
            self.save()

    def save(self) -> None:
        results.write_json_atomic(self.path, self.doc)


def _harness_version() -> str:
    from harness import __version__

    return __version__


def make_spec(run_id: str, plan: Plan, cell: Cell, model: Converted, model_path: str,
              token_ids: list[list[int]] | None = None, threads: int | None = None) -> dict:
    spec = {
        "contract_version": contract.CONTRACT_VERSION, "run_id": run_id, "model_path": model_path,
        "model_sha256": model.sha256, "export": model.export, "prompts": plan.prompts,
        "max_length": cell.max_length, "context_window_words": cell.context_window,
        "warmup_runs": plan.warmup, "measured_runs": plan.runs, "threads": threads or cell.threads or 1,
        "delegate": "cpu",
    }
    if token_ids is not None:
        spec["prompt_token_ids"] = token_ids
    contract.validate_spec(spec)
    return spec


def model_record(model: Converted) -> dict:
    r = model.report
    return {"source": r["model"]["spec"], "synthetic": r["synthetic"], "variant": r["variant"],
            "export": r["export"], "max_length": r["max_length"], "sha256": r["sha256"],
            "size_bytes": r["size_bytes"], "conversion_id": r["conversion_id"],
            "parameters": r.get("parameters"),
            "weight_bytes_by_dtype": r["census"]["weight_bytes_by_dtype"],
            "op_counts": r["census"]["op_counts"]}


def to_samples(generations: list[dict], max_length: int) -> list[dict]:
    """Contract generation records -> result samples (adds tokens generated, stopped early)."""
    out = []
    for g in generations:
        s = dict(g)
        tc, pc = g.get("token_count"), g.get("prompt_token_count")
        s["tokens_generated"] = tc - pc if tc is not None and pc is not None else None
        s["stopped_early"] = bool(tc is not None and tc < max_length)
        # The prompt (after the context window) already filled the output: nothing generated.
        s["prompt_filled_output"] = bool(pc is not None and pc >= max_length)
        out.append(s)
    return out


def _with_text(samples: list[dict], token_ids) -> list[dict]:
    """prefill_decode apps return token ids only: the host detokenizes them into output_text."""
    detokenize = getattr(token_ids, "detokenize", None)
    if detokenize is not None:
        for s in samples:
            if s.get("output_token_ids") and not s.get("output_text"):
                s["output_text"] = detokenize(s["output_token_ids"])
    return samples


@dataclass
class Job:
    """One device's share of the run."""

    device: Device
    cells: list[Cell]
    models: dict[tuple[str, int], Converted]          # (variant, max_length) -> model
    token_ids: Callable[[Cell, list[str]], list[list[int]] | None] = lambda cell, prompts: None
    errors: list[str] = field(default_factory=list)
    recorder: "Recorder | None" = None


def _with_retries(job: Job, stop: threading.Event, progress, what: str, fn):
    """Call ``fn``; on a DeviceError wait (back-off), let the device recover, and try again.

    Returns (True, value) or (False, None) once the device is given up on (the reason is
    in ``job.errors``). Any other harness error (full storage, no APK) stops this device at once.
    """
    dev = job.device
    attempt = 0
    while True:
        try:
            return True, fn()
        except DeviceError as e:
            if attempt >= len(RETRY_BACKOFF_S) or stop.is_set():
                job.errors.append(f"{e}; gave up on {dev.alias} during {what} after {attempt + 1} tries")
                return False, None
            wait = RETRY_BACKOFF_S[attempt]
            progress(dev.alias, f"{e}; retrying in {wait:.0f} s")
            attempt += 1
            if stop.wait(wait):
                return False, None
            recover = getattr(dev, "recover", None)
            if recover is not None:
                try:
                    job.recorder.note_deployment(dev.alias, recover(list(job.models.values())))
                except DeviceError as e2:
                    progress(dev.alias, f"recovery failed: {e2}")
                except HarnessError as e2:
                    job.errors.append(str(e2))
                    return False, None
        except HarnessError as e:
            job.errors.append(str(e))
            return False, None


def run_device(job: Job, plan: Plan, rec: Recorder, progress: Callable[[str, str], None],
               stop: threading.Event) -> None:
    """Measure every block of one device; a failed block is recorded, a lost device stops this job."""
    dev = job.device
    job.recorder = rec
    done = rec.finished_ids()
    ok, info = _with_retries(job, stop, progress, "deploy",
                             lambda: dev.deploy(list(job.models.values()), lambda msg: progress(dev.alias, msg)))
    if not ok:
        return
    rec.note_deployment(dev.alias, info)
    ok, describe = _with_retries(job, stop, progress, "describe", dev.describe)
    if not ok:
        return
    for round_ in range(plan.rounds):
        order = job.cells[round_ % len(job.cells):] + job.cells[:round_ % len(job.cells)]
        for cell in order:
            if stop.is_set():
                return
            bid = block_id(dev.alias, cell, round_)
            if bid in done:
                continue
            model = job.models[(cell.variant, cell.max_length)]
            ok, block = _with_retries(
                job, stop, progress, bid,
                lambda: _measure(dev, describe, plan, cell, model, bid, rec.run_id, round_, job, progress))
            if not ok:
                return
            rec.add(block)


def _measure(dev: Device, describe: dict, plan: Plan, cell: Cell, model: Converted, bid: str,
             run_id: str, round_: int, job: Job, progress) -> dict:
    started = _now()
    env_before = dev.wait_steady(lambda msg: progress(dev.alias, msg))
    block_run_id = f"{run_id}-{secrets.token_hex(3)}"
    # threads 0 in a cell means "the device's own setting" (devices.yaml), else 1.
    threads = cell.threads or getattr(getattr(dev, "cfg", None), "threads", 1)
    spec = make_spec(block_run_id, plan, cell, model, getattr(dev, "model_path", lambda m: str(m.path))(model),
                     job.token_ids(cell, plan.prompts), threads)
    progress(dev.alias, f"running {cell.label()} round {round_ + 1}/{plan.rounds}")
    result = dev.run(spec, model, lambda line: progress(dev.alias, line))
    env_after = dev.state()
    return {
        "block_id": bid, "round": round_, "app_run_id": block_run_id,
        # The app's own start and end (its clock): the block's time outside them is the harness's.
        "app_started_at": result["started_at"] or None, "app_finished_at": result["finished_at"] or None,
        "status": result["status"], "error": result["error"],
        "started_at": started, "finished_at": _now(),
        "device": {**describe, "fingerprint": result["device"]["fingerprint"] or describe["fingerprint"],
                   "emulated": bool(describe.get("emulated") or result["device"]["emulated"])},
        "app": result["app"],
        "model": model_record(model),
        "params": {"context_window_words": cell.context_window, "warmup_runs": plan.warmup,
                   "measured_runs": plan.runs, "threads_requested": spec["threads"],
                   "threads_used": result["threads_used"], "delegate_requested": "cpu",
                   "delegate_used": result["delegate_used"], "prompts_sha256": plan.prompts_sha256,
                   "prompts_source": plan.prompts_source},
        "load_ms": result["load_ms"], "memory": result["memory"],
        "env_before": env_before, "env_after": env_after,
        "samples": _with_text(to_samples(result["generations"], cell.max_length), job.token_ids),
        "drift": None,
    }


def execute(jobs: list[Job], plan: Plan, rec: Recorder, progress: Callable[[str, str], None]) -> str:
    """Run every job (one thread per device). Returns the run's final status."""
    stop = threading.Event()
    def guarded(job: Job) -> None:
        try:
            run_device(job, plan, rec, progress, stop)
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
        stop.set()
        rec.finish("interrupted")
        for j in jobs:
            _close_quietly(j.device, rec.run_id)
        raise
    for j in jobs:
        _close_quietly(j.device, rec.run_id)
    failed = any(j.errors for j in jobs) or any(b["status"] != "ok" for b in rec.doc["blocks"])
    status = "failed" if failed else "complete"
    rec.finish(status)
    return status


def _close_quietly(dev: Device, run_id: str | None = None) -> None:
    """Remove the run's leftovers on the device and close it. Cleanup never raises."""
    try:
        if run_id and hasattr(dev, "cleanup_run"):
            dev.cleanup_run(run_id)
    except Exception:  # noqa: BLE001
        pass
    try:
        dev.close()
    except Exception:  # noqa: BLE001
        pass
