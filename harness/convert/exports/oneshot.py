"""The runbook's one-shot graph: a scalar string prompt in, the generated text out.

Tokenizer, greedy loop and detokenizer in one TFLite model (Flex + TF Text ops); one
invoke generates the whole sequence, so only the whole generation's time is observable.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from harness.convert.exports.masking import quantizable_attention_mask

SIGNATURE_KEYS = ("serving_default",)
# Bump when this graph or its converter settings change: it invalidates cached models.
# 4: int8 calibrates on prompts that nearly fill max length (faster); 5: the int8 variant's
# export masks attention with scores int8 can calibrate (masking.py; float unchanged)
CODE_VERSION = 5
CALIBRATION_FILE = "harness_calibration.json"
# int8 calibration: each prompt is lengthened until the greedy loop has this many steps left.
CALIBRATION_LOOP_STEPS = 8


def greedy_logits_sampler():
    """Greedy sampling on raw logits: same argmax as softmax in float, and it survives
    full-integer quantization (a softmax over 50k words quantized to int8 saturates and
    makes every token id 0, FINDINGS §3b)."""
    import keras
    import keras_hub

    class GreedyLogitsSampler(keras_hub.samplers.GreedySampler):
        def compute_probabilities(self, logits):
            return keras.ops.cast(logits, "float32")

    return GreedyLogitsSampler()


def build_module(causal_lm, max_length: int):
    """The runbook's graph: scalar string prompt -> tokenizer -> greedy loop -> detokenizer.

    Outputs ``text`` (prompt and continuation), ``token_count`` and ``prompt_token_count``.
    Generation always runs to ``max_length`` (no stop token), so every variant does the
    same work and latencies compare.
    """
    import tensorflow as tf

    causal_lm.compile(sampler=greedy_logits_sampler())
    preprocessor = causal_lm.preprocessor
    tokenizer = preprocessor.tokenizer

    class OneShot(tf.Module):
        def __init__(self):
            super().__init__()
            self.preprocessor = preprocessor          # tracks the tokenizer's tables
            # Track the weights as variables: the converter freezes them (light on memory).
            self.weights_ = [v.value for v in causal_lm.variables]

        @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="prompt")])
        def serve(self, prompt):
            x = preprocessor.generate_preprocess(tf.reshape(prompt, [1]), sequence_length=max_length)
            out = causal_lm.generate_step(x, stop_token_ids=None)
            ids = tf.reshape(out["token_ids"], [1, max_length])
            mask = tf.reshape(out["padding_mask"], [1, max_length])
            text = tokenizer.detokenize(tf.ragged.boolean_mask(ids, mask))
            return {
                "text": tf.reshape(text, []),
                "token_count": tf.reduce_sum(tf.cast(mask, tf.int32)),
                "prompt_token_count": tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32)),
            }

    return OneShot()


def export(causal_lm, max_length: int, out_dir, stateful: bool = False, quantizable_mask: bool = False) -> None:
    """Save the one-shot graph as a SavedModel whose weights stay variables; with
    ``quantizable_mask``, its attention masks with scores int8 can calibrate (``masking.py``)."""
    import tensorflow as tf

    if stateful:
        raise ValueError("the one-shot graph has no stateful form")
    module = build_module(causal_lm, max_length)
    with quantizable_attention_mask() if quantizable_mask else contextlib.nullcontext():
        tf.saved_model.save(module, str(out_dir), signatures={"serving_default": module.serve.get_concrete_function()})
    from harness.model.prompts import calibration_set

    preprocessor = causal_lm.preprocessor

    def count_tokens(text: str) -> int:   # as the graph packs it: start token + text
        packed = preprocessor.generate_preprocess(tf.constant([text]), sequence_length=8 * max_length)
        return int(tf.reduce_sum(tf.cast(packed["padding_mask"], tf.int32)))

    prompts = calibration_set()
    # Each prompt followed by the others (varied text, not one sentence over and over).
    long_prompts = {p: lengthened(" ".join([p] + [q for q in prompts if q != p]),
                                  count_tokens, max_length - CALIBRATION_LOOP_STEPS)
                    for p in prompts}
    (Path(out_dir) / CALIBRATION_FILE).write_text(json.dumps({"max_length": max_length,
                                                             "long_prompts": long_prompts}))


def lengthened(text: str, count_tokens, target: int) -> str:
    """``text``'s words, repeated or cut, up to the most that stay within ``target`` tokens
    (start token included).

    The one-shot graph's greedy loop runs from the prompt's end to max length, and int8
    calibration records every op of every step: a prompt that nearly fills max length
    leaves a few loop steps while its prefill still covers every position (GPT-2 base:
    calibration on 9 short prompts ran ~90 steps each, 148 s)."""
    words = text.split()
    if not words:
        return text

    def first(k: int) -> str:
        return " ".join((words * (k // len(words) + 1))[:k])

    hi = len(words)
    while count_tokens(first(hi)) < target:
        hi *= 2
    lo = 1
    while lo < hi:                      # the most words whose tokens stay within target
        mid = (lo + hi + 1) // 2
        if count_tokens(first(mid)) <= target:
            lo = mid
        else:
            hi = mid - 1
    return first(lo)


def representative_dataset(prompts: list[str], saved_model_dir=None, float_model=None):
    """The int8 calibration generator, as ``converter.representative_dataset`` takes it
    (strings in: ``float_model`` is not needed)."""
    import numpy as np

    prompts = list(prompts)
    meta_path = Path(saved_model_dir) / CALIBRATION_FILE if saved_model_dir else None
    if meta_path is not None and meta_path.is_file():
        long_prompts = json.loads(meta_path.read_text()).get("long_prompts", {})
        prompts = [long_prompts.get(p, p) for p in prompts]

    def gen():
        for p in prompts:
            # Bytes, not str: a unicode numpy array silently feeds the wrong prompt.
            yield {"prompt": np.array(p.encode("utf-8"))}
    return gen


def check_converted(model_path, saved_model_dir) -> None:
    """Nothing beyond the variant's census check: the graph carries its tokenizer."""
