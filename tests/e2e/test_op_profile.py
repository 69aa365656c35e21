"""The per-op profile from TFLite's own profiler events (harness/devices/host/op_profile.py).

Real interpreter, real model (synthetic:tiny's prefill/decode export): the ops it reports
are the model's, their time fits inside the measured call, and the run-level path stores
it in the block and `harness report --top-ops` shows it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import TINY_MAX_LENGTH as MAX_LENGTH  # noqa: F401

pytestmark = pytest.mark.slow


def test_profile_names_the_models_ops_and_fits_in_the_call(gen_models, tiny_tokens):
    from harness.convert.census import census
    from harness.devices.host.op_profile import profile_prefill_decode

    c = gen_models[("prefill_decode", "dynamic", False)]
    ids = [tiny_tokens.encode("The weather today is")]
    prof = profile_prefill_decode(c.path, MAX_LENGTH, 1, ids)
    builtin = set(census(c.path).builtin_ops)
    for phase in ("prefill", "decode"):
        rows = prof[phase]
        assert rows and all(r["ms"] >= 0 and r["count"] >= 0 for r in rows), phase
        own = {r["op"] for r in rows if not r["op"].startswith("xnnpack: ")}
        assert own and own <= builtin, (phase, own - builtin)       # TFLite kernels of this model only
        assert any(r["op"].startswith("xnnpack: Fully Connected") for r in rows), phase  # what XNNPACK took
        assert 0 < prof[phase + "_ops_ms"] <= prof[phase + "_wall_ms"] * 1.05, prof
    assert prof["decode_calls"] == MAX_LENGTH - len(ids[0]) - 1 and prof["prefill_calls"] == 1


def test_cpu_builtin_runs_tflites_own_kernels_without_xnnpack(gen_models, tiny_tokens):
    """The delegate `harness run --delegate cpu-builtin` asks for: what ran is TFLite's
    FULLY_CONNECTED and none of XNNPACK's operators (the test above: XNNPACK's with cpu),
    and greedy generation gives the tokens it gives with XNNPACK."""
    from harness.devices.host.generate import PrefillDecodeRunner, load_interpreter
    from harness.devices.host.op_profile import profile_prefill_decode

    c = gen_models[("prefill_decode", "dynamic", False)]
    ids = tiny_tokens.encode("The weather today is")
    prof = profile_prefill_decode(c.path, MAX_LENGTH, 1, [ids], delegate="cpu-builtin")
    assert prof["delegate"] == "cpu-builtin"
    for phase in ("prefill", "decode"):
        ops = {r["op"] for r in prof[phase]}
        assert "FULLY_CONNECTED" in ops and not any(op.startswith("xnnpack: ") for op in ops), (phase, ops)
    tokens = {d: PrefillDecodeRunner(load_interpreter(c.path, 1, d), MAX_LENGTH).run(ids)["output_token_ids"]
              for d in ("cpu", "cpu-builtin")}
    assert tokens["cpu"] == tokens["cpu-builtin"]


def test_op_profile_is_stored_per_host_block_and_shown_by_report(tmp_path, harness_cache, gen_models,
                                                                  tiny_source):
    import json

    import jsonschema

    from harness.analysis import ops
    from harness.results.schema import Block, RunDocument
    from harness.results.store import Recorder
    from harness.run import opprofile

    c = gen_models[("prefill_decode", "fp32", False)]

    def block(alias, kind):
        return Block(block_id=f"{alias}/fp32/L{MAX_LENGTH}", status="ok", device={"alias": alias, "kind": kind},
                     model=c.record(), params={"context_window_words": None, "threads_used": 1}, samples=[])

    doc = RunDocument(run_id="r", status="complete", plan={"prompts": ["The weather today is"]},
                      blocks=[block("host", "host"), block("pixel", "android")])
    rec = Recorder(tmp_path / "run.json", doc)
    out = opprofile.measure_run(rec, tiny_source, cache=harness_cache)
    assert set(out) == {f"host/fp32/L{MAX_LENGTH}"}                    # phones are left alone
    raw = json.loads((tmp_path / "run.json").read_text())
    schema = json.loads((Path(opprofile.__file__).parents[1] / "data" / "results.schema.json").read_text())
    for b in raw["blocks"]:       # the stored field is what the results schema describes
        jsonschema.validate(b.get("op_profile"), {"$defs": schema["$defs"], "$ref": "#/$defs/op_profile"})
    saved = RunDocument.from_dict(raw)
    host, phone = saved.blocks
    assert host.op_profile["decode"] and phone.op_profile is None
    (entry_decode, entry_prefill) = sorted(ops.top_ops([saved], n=3), key=lambda e: e["phase"])
    assert entry_decode["phase"] == "decode" and len(entry_decode["ops"]) == 3
    text = ops.render(ops.top_ops([saved], n=3))
    assert "decode" in text and entry_decode["ops"][0]["op"] in text
