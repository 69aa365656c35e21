"""Where the conversion's worker steps run: each in a fresh process, or all in one.

A fresh process per step (export, convert, calibrate, finish) keeps each step's peak
memory to what it needs and lets the report give each its own peak — what the GPT-2
base shape needs on a laptop. For a small model the steps' own work takes a second or
two while importing TensorFlow takes six, so once the export says the model is small
(``SHARED_MAX_PARAMS``), its steps run in one worker process (``worker serve``) that
lives for one ``convert`` call. Then a step's ``peak_rss_mb`` is that process's peak so
far, and its stage says ``"process": "shared"``. Every step keeps its deadline.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from harness import proc
from harness.convert import cache as keys
from harness.errors import ConversionError, UserError

# One worker step (export, convert, calibrate, finish) of the GPT-2 base shape takes up to
# a few minutes on a laptop core; a step still running after this is hung.
STEP_TIMEOUT_S = float(os.environ.get("HARNESS_CONVERT_STEP_TIMEOUT_S") or 3600)
# Models up to this many parameters share one worker process (synthetic:tiny and
# trained:tiny have well under a million; GPT-2 base has 124 million).
SHARED_MAX_PARAMS = 20_000_000


def worker_argv() -> list[str]:
    """The worker's command. HARNESS_TEST_CONVERT_WORKER (tests only) names a stand-in script
    that writes small fake models at once, for tests of the cache with several processes."""
    stub = os.environ.get("HARNESS_TEST_CONVERT_WORKER")
    return [sys.executable, stub] if stub else [sys.executable, "-m", "harness.convert.worker"]


def worker_env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Steps:
    """Runs the worker steps of one ``convert`` call. ``share`` is None until the model's
    size is known: the export then runs in a worker that is kept only for a small model."""

    def __init__(self, cache: Path):
        self.cache = cache
        self.share: bool | None = None
        self._server: proc.Server | None = None
        self._server_dir: Path | None = None      # its log, in a staging folder of its own

    def model_size(self, parameters: int | None) -> None:
        """Decide from the export's parameter count whether later steps share a process."""
        if self.share is None:
            self.share = parameters is not None and parameters <= SHARED_MAX_PARAMS
        if not self.share:
            self.close()

    def run(self, args: list[str], log_path: Path, what: str) -> dict:
        """Run one step; return its JSON report or raise ConversionError / UserError."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.share is False:
            report, status = self._fresh(args, log_path, what)
        else:
            report, status = self._shared(args, log_path, what)
            report["process"] = "shared"
        if status != 0 or "error" in report:
            msg = report.get("error") or f"worker exited with status {status}"
            if report.get("kind") == "user":
                raise UserError(msg)
            raise ConversionError(f"{msg} (log: {log_path})")
        return report

    def _fresh(self, args: list[str], log_path: Path, what: str) -> tuple[dict, int]:
        try:
            done = proc.run([*worker_argv(), *args], what=what, deadline_s=STEP_TIMEOUT_S,
                            env=worker_env(), stderr_path=log_path)
        except proc.Deadline as e:
            raise ConversionError(f"{e} (log: {log_path})") from None
        lines = [ln for ln in done.stdout_lines if ln.startswith("{")]
        return (json.loads(lines[-1]) if lines else {}), done.returncode

    def _shared(self, args: list[str], log_path: Path, what: str) -> tuple[dict, int]:
        if self._server is None:
            self._server_dir = self._server_dir or keys.staging_dir(self.cache)
            self._server = proc.Server([*worker_argv(), "serve"], env=worker_env(),
                                       stderr_path=self._server_dir / "worker.log")
        try:
            line = self._server.ask(json.dumps({"argv": args, "log": str(log_path)}),
                                    what=what, deadline_s=STEP_TIMEOUT_S)
        except proc.Deadline as e:
            self._server = None
            raise ConversionError(f"{e} (log: {log_path})") from None
        except proc.Ended as e:
            self._server = None
            raise ConversionError(f"the conversion worker {e} during {what} "
                                  f"(logs: {log_path}, {self._server_dir / 'worker.log'})") from None
        report = json.loads(line) if line.startswith("{") else {"error": f"worker said {line[:200]!r}"}
        return report, int(report.pop("status", 0))

    def close(self) -> None:
        """End the shared worker; its log goes with it unless a step failed (the error names it)."""
        if self._server is not None:
            self._server.close()
            self._server = None
            shutil.rmtree(self._server_dir, ignore_errors=True)
            self._server_dir = None
