"""Quality drift on synthetic:tiny: fp32 against itself is exactly zero, dynamic is not."""
from __future__ import annotations

import math

import pytest

from helpers import TINY_MAX_LENGTH as MAX_LENGTH  # noqa: F401
from helpers import softmax_input_scales

pytestmark = pytest.mark.slow

PROMPTS = ["The weather today is", "once upon a time there was a small town by the sea", "a b c"]


def _ids(tokens):
    return [tokens.encode(p) for p in PROMPTS]


def test_fp32_against_itself_is_exactly_zero(gen_models, tiny_tokens):
    from harness.run import drift

    fp32 = gen_models[("prefill_decode", "fp32", False)].path
    d = drift.measure(fp32, fp32, MAX_LENGTH, _ids(tiny_tokens))
    assert d["reference"] == "fp32"
    assert d["mean_kl"] == 0.0
    assert d["top1_agreement"] == 1.0 and d["token_agreement"] == 1.0
    assert d["first_divergence"] is None
    assert d["prompts"] == len(PROMPTS)
    # every generated position is compared: L - prompt length per prompt
    assert d["positions"] == sum(max(0, MAX_LENGTH - len(i)) for i in _ids(tiny_tokens))


def test_dynamic_drifts_from_fp32(gen_models, tiny_tokens):
    from harness.run import drift

    fp32 = gen_models[("prefill_decode", "fp32", False)].path
    dyn = gen_models[("prefill_decode", "dynamic", False)].path
    d = drift.measure(fp32, dyn, MAX_LENGTH, _ids(tiny_tokens))
    assert d["mean_kl"] > 0.0 and math.isfinite(d["mean_kl"])
    assert 0.0 <= d["token_agreement"] <= 1.0 and 0.0 <= d["top1_agreement"] <= 1.0
    assert d["positions"] > 0
    if d["token_agreement"] < 1.0:
        assert d["first_divergence"] is not None
    else:
        assert d["first_divergence"] is None


def test_kl_matches_a_hand_computation(gen_models, tiny_tokens):
    """Recompute KL(fp32 || dynamic) at the first generated position from the raw logits."""
    import numpy as np

    from harness.run import drift
    from harness.devices.host.generate import PrefillDecodeRunner, load_interpreter

    ids = _ids(tiny_tokens)[:1]
    fp32 = gen_models[("prefill_decode", "fp32", False)].path
    dyn = gen_models[("prefill_decode", "dynamic", False)].path
    p = PrefillDecodeRunner(load_interpreter(fp32), MAX_LENGTH).run(ids[0], keep_logits=True)["logits"][0]
    q = PrefillDecodeRunner(load_interpreter(dyn), MAX_LENGTH).run(ids[0], keep_logits=True)["logits"][0]
    P = np.exp(p - p.max()) / np.exp(p - p.max()).sum()
    Q = np.exp(q - q.max()) / np.exp(q - q.max()).sum()
    want = float(np.sum(P * np.log(P / Q)))
    lp, lq = drift._log_softmax(p), drift._log_softmax(q)
    got = float(np.sum(np.exp(lp) * (lp - lq)))
    assert got == pytest.approx(want, rel=1e-6, abs=1e-12)


def test_measure_run_fills_every_matching_block(tmp_path, harness_cache, gen_models, tiny_source):
    from harness.results.schema import Block, RunDocument
    from harness.results.store import Recorder
    from harness.run import drift

    def block(variant, cw, status="ok"):
        return Block(block_id=f"host/{variant}/L{MAX_LENGTH}/cw{cw}/t1/r0", status=status, device={"alias": "host"},
                     model={"variant": variant, "max_length": MAX_LENGTH},
                     params={"context_window_words": cw}, samples=[])

    doc = RunDocument(run_id="r", status="complete", plan={"prompts": PROMPTS},
                      blocks=[block("fp32", None), block("dynamic", None), block("dynamic", 3),
                              block("dynamic", 3, "error")])
    rec = Recorder(tmp_path / "run.json", doc)
    out = drift.measure_run(rec, tiny_source, cache=harness_cache)
    assert set(out) == {("fp32", MAX_LENGTH, None), ("dynamic", MAX_LENGTH, None), ("dynamic", MAX_LENGTH, 3)}
    b = [x.to_dict() for x in rec.doc.blocks]
    assert b[0]["drift"]["mean_kl"] == 0.0 and b[0]["drift"]["token_agreement"] == 1.0
    assert b[1]["drift"]["mean_kl"] > 0.0
    assert b[2]["drift"]["prompts"] == len(PROMPTS)
    assert b[3]["drift"] is None                      # failed blocks are left alone
    assert (tmp_path / "run.json").is_file()
    for k in ("reference", "token_agreement", "first_divergence", "mean_kl", "top1_agreement",
              "prompts", "positions"):
        assert k in b[1]["drift"]


def test_int8_prefill_decode_calibrates_and_drifts(harness_cache, gen_models, tiny_source, tiny_tokens):
    """Full-integer calibration of the two-signature model ((signature_key, inputs) samples)."""
    from harness import convert
    from harness.run import drift

    (int8,) = convert.convert(tiny_source, ["int8"], MAX_LENGTH, export="prefill_decode", cache=harness_cache)
    cen = int8.report["census"]
    assert cen["op_counts"]["flex"] == 0 and cen["quantize_ops"] > 0
    assert int8.report["weight_share"].get("int8", 0) > 0.5
    assert int8.report["census"]["builtin_ops"].get("EMBEDDING_LOOKUP") == 2   # the tied embedding stored once
    # synthetic:tiny has dropout 0: keras masks in dot_product_attention (-2.4e38; int8 scale
    # 9.3e35 before harness/convert/exports/masking.py); its masked scores are in range now
    scales = softmax_input_scales(int8.path)
    assert len(scales) == 2 and max(max(v) for v in scales.values()) < 1.0, scales
    fp32 = gen_models[("prefill_decode", "fp32", False)].path
    d = drift.measure(fp32, int8.path, MAX_LENGTH, _ids(tiny_tokens))
    assert d["mean_kl"] > 0.0 and math.isfinite(d["mean_kl"]) and d["positions"] > 0
