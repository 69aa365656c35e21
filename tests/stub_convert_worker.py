"""TEST ONLY: a stand-in for ``python -m harness.convert.worker`` that converts nothing.

Selected with ``HARNESS_TEST_CONVERT_WORKER=<this file>`` (harness.convert.pipeline). Each step
takes the real worker's arguments, sleeps ``HARNESS_TEST_CONVERT_STEP_S`` seconds, and writes
small files: ``finish`` writes a real (tiny) .tflite flatbuffer whose one weight tensor has the
variant's dtype and random bytes, so two builds never have the same sha256 and the census and
the quantization check run on it as on a real model. Every step appends ``pid step variant``
to ``HARNESS_TEST_CONVERT_LOG`` when set, so tests can count builds across processes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from harness.convert.census import _schema  # noqa: E402
from harness.convert.variants import VARIANTS  # noqa: E402

WEIGHT_BYTES = 4096


def _log(step: str, detail: str = "") -> None:
    path = os.environ.get("HARNESS_TEST_CONVERT_LOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{os.getpid()} {step} {detail}\n")


def _tflite(dtype: str) -> bytes:
    import flatbuffers

    fb = _schema()
    model = fb.ModelT()
    model.version = 3
    model.buffers = [fb.BufferT(), fb.BufferT()]
    model.buffers[1].data = list(os.urandom(WEIGHT_BYTES))
    tensor = fb.TensorT()
    tensor.shape, tensor.type, tensor.buffer, tensor.name = [WEIGHT_BYTES], getattr(fb.TensorType, dtype.upper()), 1, "w"
    graph = fb.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = [tensor], [], [0], []
    model.subgraphs = [graph]
    model.operatorCodes = []
    builder = flatbuffers.Builder(WEIGHT_BYTES + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _write(path: str, data: bytes) -> None:
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def step(argv: list[str]) -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("cmd")
    for flag in ("--source-json", "--max-length", "--export", "--out", "--saved-model", "--variant",
                 "--signature-keys", "--prompts-json", "--state", "--model"):
        p.add_argument(flag)
    p.add_argument("--stateful", action="store_true")
    p.add_argument("--quantizable-mask", action="store_true")
    a = p.parse_args(argv)
    time.sleep(float(os.environ.get("HARNESS_TEST_CONVERT_STEP_S") or 0))
    if a.cmd == "export":
        os.makedirs(a.out)
        _write(os.path.join(a.out, "saved_model.pb"), b"stub saved model")
        _log("export")
        return {"wall_s": 0.0, "peak_rss_kb": 1024, "parameters": 1, "vocabulary_size": 1,
                "max_sequence_length": 512}
    if a.cmd == "convert":
        _write(a.state, json.dumps({"variant": a.variant}).encode())
        _write(a.out, b"stub converted model")
        _log("convert", a.variant)
    elif a.cmd == "calibrate":
        _write(a.out, open(a.model, "rb").read())
        _log("calibrate")
    elif a.cmd == "finish":
        variant = json.load(open(a.state))["variant"]
        _write(a.out, _tflite(VARIANTS[variant].expected_weight_dtype))
        _log("finish", variant)
    return {"wall_s": 0.0, "peak_rss_kb": 1024}


def main() -> int:
    if sys.argv[1:] == ["serve"]:       # the real worker's one-process mode (small models)
        for line in sys.stdin:
            print(json.dumps({**step(json.loads(line)["argv"]), "status": 0}), flush=True)
        return 0
    print(json.dumps(step(sys.argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
