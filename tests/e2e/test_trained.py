"""trained:tiny — a small GPT-2 trained here (harness/model/trained.py) — makes quality measurable.

Random weights make greedy text degenerate into near-ties, so these checks mean nothing
on synthetic models. On trained weights:

- dynamic range keeps fp32's next token (top-1 agreement above a floor), and a ruined
  quantization (1-bit weights: every int8 weight replaced by ±127) falls below the floor,
  so the floor can fail;
- full integer (int8) keeps most of it: its own, lower floor, which int8 with keras' attention
  masks fell far below (harness/convert/exports/masking.py): -2.4e38 with dropout 0 (every
  softmax input's int8 scale 9.3e35, top-1 0.17-0.24), -1e9 in keras' Softmax layer with
  dropout 0.1 as in keras-hub's presets (scale 3.9e6, top-1 0.24); int8 here is of the
  latter;
- an early <|endoftext|> is counted right: generation goes on to max length (the same work
  for every variant, like llama.cpp's --ignore-eos), every generated token is counted, and
  the sample is not "stopped early";
- the text is readable: its words are English words of the training text, which the
  same check refuses for the random-weight model of the same tokenizer.
"""
from __future__ import annotations

import re

import pytest

from helpers import TINY_MAX_LENGTH as MAX_LENGTH  # noqa: F401
from helpers import softmax_input_scales

pytestmark = pytest.mark.slow

PROMPTS = ["The if statement", "A class definition", "Lists are", "The import statement",
           "The weather today is", "Objects are"]
# dynamic's teacher-forced top-1 agreement with fp32 must reach this (measured: 1.0);
# 1-bit weights measured well below it (see test_a_ruined_quantization_falls_below_the_floor).
TOP1_FLOOR = 0.9
# int8 (full integer) measured 0.82 top-1, KL 0.15; with keras' mask 0.17-0.24, KL 0.83-0.91.
INT8_TOP1_FLOOR = 0.7
INT8_MAX_KL = 0.3
READABLE_SHARE = 0.8     # share of generated words found in the training text


@pytest.fixture(scope="module")
def trained_source():
    from harness.model import sources

    return sources.resolve("trained:tiny")


@pytest.fixture(scope="module")
def trained_models(harness_cache, trained_source, tmp_path_factory):
    """fp32 and dynamic of trained:tiny; int8 of the same weights saved as a keras-hub preset
    with dropout 0.1, as keras-hub's GPT-2 presets have. keras' attention then masks in its
    Softmax layer (-1e9), the route the real presets take; synthetic:tiny's int8 (dropout 0,
    tests/e2e/test_drift.py) covers the other one (dot_product_attention, -2.4e38)."""
    from harness.convert import convert
    from harness.model import sources

    models = {c.variant: c for c in convert(trained_source, ["fp32", "dynamic"], MAX_LENGTH,
                                            export="prefill_decode", cache=harness_cache)}
    preset = tmp_path_factory.mktemp("trained-dropout")
    sources.load(trained_source).save_to_preset(str(preset))
    for name in ("config.json", "task.json"):   # from_preset reads the task's copy of the config
        text = (preset / name).read_text()
        assert '"dropout": 0.0' in text
        (preset / name).write_text(text.replace('"dropout": 0.0', '"dropout": 0.1'))
    (models["int8"],) = convert(sources.resolve(str(preset)), ["int8"], MAX_LENGTH,
                                export="prefill_decode", cache=harness_cache)
    return models


@pytest.fixture(scope="module")
def trained_tokens(trained_source):
    from harness.model.tokens import PromptTokenIds

    return PromptTokenIds(trained_source)


def _ids(tokens):
    return [tokens.encode(p) for p in PROMPTS]


def _runner(path):
    from harness.devices.host.generate import PrefillDecodeRunner, load_interpreter

    return PrefillDecodeRunner(load_interpreter(path, 1), MAX_LENGTH)


def test_trained_source_is_not_synthetic(trained_source, trained_models):
    from harness.model import trained

    assert trained_source.kind == "trained" and not trained_source.synthetic
    assert trained_source.identity == trained.identity() != "trained:missing"
    assert trained_models["fp32"].report["synthetic"] is False
    record = trained.committed_record()
    assert record["weights_sha256"] == trained.file_sha256(trained.WEIGHTS)
    assert record["corpus_sha256"] == trained.corpus_sha256()   # the text it was trained on is here


def test_dynamic_keeps_fp32s_next_token(trained_models, trained_tokens):
    from harness.run import drift

    d = drift.measure(trained_models["fp32"].path, trained_models["dynamic"].path, MAX_LENGTH,
                      _ids(trained_tokens))
    assert d["top1_agreement"] >= TOP1_FLOOR, d
    assert d["mean_kl"] < 0.01, d


