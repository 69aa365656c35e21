"""The host's greedy prefill/decode loop against the vectors the Android app is tested with.

harness/data/contract/examples/prefill-decode-vectors.json pins the loop both sides run: the
host's ``PrefillDecodeRunner`` (here, over a fake interpreter that answers each call with the
vector's logits) and the app's ``GreedyDecoder`` (``PrefillDecodeTest.kt``, run by
tests/e2e/test_android_app_jvm.py). Same output ids, same decode feeds, same cache hand-over.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.devices.host.generate import PrefillDecodeRunner, next_cache

EXAMPLES = Path(__file__).resolve().parents[2] / "harness" / "data" / "contract" / "examples"
VECTORS = EXAMPLES / "prefill-decode-vectors.json"


def load_vectors() -> list[dict]:
    return json.loads(VECTORS.read_text("utf-8"))["vectors"]


class _Runner:
    """A signature runner of the fake interpreter; ``calls`` is shared by prefill and decode."""

    def __init__(self, fake: "_FakeInterpreter", key: str):
        self.fake, self.key = fake, key

    def get_input_details(self) -> dict:
        L = self.fake.vector["max_length"]
        if self.key == "prefill":
            # "prompt": the model takes the prompt's own length ([1, -1]); "padded": [1, L].
            width = -1 if self.fake.vector["prefill_input"] == "prompt" else L
            return {"token_ids": {"shape": np.array([1, L]), "shape_signature": np.array([1, width])},
                    "prompt_length": {"shape": np.array([]), "shape_signature": np.array([])}}
        details = {"token_id": {"shape": np.array([1, 1])}, "index": {"shape": np.array([])}}
        if not self.fake.vector["stateful"]:
            details["cache"] = {"shape": np.array([1, 2, L, 1, 1])}   # [layers, 2, L, heads, head_dim]
        return details

    def __call__(self, **feed) -> dict:
        return self.fake.call(self.key, feed)


class _FakeInterpreter:
    """``rows``: decode answers ``cache_rows`` (export code version 10 on), else the whole ``cache``."""

    def __init__(self, vector: dict, rows: bool = False):
        self.vector, self.rows = vector, rows
        self.calls: list[tuple[str, dict]] = []
        self.last_cache = None

    def get_signature_runner(self, key: str) -> _Runner:
        assert key in ("prefill", "decode")
        return _Runner(self, key)

    def call(self, key: str, feed: dict) -> dict:
        k = len(self.calls)
        rows = self.vector["logits"]
        assert k < len(rows), f"call #{k} ({key}) beyond the vector's {len(rows)} logits"
        self.calls.append((key, feed))
        L = self.vector["max_length"]
        if key == "decode" and not self.vector["stateful"] and not self.rows:
            # The stateless cache the previous call returned, handed over unchanged.
            assert feed["cache"] is self.last_cache, f"decode call #{k} did not get the previous call's cache"
        if key == "decode" and not self.vector["stateful"] and self.rows:
            # Prefill's cache, kept by the runner, with each earlier decode call's rows (its
            # call number) written at its index.
            assert feed["cache"] is self.last_cache
            n = int(self.calls[0][1]["prompt_length"])
            written = [int(f["index"]) for kind, f in self.calls[1:-1]]
            assert feed["cache"][0, :, :n].ravel().tolist() == [0.0] * (2 * n)
            assert [int(x) for x in feed["cache"][0, 0, written, 0, 0]] == list(range(1, k))
        if key == "decode" and self.vector["stateful"]:
            assert "cache" not in feed
        logits = np.array([[np.nan if x is None else x for x in rows[k]]], np.float32)
        out = {"logits": logits}
        if not self.vector["stateful"]:
            if self.rows and key == "decode":   # call #k's keys and values: k
                out["cache_rows"] = np.full([1, 2, 1, 1, 1], k, np.float32)
            elif self.rows:
                self.last_cache = out["cache"] = np.zeros([1, 2, L, 1, 1], np.float32)
            else:
                self.last_cache = np.array([k], np.float32)   # a distinct object per call
                out["cache"] = self.last_cache
        return out


@pytest.mark.parametrize("rows", [False, True], ids=["whole-cache", "cache-rows"])
@pytest.mark.parametrize("vector", load_vectors(), ids=lambda v: v["name"])
def test_host_runner_follows_the_vector(vector, rows):
    fake = _FakeInterpreter(vector, rows)
    runner = PrefillDecodeRunner(fake, vector["max_length"])
    assert runner.stateful == vector["stateful"]
    r = runner.run(vector["prompt_token_ids"])

    assert r["output_token_ids"] == vector["expected_output_token_ids"]
    assert r["prompt_token_count"] == vector["expected_prompt_length"]
    assert len(r["decode_ns"]) == len(vector["expected_decode_feeds"])
    # Every logits row was consumed: one prefill, then the decode calls.
    assert len(fake.calls) == len(vector["logits"])
    kind, prefill = fake.calls[0]
    assert kind == "prefill"
    L, n = vector["max_length"], vector["expected_prompt_length"]
    width = n if vector["prefill_input"] == "prompt" else L
    expected_ids = (vector["prompt_token_ids"][:L] + [0] * L)[:width]
    assert prefill["token_ids"].shape == (1, width) and prefill["token_ids"].dtype == np.int32
    assert prefill["token_ids"][0].tolist() == expected_ids
    assert int(prefill["prompt_length"]) == n
    feeds = [[int(f["token_id"][0][0]), int(f["index"])] for kind, f in fake.calls[1:]]
    assert all(kind == "decode" for kind, _ in fake.calls[1:])
    assert feeds == vector["expected_decode_feeds"]


def test_generate_reports_the_contract_fields():
    v = load_vectors()[0]
    fake = _FakeInterpreter(v)
    rec = PrefillDecodeRunner(fake, v["max_length"]).generate("ignored", {"prompt_token_ids": [v["prompt_token_ids"]]}, 0)
    assert rec["output_token_ids"] == v["expected_output_token_ids"]
    assert rec["token_count"] == len(v["expected_output_token_ids"])
    assert rec["prompt_token_count"] == v["expected_prompt_length"]
    assert len(rec["decode_ms"]) == len(v["expected_decode_feeds"])
    assert rec["wall_ms"] >= rec["prefill_ms"] + sum(rec["decode_ms"])


def test_vectors_cover_the_cases_both_sides_must_agree_on():
    names = {v["name"] for v in load_vectors()}
    assert len(names) >= 8
    vs = load_vectors()
    assert any(v["stateful"] for v in vs) and any(not v["stateful"] for v in vs)
    for kind in ("padded", "prompt"):                # both prefill inputs, stateless and stateful
        assert {v["stateful"] for v in vs if v["prefill_input"] == kind} == {True, False}
    assert any(len(v["prompt_token_ids"]) >= v["max_length"] for v in vs)      # prompt fills max length
    assert any(any(x is None for row in v["logits"] for x in row) for v in vs)    # NaN
    # A tie: some consumed row has its maximum more than once.
    def has_tie(v):
        return any(sum(1 for x in row if x == max(y for y in row if y is not None)) > 1
                   for row in v["logits"] if None not in row)
    assert any(has_tie(v) for v in vs)


@pytest.mark.parametrize("vector", json.loads((EXAMPLES / "cache-rows-vectors.json").read_text("utf-8"))["vectors"],
                         ids=lambda v: v["name"])
def test_next_cache_writes_the_rows_as_the_app_does(vector):
    """The vectors the app's CacheRows.write is tested with (CacheRowsTest.kt)."""
    shape = vector["cache_shape"]
    cache = np.array(vector["cache"], np.float32).reshape(shape)
    rows = np.array(vector["cache_rows"], np.float32).reshape(shape[:2] + [1] + shape[3:])
    out = next_cache(cache, {"logits": None, "cache_rows": rows}, vector["index"])
    assert out is cache   # in place: no cache is allocated per step
    assert out.ravel().tolist() == vector["expected"]


def test_next_cache_takes_an_older_models_whole_cache():
    whole = np.ones([1, 2, 3, 1, 1], np.float32)
    assert next_cache(np.zeros_like(whole), {"cache": whole}, 1) is whole
