"""Sweeps: the cross product of the plan's lists minus the impossible cells, and a small
end-to-end run on the host with the prefill/decode export and drift."""
from __future__ import annotations

import itertools
import json

import pytest



def _plan(**kw):
    from harness.run.plan import Plan

    base = dict(model="synthetic:tiny", devices=["host"], variants=["fp32"], max_lengths=[32],
                context_windows=[None], threads=[1], warmup=0, runs=1, rounds=1,
                prompts_source="builtin:en", prompts=["a"])
    base.update(kw)
    return Plan(**base)


@pytest.mark.parametrize("lists", [
    dict(variants=["fp32", "dynamic", "fp16"], max_lengths=[16, 32, 100], context_windows=[None, 10, 31, 50],
         threads=[1, 2]),
    dict(variants=["int8"], max_lengths=[2, 3], context_windows=[1, 2], threads=[4]),
    dict(variants=["fp32", "dynamic"], max_lengths=[32, 64], context_windows=[10], threads=[1]),
])
def test_cells_are_the_cross_product_minus_reported_impossible_cells(lists):
    from dataclasses import asdict

    from harness.run.plan import Cell, cells

    plan = _plan(**lists)
    keep, skipped = cells(plan)
    product = {Cell(v, L, cw, t) for v, L, cw, t in itertools.product(
        lists["variants"], lists["max_lengths"], lists["context_windows"], lists["threads"])}
    skipped_cells = [Cell(**s["cell"]) for s in skipped]
    # no duplicates, nothing lost, nothing invented
    assert len(keep) == len(set(keep)) and len(skipped_cells) == len(set(skipped_cells))
    assert set(keep) | set(skipped_cells) == product
    assert not set(keep) & set(skipped_cells)
    assert len(keep) + len(skipped) == len(product)
    # exactly the impossible ones are skipped: a window of N words needs N + 1 tokens at least
    for c in product:
        impossible = c.context_window is not None and c.context_window >= c.max_length - 1
        assert (c in skipped_cells) == impossible, c
    for s in skipped:
        assert str(s["cell"]["context_window"]) in s["reason"] and str(s["cell"]["max_length"]) in s["reason"]
        assert s["cell"] == asdict(Cell(**s["cell"]))


def test_default_context_window_is_half_the_max_length():
    """0 (the CLI's default) means the runbook's suggested start: half the max length, in words."""
    from harness.run.plan import cells

    keep, skipped = cells(_plan(max_lengths=[32, 100], context_windows=[0, 16]))
    assert sorted((c.max_length, c.context_window) for c in keep) == [(32, 16), (100, 16), (100, 50)]
    assert not skipped


@pytest.mark.slow
def test_sweep_end_to_end_with_prefill_decode_and_drift(tmp_path, harness_cache):
    from harness import cli
    from harness.results.frame import load_frame

    results = tmp_path / "results"
    # Short prompts: synthetic:tiny's byte-level tokenizer spends ~1 token per character, and
    # a prompt that fills max length 32 generates nothing (no decode speed to assert).
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The weather today is\nonce upon a time\n", encoding="utf-8")
    argv = ["run", "--prompts", str(prompts), "--device", "host", "--model", "synthetic:tiny", "--variants", "fp32,dynamic",
            "--max-length", "32,64", "--context-window", "10", "--runs", "2", "--warmup", "1",
            "--export", "prefill_decode", "--drift", "--results-dir", str(results), "--no-report"]
    assert cli.main(argv) == 0
    (path,) = results.glob("*.json")
    doc = json.loads(path.read_text())
    assert doc["status"] == "complete"
    assert len(doc["blocks"]) == 4 and all(b["status"] == "ok" for b in doc["blocks"])

    df = load_frame([str(path)], results)
    measured = df[df["phase"] == "measured"]
    for variant in ("fp32", "dynamic"):
        for L in (32, 64):
            rows = measured[(measured["variant"] == variant) & (measured["max_length"] == L)]
            assert len(rows) == 2, (variant, L)
            assert (rows["export"] == "prefill_decode").all()
            assert (rows["prefill_ms"] > 0).all()                     # time to first token
            assert (rows["decode_tokens_per_s"] > 0).all()            # decode speed
            assert (rows["prefill_ms"] + rows["decode_ms_total"] <= rows["wall_ms"]).all()
            assert rows["drift_token_agreement"].notna().all()
            assert rows["drift_mean_kl"].notna().all() and rows["drift_top1_agreement"].notna().all()
            if variant == "fp32":
                assert (rows["drift_mean_kl"] == 0.0).all() and (rows["drift_token_agreement"] == 1.0).all()
            else:
                assert (rows["drift_mean_kl"] > 0.0).all()
            assert (rows["token_count"] == L).all()
    for b in doc["blocks"]:
        for s in b["samples"]:
            assert len(s["decode_ms"]) == s["token_count"] - s["prompt_token_count"] - 1
            assert s["output_text"].startswith("<|endoftext|>")          # detokenized by the host
            assert len(s["output_token_ids"]) == s["token_count"]
        assert b["drift"]["reference"] == "fp32" and b["drift"]["prompts"] == len(doc["plan"]["prompts"])