def _ruined(path, out):
    """The dynamic model with every int8 weight replaced by ±127: a 1-bit 'quantization'."""
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    for sg in model.subgraphs:
        for t in sg.tensors:
            data = model.buffers[t.buffer].data
            if t.type == schema.TensorType.INT8 and data is not None and len(t.shape) >= 2:
                w = np.frombuffer(bytes(data), np.int8)
                model.buffers[t.buffer].data = np.where(w >= 0, 127, -127).astype(np.int8).view(np.uint8)
    flatbuffer_utils.write_model(model, str(out))
    return out


def test_a_ruined_quantization_falls_below_the_floor(trained_models, trained_tokens, tmp_path):
    from harness.run import drift

    ruined = _ruined(trained_models["dynamic"].path, tmp_path / "ruined.tflite")
    d = drift.measure(trained_models["fp32"].path, ruined, MAX_LENGTH, _ids(trained_tokens))
    assert d["top1_agreement"] < TOP1_FLOOR, d


def test_int8_keeps_most_of_fp32s_next_token(trained_models, trained_tokens):
    from harness.run import drift

    assert trained_models["int8"].report["attention_mask"] == "key0-minus-margin"
    assert trained_models["dynamic"].report["attention_mask"] == "keras"
    d = drift.measure(trained_models["fp32"].path, trained_models["int8"].path, MAX_LENGTH,
                      _ids(trained_tokens))
    assert d["top1_agreement"] >= INT8_TOP1_FLOOR, d
    assert d["mean_kl"] < INT8_MAX_KL, d


def test_int8_attention_scores_keep_a_usable_scale(trained_models):
    """The cause behind the int8 floor, checked directly: in every signature, every SOFTMAX's
    int8 input has a scale of the scores' own order (measured 0.17-0.19), not one that spans
    the -1e9 mask of keras' Softmax layer (3.9e6)."""
    scales = softmax_input_scales(trained_models["int8"].path)
    assert len(scales) == 2, scales    # prefill and decode
    assert max(max(v) for v in scales.values()) < 1.0, scales


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _readable_share(texts: list[str]) -> float:
    from harness.model import trained

    known = set(_words(" ".join(trained.corpus_documents())))
    words = [w for t in texts for w in _words(t)]
    return sum(w in known for w in words) / max(1, len(words))


def test_generated_text_is_readable(trained_models, trained_tokens, gen_models, tiny_tokens):
    def continuations(path, tokens):
        r = _runner(path)
        out = []
        for ids in _ids(tokens):
            gen = r.run(ids)["output_token_ids"][len(ids):]
            out.append(tokens.detokenize(gen))
        return out

    trained_text = continuations(trained_models["fp32"].path, trained_tokens)
    assert _readable_share(trained_text) >= READABLE_SHARE, trained_text
    random_text = continuations(gen_models[("prefill_decode", "fp32", False)].path, tiny_tokens)
    assert _readable_share(random_text) < READABLE_SHARE, random_text   # the check can fail


def test_an_early_end_of_text_is_counted_right(trained_models, trained_tokens):
    """The model ends "Lists are ..." with <|endoftext|> long before max length; generation
    goes on (same work for every variant), and every generated token counts."""
    from harness.run import drift
    from harness.run.spec import to_samples

    ids = trained_tokens.encode("Lists are")
    n = len(ids)
    rec = _runner(trained_models["fp32"].path).generate("Lists are", {"prompt_token_ids": [ids]}, 0)
    generated = rec["output_token_ids"][n:]
    eos = trained_tokens.tokenizer.end_token_id
    assert eos in generated[:MAX_LENGTH // 2], trained_tokens.detokenize(rec["output_token_ids"])
    assert rec["token_count"] == MAX_LENGTH and len(generated) == MAX_LENGTH - n
    assert len(rec["decode_ms"]) == MAX_LENGTH - n - 1
    (sample,) = to_samples([rec], MAX_LENGTH, trained_tokens.detokenize)
    assert sample["tokens_generated"] == MAX_LENGTH - n and sample["stopped_early"] is False
    assert "<|endoftext|>" in sample["output_text"]
    d = drift.measure(trained_models["fp32"].path, trained_models["dynamic"].path, MAX_LENGTH, [ids])
    assert d["generated_positions"] == MAX_LENGTH - n     # positions after the end count too


def test_broken_fp16_decode_signature_is_refused(harness_cache, trained_source):
    """TF 2.18.1's fp16 conversion of the two-signature model yields a decode signature
    whose logits are wrong (1 - correlation with prefill's 1.6 on these weights; it was
    0.21 on synthetic:tiny before prefill took the prompt's length, and synthetic:tiny's
    fp16 now passes: the bug depends on the weights). The worker's self-consistency check
    must refuse it rather than let a wrong model be timed. If a TensorFlow upgrade fixes
    the converter, this test fails: then fp16 becomes available for prefill_decode."""
    from harness import convert
    from harness.errors import ConversionError

    with pytest.raises(ConversionError, match="decode disagrees with prefill"):
        convert.convert(trained_source, ["fp16"], MAX_LENGTH, export="prefill_decode", cache=harness_cache)
