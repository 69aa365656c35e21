"""Attention masking that full-integer quantization can calibrate.

keras' TensorFlow backend hides masked attention positions by replacing their scores
with -2.4e38 before the softmax (``keras.src.backend.tensorflow.nn._apply_masks``, which
``ops.dot_product_attention`` uses, and keras-hub's GPT-2 attention with it). In a float
model that is exact. In a full-integer (int8) model one scale covers a tensor's calibrated
range, and TFLite's int8 SELECT_V2 gives its inputs its output's scale: the scores'
range then spans -2.4e38 (measured on trained:tiny: scale 9.3e35 on every layer's
softmax input), every real score rounds to zero, attention becomes uniform over all
positions, masked ones included, and the model is lost (top-1 agreement with fp32 17 %,
KL 0.83 nats, docs/generation-metrics.md).

While an export traces, a masked score is instead key 0's score minus ``MASK_MARGIN``
(key 0, the start token, is visible to every query of a causal LM, and its score is at
most the row's largest), written as ``scores * visible + floor * (1 - visible)``, and the
probabilities are multiplied by ``visible`` after the softmax. The calibrated range of the
masked scores is then the scores' own range plus the margin (softmax input scales 0.20-0.29
on trained:tiny). Every op of it is one XNNPACK takes (keras' SELECT_V2 is not).

Only the int8 variant's export uses it (``harness.convert.pipeline``): in a float model
the extra element-wise passes over the scores made GPT-2 base's prefill of 99 tokens
4-10 % slower (decode within noise), for nothing.

In float32 the tokens stay the same: multiplying by 1 and adding 0 is exact, a masked term
is at most e^-30 ≈ 9.4e-14 of the row's largest, so even 1,024 of them sum to less than
half a unit in the last place of the softmax's sum (which is >= 1), and masked
probabilities are zero after the softmax, as before.
"""
from __future__ import annotations

import contextlib

MASK_MARGIN = 30.0


@contextlib.contextmanager
def quantizable_attention_mask(margin: float = MASK_MARGIN):
    """Within the block, keras' TensorFlow attention masks with (key 0's score - ``margin``)
    and zeroes the masked probabilities, instead of masking with -2.4e38."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn

    apply_masks, xla = nn._apply_masks, nn._dot_product_attention_xla

    def visible(logits, mask, is_causal):
        """1.0 where a query sees a key, 0.0 where masked (None: no mask)."""
        if mask is None and not is_causal:
            return None
        combined = tf.ones_like(logits, dtype="bool")
        if mask is not None:
            combined = tf.logical_and(combined, mask)
        if is_causal:
            shape = tf.shape(logits)
            causal = tf.linalg.band_part(tf.ones((shape[2], shape[3]), "bool"), -1, 0)
            combined = tf.logical_and(combined, causal[None, None, :, :])
        return tf.cast(combined, logits.dtype)

    def masked_scores(logits, mask, is_causal):
        m = visible(logits, mask, is_causal)
        if m is None:
            return logits
        # Key 0 (the start token) is visible to every query of a causal LM; its score is at
        # most the row's largest. Multiplying by 1 and adding 0 is exact in float, and every op
        # here is one XNNPACK takes (keras' SELECT_V2 is not).
        # A SLICE with static sizes where the shape is known (XNNPACK takes it; logits[..., :1]
        # becomes a STRIDED_SLICE it does not, splitting the layer's XNNPACK partition).
        sizes = [-1 if d is None else int(d) for d in logits.shape[:-1]] + [1]
        floor = tf.slice(logits, [0] * len(sizes), sizes) - tf.cast(margin, logits.dtype)
        return logits * m + floor * (1.0 - m)

    def attention(query, key, value, bias, mask, is_causal, scale):
        # keras' own computation (einsum, scale, masks, softmax, einsum), with the softmax's
        # output zeroed where masked.
        logits = tf.einsum("BTNH,BSNH->BNTS", query, key, optimize="optimal")
        logits = tf.multiply(tf.cast(logits, "float32"), tf.cast(scale, "float32"))
        if bias is not None:
            logits = tf.add(logits, tf.cast(bias, logits.dtype))
        probs = tf.nn.softmax(masked_scores(logits, mask, is_causal), axis=-1)
        m = visible(logits, mask, is_causal)
        if m is not None:
            probs = probs * m
        return tf.einsum("BNTS,BSNH->BTNH", tf.cast(probs, key.dtype), value, optimize="optimal")

    nn._apply_masks, nn._dot_product_attention_xla = masked_scores, attention
    try:
        yield
    finally:
        nn._apply_masks, nn._dot_product_attention_xla = apply_masks, xla
