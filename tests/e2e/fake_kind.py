"""TEST ONLY: a device kind (``kind: fake`` in devices.yaml) backed by ``fakes.FakeDevice``,
so whole ``harness run`` commands run in a real process in milliseconds per block.

Its behaviour comes from HARNESS_TEST_FAKE_DEVICE (JSON): ``run_s`` seconds per block,
``close_s`` seconds its close takes, ``claim_s`` seconds taking its lock takes, ``cores`` (cpu_count), ``fail_runs`` (link drops before
runs succeed), ``hold_until``: a file whose appearance lets blocks finish (at most 60 s),
and ``marker``: a file that gets a line ``<pid> open|claim|run|close <alias>``.
Started through ``fake_run.py``, which registers the kind and calls ``harness.cli.main``.
"""
from __future__ import annotations

import json
import os
import time

from fakes import FakeDevice


def _options() -> dict:
    return json.loads(os.environ.get("HARNESS_TEST_FAKE_DEVICE") or "{}")


def _mark(what: str, alias: str) -> None:
    marker = _options().get("marker")
    if marker:
        with open(marker, "a") as f:
            f.write(f"{os.getpid()} {what} {alias}\n")


class ScriptedDevice(FakeDevice):
    def cpu_count(self):
        return _options().get("cores", 4)

    def claim(self, run_id, wait_s, on_wait):
        _mark("claim", self.alias)
        time.sleep(_options().get("claim_s", 0.0))

    def run(self, spec, model, on_progress):
        _mark("run", self.alias)
        hold, deadline = _options().get("hold_until"), time.monotonic() + 60
        while hold and not os.path.exists(hold) and time.monotonic() < deadline:
            time.sleep(0.02)
        for _ in range(spec["warmup_runs"] + spec["measured_runs"]):
            time.sleep(_options().get("run_s", 0.0) / max(1, spec["warmup_runs"] + spec["measured_runs"]))
            on_progress("HARNESS_PROGRESS")
        return super().run(spec, model, on_progress)

    def close(self):
        time.sleep(_options().get("close_s", 0.0))
        _mark("close", self.alias)


def lock_key(cfg) -> str | None:
    return f"fake-{cfg.match.serial}"


def open_device(cfg):
    _mark("open", cfg.alias)
    return ScriptedDevice(alias=cfg.alias, default_threads=cfg.threads, fail_runs=_options().get("fail_runs", 0))


def attach(cfg, start_emulators):
    return open_device(cfg)
