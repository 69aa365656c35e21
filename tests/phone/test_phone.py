"""On a real phone: skipped unless HARNESS_PHONE names a devices.yaml alias that is attached.

    HARNESS_PHONE=pixel7 bash scripts/test.sh tests/phone

These are the checks no emulated device can make: the phone's own dumpsys/df output parses,
the benchmark app installs and answers, and a small run lands in the result file with the
phone's fingerprint and the app's runtime version.
"""
from __future__ import annotations

import os

import pytest

from harness import cli, paths

ALIAS = os.environ.get("HARNESS_PHONE")
pytestmark = pytest.mark.skipif(not ALIAS, reason="no phone: set HARNESS_PHONE=<alias from devices.yaml>")


@pytest.fixture(scope="module")
def phone():
    from harness import config
    from harness.devices.android import open_device

    cfg = config.load(paths.default_config()).get(ALIAS)
    dev = open_device(cfg)
    yield dev
    dev.close()


def test_state_probes_parse_the_phones_own_output(phone):
    st = phone.state()
    assert st["battery_level"] is not None and 0 <= st["battery_level"] <= 100
    assert st["thermal_status"] is not None and 0 <= st["thermal_status"] <= 6
    assert st["screen"] is not None and st["free_storage_bytes"] and st["free_storage_bytes"] > 0


def test_describe_is_a_phone_not_an_emulator(phone):
    d = phone.describe()
    assert d["fingerprint"] and d["model"] and d["abi"] and not d["emulated"]


def test_a_small_run_lands_with_the_phones_identity(tmp_path, harness_cache):
    rc = cli.main(["run", "--device", ALIAS, "--model", "synthetic:tiny", "--variants", "fp32",
                   "--max-length", "32", "--runs", "2", "--results-dir", str(tmp_path), "--no-report"])
    assert rc == 0
    from harness.results.runs import latest
    from harness.results.store import load, run_path

    doc = load(run_path(latest(tmp_path), tmp_path))
    (block,) = doc.blocks
    assert block.ok and not block.device["emulated"] and block.app["runtime"] == "android-tflite"
