"""The prefill/decode export: time to first token and per-token decode speed.

The one-shot string graph runs the whole greedy loop in one invoke, so time to first
token is not observable there (FINDINGS §4). This export has several signatures over
the same weights, builtin TFLite ops only (FINDINGS §6):

``prefill``
    inputs ``token_ids`` int32 [1, n] for any 1 <= n <= L (shape signature [1, -1]: the
    prompt, start token included; it computes n positions, so time to first token
    scales with the prompt; padding to [1, L] still works and computes L positions —
    positions >= ``prompt_length`` are causally masked and later overwritten) and
    ``prompt_length`` int32 scalar. Outputs ``logits`` float32 [1, vocab] (the
    next-token logits after the last prompt token) and, stateless only, ``cache``
    float32 [layers, 2, L, heads, head_dim]: the cache the caller keeps from then on
    (positions from n on are placeholders that decode's mask hides until it writes them).
``decode``
    inputs ``token_id`` int32 [1, 1] (the token at position ``index``), ``index`` int32
    scalar and, stateless only, ``cache``. Outputs ``logits`` [1, vocab] (next-token
    logits after position ``index``) and, stateless only, ``cache_rows`` float32
    [layers, 2, 1, heads, head_dim]: position ``index``'s keys and values, which the
    caller writes into its cache at ``index`` before the next call
    (``harness.devices.host.generate.next_cache``). Models before code version 10 output
    the whole updated ``cache`` instead; the runners still take them.

Stateful (``stateful=True``): the cache lives in a variable that ``prefill`` assigns
and ``decode`` updates in place (VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE with a
CALL_ONCE init subgraph), so no cache crosses the interpreter boundary per step.

The computation is keras-hub's ``GPT2CausalLM.call_with_cache``, with the 6-D cache of
keras-hub reshaped to 5-D (batch 1 dropped): keras-hub's ``cache[:, i, ...]`` is a 6-D
strided slice, which builtin TFLite cannot take.

Greedy decoding through these signatures gives the tokens of the one-shot graph's
``generate_step`` (same prompt packing, same positions, generation to max length).
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Callable

from harness import contract
from harness.convert.exports.masking import quantizable_attention_mask
from harness.errors import ConversionError

SIGNATURE_KEYS = ("prefill", "decode")
# Bump when this graph or its checks change: it invalidates cached models.
# 6: prefill takes the prompt's length (time to first token scales with it); 7: prefill
# attends over the prompt's positions only and pads the cache (no element-wise update); 8:
# decode writes the new rows into the whole cache at once (no unstack and stack per step);
# 9: prefill spreads its cache to L by one GATHER (no PAD and reshape copy); 10: decode hands
# back this position's keys and values (``cache_rows``), not the whole cache; 11: the int8
# variant's export masks attention with scores int8 can calibrate (masking.py; float unchanged)
CODE_VERSION = 11
# Exported weights must hold at least this share of the model's parameter bytes in the
# converted file (a quantized variant holds ~1/4 of fp32; a model whose weights went
# missing holds ~0, FINDINGS §6).
MIN_WEIGHT_SHARE_OF_PARAMS = 0.2
CALIBRATION_FILE = "harness_calibration.json"


# --------------------------------------------------------------------------- export

def _forward(backbone, token_ids, layer_caches, index):
    """``call_with_cache`` with one cache [2, positions, heads, head_dim] per layer; returns
    (hidden, the layers' updated caches, one [2, positions, heads, head_dim] each)."""
    tokens = backbone.token_embedding(token_ids)
    positions = backbone.position_embedding(tokens, start_index=index)
    x = backbone.embeddings_add((tokens, positions))
    new_caches = []
    for layer, layer_cache in zip(backbone.transformer_layers, layer_caches):
        x, next_cache = layer(x, self_attention_cache=layer_cache[None],
                              self_attention_cache_update_index=index)
        new_caches.append(next_cache[0])
    return backbone.layer_norm(x), new_caches


@contextlib.contextmanager
def _cache_writes(rows: list | None = None):
    """While tracing, what keras-hub's write of a layer's new keys and values into its cache
    (``ops.slice_update``) becomes.

    ``rows`` None (prefill): the write returns the new keys and values themselves. Prefill
    hands every layer a cache exactly as long as the prompt, written whole from index 0, so
    that is its result; as a graph op it would be a DYNAMIC_UPDATE_SLICE, which TFLite 2.18
    runs element by element (~1 ms per layer's keys or values at n = 99 on GPT-2 base, a
    quarter of the prefill: op profile).

    ``rows`` a list (decode): the write happens as before (the layer attends over its
    updated cache) and each update, one position's keys or values, is appended to ``rows``
    so the step can write them all into the whole cache at once (``_decode_forward``).
    """
    from keras_hub.src.layers.modeling import cached_multi_head_attention as cmha

    real = cmha.ops.slice_update

    def write(inputs, start_indices, updates):
        if rows is not None:
            rows.append(updates)
            return real(inputs, start_indices, updates)
        if any(not isinstance(i, int) or i != 0 for i in start_indices):
            return real(inputs, start_indices, updates)
        return updates

    cmha.ops.slice_update = write
    try:
        yield
    finally:
        cmha.ops.slice_update = real


def _decode_forward(backbone, token_id, cache, index):
    """One decode step from the whole cache [layers, 2, L, heads, head_dim]; returns (hidden,
    this position's keys and values, [layers, 2, 1, heads, head_dim]).

    Each layer attends over its own slice of the cache with its new row written in, as
    keras-hub does. The step hands back only the new rows, which the caller writes into its
    cache at ``index`` (stateful: one DYNAMIC_UPDATE_SLICE into the variable). Up to code
    version 9 the step handed back the whole updated cache: one more copy of the cache inside
    the graph and one out of the interpreter per step, which do not get faster with more
    threads (GPT-2 base: decode 7-13 % faster without them, docs/benchmarks.md).
    """
    import tensorflow as tf

    rows: list = []
    with _cache_writes(rows):
        hidden, _ = _forward(backbone, token_id, [cache[i] for i in range(cache.shape[0])], index)
    if len(rows) != 2 * cache.shape[0]:
        raise ConversionError(f"decode export: expected {2 * cache.shape[0]} cache writes, keras-hub made {len(rows)}")
    return hidden, tf.stack([tf.concat(rows[i:i + 2], axis=0) for i in range(0, len(rows), 2)], axis=0)


def _prefill_forward(backbone, token_ids, shape):
    """Prefill from an empty cache: the prompt's n positions attend over n keys, and the
    cache is spread to L positions; returns (hidden, cache [layers, 2, L, heads, head_dim])
    with the logits and the first n positions of the L-position computation.

    Every layer gets a cache exactly as long as the prompt (its contents are never read: the
    write replaces it whole, see ``_cache_writes``). Before (code version 6), each layer's
    cache was L positions long: an element-wise DYNAMIC_UPDATE_SLICE of n rows into L per
    key and value and attention over L keys made a 99-token prompt 1.5 x slower than the
    fixed [1, L] graph.

    Positions n..L-1 repeat position n - 1 (one GATHER with L static indices: the output's
    shape is known, so no reshape copy follows, as it did after a PAD). They are never read:
    decode's causal mask hides every position after ``index``, and decode writes position
    ``index`` before attending, so each is overwritten before it counts. (Handing back only
    the n rows for the caller to spread was tried for code version 10: 1 ms less time to
    first token for short prompts, but the host runner then held the rows and its cache at
    once, +6 MiB of peak memory; not kept.)
    """
    import tensorflow as tf

    n = tf.shape(token_ids)[1]
    empty = tf.zeros([shape[1], n, shape[3], shape[4]], "float32")
    with _cache_writes():
        hidden, caches = _forward(backbone, token_ids, [empty] * shape[0], 0)
    return hidden, tf.gather(tf.stack(caches, axis=0), tf.minimum(tf.range(shape[2]), n - 1), axis=2)


def cache_shape(backbone, max_length: int) -> list[int]:
    return [backbone.num_layers, 2, max_length, backbone.num_heads,
            backbone.hidden_dim // backbone.num_heads]


def export(causal_lm, max_length: int, out_dir, stateful: bool = False, quantizable_mask: bool = False) -> None:
    """Write a SavedModel with ``prefill`` and ``decode`` signatures to ``out_dir``.

    One prefill signature whose token input takes the prompt's length, not one per
    length: TFLite's XNNPACK delegate packs its own copy of the weights for every
    signature (subgraph) it takes, so each extra signature costs the weights' size in
    memory again (measured: 5 signatures made 5.7 copies on trained:tiny).

    keras' ExportArchive tracks the model's variables, so the converter freezes the
    weights (a plain tf.Module silently loses them, FINDINGS §6). ``quantizable_mask``: the
    attention masks with scores int8 can calibrate (``masking.py``; for the int8 variant).
    """
    import keras

    backbone = causal_lm.backbone
    L = int(max_length)
    shape = cache_shape(backbone, L)
    archive = keras.export.ExportArchive()
    archive.track(backbone)   # not causal_lm: its tokenizer tables would need TF Text ops
    prefill, decode, prefill_spec, decode_spec = _endpoints(archive, backbone, shape, stateful)
    with quantizable_attention_mask() if quantizable_mask else contextlib.nullcontext():
        archive.add_endpoint("prefill", prefill, input_signature=prefill_spec)
        archive.add_endpoint("decode", decode, input_signature=decode_spec)
        archive.write_out(str(out_dir), verbose=False)
    _write_meta(causal_lm, L, shape, stateful, out_dir)


def _endpoints(archive, backbone, shape, stateful: bool):
    """The prefill and decode functions and their input signatures (stateful: the KV cache is
    a variable tracked by ``archive``; stateless: an input and an output)."""
    import keras
    import tensorflow as tf

    dtype = "float32"

    def last_logits(hidden, position):
        h = tf.gather(hidden, tf.reshape(position, [1]), axis=1)        # [1, 1, hidden]
        logits = backbone.token_embedding(h, reverse=True)            # [1, 1, vocab]
        return tf.reshape(tf.cast(logits, tf.float32), [1, -1])

    len_spec = tf.TensorSpec([], tf.int32, name="prompt_length")
    one_spec = tf.TensorSpec([1, 1], tf.int32, name="token_id")
    idx_spec = tf.TensorSpec([], tf.int32, name="index")
    cache_spec = tf.TensorSpec(shape, tf.float32, name=contract.TENSOR_CACHE)
    tok_spec = tf.TensorSpec([1, None], tf.int32, name="token_ids")   # the prompt's own length
    if stateful:
        holder = keras.layers.Layer(name="kv_cache_holder")
        holder.cache = holder.add_weight(shape=shape, initializer="zeros", trainable=False,
                                         dtype=dtype, name="kv_cache")
        holder.built = True
        archive.track(holder)
        cache_var = holder.cache

        def prefill(token_ids, prompt_length):
            # Positions beyond the prompt are placeholders decode masks and overwrites in turn.
            hidden, cache = _prefill_forward(backbone, token_ids, shape)
            cache_var.assign(cache)
            return {"logits": last_logits(hidden, prompt_length - 1)}

        def decode(token_id, index):
            hidden, rows = _decode_forward(backbone, token_id, cache_var.value, index)
            cache_var.assign(keras.ops.slice_update(cache_var.value, [0, 0, index, 0, 0], rows))
            return {"logits": last_logits(hidden, 0)}

        return prefill, decode, [tok_spec, len_spec], [one_spec, idx_spec]

    def prefill(token_ids, prompt_length):
        hidden, cache = _prefill_forward(backbone, token_ids, shape)
        return {"logits": last_logits(hidden, prompt_length - 1), contract.TENSOR_CACHE: cache}

    def decode(token_id, index, cache):
        hidden, rows = _decode_forward(backbone, token_id, cache, index)
        return {"logits": last_logits(hidden, 0), contract.OUTPUT_CACHE_ROWS: rows}

    return prefill, decode, [tok_spec, len_spec], [one_spec, idx_spec, cache_spec]


def _write_meta(causal_lm, L: int, shape, stateful: bool, out_dir) -> None:
    """The export's metadata beside the SavedModel, with the calibration prompts' token ids
    (for int8 calibration in the convert worker, which has no tokenizer)."""
    backbone = causal_lm.backbone
    meta = {"max_length": L, "stateful": bool(stateful), "cache_shape": shape,
            "parameters": int(causal_lm.count_params()),
            "vocabulary_size": int(backbone.vocabulary_size)}
    try:
        from harness.model.prompts import calibration_set
        from harness.model.tokens import tokenize_with

        tok = causal_lm.preprocessor.tokenizer
        meta["calibration"] = {p: tokenize_with(tok, p) for p in calibration_set()}
    except Exception:  # noqa: BLE001 -- calibration falls back to byte ids
        meta["calibration"] = {}
    (Path(out_dir) / CALIBRATION_FILE).write_text(json.dumps(meta))


def check_weights_present(model_path, parameters: int | None = None) -> None:
    """Raise ConversionError when a converted prefill/decode model lacks its weights.

    The silent failure of FINDINGS §6: conversion succeeds but the file holds
    VAR_HANDLE/READ_VARIABLE ops with no values. The census then shows (almost) no
    constant weight bytes. ``parameters`` (the Keras model's count) sets the bar at
    MIN_WEIGHT_SHARE_OF_PARAMS × 4 bytes per parameter; without it, 1 KB.
    """
    from harness.convert.census import census

    cen = census(Path(model_path))
    need = MIN_WEIGHT_SHARE_OF_PARAMS * 4 * parameters if parameters else 1024
    if cen.weight_bytes < need:
        raise ConversionError(
            f"{model_path}: the converted model holds {cen.weight_bytes:,} bytes of weights, "
            f"expected at least {int(need):,} for {parameters or '?'} parameters — the weights went "
            "missing in conversion (variables not frozen; see FINDINGS §6)")
    missing = set(SIGNATURE_KEYS) - set(cen.signatures)
    if cen.signatures and missing:
        raise ConversionError(f"{model_path}: signatures {sorted(missing)} missing (has {cen.signatures})")


# decode(t, n) after prefill(n tokens) must give the logits prefill(n + 1 tokens) gives.
# Measured 1 - Pearson correlation of the two logit vectors: fp32 and dynamic 0.0, int8
# 0.025 (synthetic:tiny); broken fp16 decode 0.21 (tiny) and 0.998 (GPT-2 base shape).
MAX_SELF_INCONSISTENCY = 0.1


def _inconsistency(x, y) -> float:
    """1 - Pearson correlation of two logit vectors (0 when they agree up to scale and shift)."""
    import numpy as np

    a = np.asarray(x, np.float64) - np.mean(x)
    b = np.asarray(y, np.float64) - np.mean(y)
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return 1.0 - (float((a * b).sum()) / denom if denom else 1.0)


def self_consistency(model_path) -> dict[str, float]:
    """1 - Pearson correlation between two routes to the same next-token logits, per route.

    ``decode``: decode(t, n) after prefill(n tokens) against prefill(n + 1 tokens);
    ``prefill_padded``: prefill of n tokens against the same n tokens padded to L. A
    multi-signature conversion can break one signature silently (measured: fp16 of this
    export, TF 2.18.1 — decode's logits wrong while prefill's are right).
    """
    import numpy as np

    from harness.devices.host.generate import load_interpreter

    interpreter = load_interpreter(model_path, 1)
    prefill = interpreter.get_signature_runner("prefill")
    decode = interpreter.get_signature_runner("decode")
    vocab = int(prefill.get_output_details()["logits"]["shape"][1])
    dets = decode.get_input_details()
    L = int(dets[contract.TENSOR_CACHE]["shape"][2]) if contract.TENSOR_CACHE in dets else None
    n = 4 if L is None else max(1, min(4, L - 2))
    ids = [(vocab - 1 if i == 0 else (7 * i) % vocab) for i in range(n)]

    def pre(tokens, length):
        return prefill(token_ids=np.array([tokens], np.int32), prompt_length=np.array(length, np.int32))

    first = pre(ids, n)
    t = int(np.argmax(first["logits"][0]))
    feed = {"token_id": np.array([[t]], np.int32), "index": np.array(n, np.int32)}
    if contract.TENSOR_CACHE in dets:
        feed[contract.TENSOR_CACHE] = first[contract.TENSOR_CACHE]
    via_decode = decode(**feed)["logits"][0]
    via_prefill = pre(ids + [t], n + 1)["logits"][0]
    out = {"decode": _inconsistency(via_decode, via_prefill)}
    if L is not None and int(prefill.get_input_details()["token_ids"]["shape_signature"][1]) == -1:
        padded = pre(ids + [0] * (L - n), n)["logits"][0]
        out["prefill_padded"] = _inconsistency(pre(ids, n)["logits"][0], padded)
    return out


def check_converted(model_path, saved_model_dir) -> None:
    """The convert worker's checks on a prefill/decode conversion: weights present
    (parameters from the export) and decode (and prefill at the prompt's length)
    consistent with prefill."""
    meta_path = Path(saved_model_dir) / CALIBRATION_FILE
    parameters = json.loads(meta_path.read_text()).get("parameters") if meta_path.is_file() else None
    check_weights_present(model_path, parameters)
    for key, rel in self_consistency(model_path).items():
        if not rel <= MAX_SELF_INCONSISTENCY:
            raise ConversionError(
                f"{model_path}: {key} disagrees with prefill on the same position (1 - correlation of "
                f"the logits = {rel:.3f}, allowed {MAX_SELF_INCONSISTENCY}): the converter "
                f"produced a broken {key} signature (seen with fp16 of this export, TF 2.18.1)")


def representative_dataset(prompts: list[str], saved_model_dir=None,
                           decode_steps: int = 8, float_model=None) -> Callable:
    """Int8 calibration data for the two-signature model, as TF 2.18's calibrator takes it.

    The calibrator accepts ``(signature_key, {input name: array})`` tuples and prepares
    each signature on its first sample (tensorflow/lite/python/optimize/calibrator.py).
    Prompts are tokenized with the ids the export stored beside the SavedModel (bytes
    mod vocabulary as a fallback). Caches for ``decode`` come from running ``float_model``,
    the float TFLite model being calibrated, on TFLite's built-in kernels: decode is
    calibrated on real cache values without loading the SavedModel into TensorFlow (which
    cost ~9 s and ~1.5 GB on GPT-2 base, XLA compilation included). Prefill samples are
    padded to the longest calibration prompt, not to max length: the ranges of the
    positions computed are the same, at a fraction of the cost.
    """
    import numpy as np

    prompts = list(prompts)

    def gen():
        from tensorflow.lite.python.interpreter import Interpreter, OpResolverType

        from harness.devices.host.generate import next_cache

        if saved_model_dir is None or float_model is None:
            raise ConversionError("int8 calibration of prefill_decode needs the SavedModel directory "
                                  "and the float model")
        meta = json.loads((Path(saved_model_dir) / CALIBRATION_FILE).read_text())
        L, vocab, stateful = meta["max_length"], meta["vocabulary_size"], meta["stateful"]
        # Built-in kernels: XNNPACK would pack a second copy of the weights for each signature.
        interpreter = Interpreter(model_path=str(float_model), num_threads=os.cpu_count() or 1,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        pre, dec = interpreter.get_signature_runner("prefill"), interpreter.get_signature_runner("decode")
        all_ids = [(meta["calibration"].get(p) or [vocab - 1] + [b % vocab for b in p.encode("utf-8")])[:L - 1]
                   for p in prompts]
        # The calibrator sizes a signature's inputs once, on its first sample: every prompt
        # is padded to the longest one (not to L, which made prefill cost L positions each).
        width = max(len(ids) for ids in all_ids)
        for ids in all_ids:
            n = len(ids)
            token_ids = np.zeros([1, width], np.int32)
            token_ids[0, :n] = ids
            feed = {"token_ids": token_ids, "prompt_length": np.array(n, np.int32)}
            yield "prefill", feed
            out = pre(**feed)
            cache = out.get(contract.TENSOR_CACHE)
            for index in range(n, min(L - 1, n + decode_steps)):
                feed = {"token_id": np.array([[int(np.argmax(out["logits"][0]))]], np.int32),
                        "index": np.array(index, np.int32)}
                if not stateful:
                    # A copy: next_cache below writes into cache in place. TF 2.18's calibrator
                    # feeds each sample before asking for the next; a consumer that kept
                    # samples would otherwise see them all change.
                    feed[contract.TENSOR_CACHE] = cache.copy()
                yield "decode", feed
                out = dec(**feed)
                if not stateful:
                    cache = next_cache(cache, out, index)

    return gen
