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


def softmax_input_scales(path) -> dict[int, list[float]]:
    """{subgraph: the int8 scale of each SOFTMAX's input} of a model file."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    scales: dict[int, list[float]] = {}
    for si, sg in enumerate(model.subgraphs):
        for op in sg.operators:
            if codes[op.opcodeIndex] == schema.BuiltinOperator.SOFTMAX:
                t = sg.tensors[op.inputs[0]]
                scales.setdefault(si, []).append(float(max(t.quantization.scale)))
    return scales
