"""Attention masking that full-integer quantization can calibrate.

keras hides masked attention positions by replacing their scores with a large negative
number before the softmax: -2.4e38 in its TensorFlow backend's ``dot_product_attention``
(``keras.src.backend.tensorflow.nn._apply_masks``), which MultiHeadAttention uses when its
dropout rate is 0 (the harness's synthetic and trained models), and -1e9 in the ``Softmax``
layer, which it uses otherwise (keras-hub's GPT-2 presets: dropout 0.1). In a float
model that is exact. In a full-integer (int8) model one scale covers a tensor's calibrated
range, and TFLite's int8 SELECT_V2 gives its inputs its output's scale: the scores'
range then reaches the mask value (measured on trained:tiny, -2.4e38: scale 9.3e35 on
every layer's softmax input), every real score rounds to zero, attention becomes uniform over all
positions, masked ones included, and the model is lost (top-1 agreement with fp32 17 %,
KL 0.83 nats, docs/generation-metrics.md).

While an export traces, a masked score is instead key 0's score minus ``MASK_MARGIN``
(key 0, the start token, is visible to every query of a causal LM, and its score is at
most the row's largest), and the masked probabilities are set to zero after the softmax.
The calibrated range of the masked scores is then the scores' own range plus the margin
(softmax input scales 0.17-0.29 on trained:tiny). Both are SELECT_V2, as keras' mask was (a
multiply-add form, which XNNPACK takes whole, was no faster for int8 on GPT-2 base).

Only the int8 variant's export uses it (``harness.convert.pipeline``): a float model has
no use for it, and the extra ops made GPT-2 base's float prefill of 99 tokens 4-10 %
slower (decode within noise).

In float32 it gives keras' attention bit for bit (tested): a masked term
is at most e^-30 ≈ 9.4e-14 of the row's largest, so even 1,024 of them sum to less than
half a unit in the last place of the softmax's sum (which is >= 1), and masked
probabilities are zero after the softmax, as before.
"""
from __future__ import annotations

import contextlib

MASK_MARGIN = 30.0


@contextlib.contextmanager
def quantizable_attention_mask(margin: float = MASK_MARGIN):
    """Within the block, keras' attention (both routes) masks with (key 0's score - ``margin``)
    and zeroes the masked probabilities, instead of masking with -2.4e38 or -1e9."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn
    from keras.src.layers.activations import softmax as softmax_module

    keras_attention = nn._dot_product_attention_xla
    keras_softmax_call = softmax_module.Softmax.call

    def visible(logits, mask, is_causal):
        """Where a query sees a key (bool, broadcastable to ``logits``), as keras'
        ``_apply_masks`` combines them; None without a mask."""
        if mask is None and not is_causal:
            return None
        combined = tf.ones_like(logits, dtype="bool")
        if mask is not None:
            combined = tf.logical_and(combined, mask)
        if is_causal:
            shape = tf.shape(logits)
            causal = tf.linalg.band_part(tf.ones((shape[2], shape[3]), "bool"), -1, 0)
            combined = tf.logical_and(combined, causal[None, None, :, :])
        return combined

    def attention(query, key, value, bias, mask, is_causal, scale):
        # keras' own computation (einsum, scale, bias, mask, softmax, einsum) but the mask.
        logits = tf.einsum("BTNH,BSNH->BNTS", query, key, optimize="optimal")
        logits = tf.multiply(tf.cast(logits, "float32"), tf.cast(scale, "float32"))
        if bias is not None:
            logits = tf.add(logits, tf.cast(bias, logits.dtype))
        seen = visible(logits, mask, is_causal)
        if seen is None:
            probs = tf.nn.softmax(logits, axis=-1)
        else:
            probs = masked_softmax(logits, seen, axis=-1)
        return tf.einsum("BNTS,BSNH->BTNH", tf.cast(probs, key.dtype), value, optimize="optimal")

    def masked_softmax(scores, seen, axis):
        # Key 0 (the start token) is visible to every query of a causal LM, and its score is
        # at most the row's largest. A SLICE with static sizes where the shape is known.
        sizes = [-1 if d is None else int(d) for d in scores.shape]
        sizes[axis] = 1   # axis -1
        floor = tf.slice(scores, [0] * len(sizes), sizes) - tf.cast(margin, scores.dtype)
        probs = tf.nn.softmax(tf.where(seen, scores, floor), axis=axis)
        return tf.where(seen, probs, tf.zeros_like(probs))

    def softmax_call(self, inputs, mask=None):
        # keras' Softmax layer, which MultiHeadAttention uses instead of the function above
        # when its dropout rate is above 0 (keras-hub's GPT-2 presets: 0.1).
        axes = tuple(self.axis) if isinstance(self.axis, (list, tuple)) else (self.axis,)
        if mask is None or len(axes) != 1 or axes[0] not in (-1, len(inputs.shape) - 1):
            return keras_softmax_call(self, inputs, mask=mask)   # not attention's last-axis form
        return masked_softmax(inputs, tf.cast(mask, "bool"), axis=-1)

    nn._dot_product_attention_xla = attention
    softmax_module.Softmax.call = softmax_call
    try:
        yield
    finally:
        nn._dot_product_attention_xla = keras_attention
        softmax_module.Softmax.call = keras_softmax_call
