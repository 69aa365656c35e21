"""Constants and small helpers the test tiers share (fixtures live in conftest.py)."""
from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
GOLDEN = TESTS / "unit" / "golden"
TINY_MAX_LENGTH = 32
ALL_VARIANTS = ["fp32", "dynamic", "fp16", "int8"]
HARNESS = [sys.executable, "-m", "harness.cli"]
FAKE_RUNNER = [sys.executable, str(TESTS / "emulated" / "fake_hostrun.py")]


def load_result(path) -> dict:
    """A result file as written, after the harness's own load checks (migration, schema)."""
    from harness.results.store import load

    load(path)
    import json

    return json.loads(Path(path).read_text(encoding="utf-8"))
