"""The quantization variants: one registry entry each, carrying everything the pipeline asks of it.

A variant knows how it configures TFLite's converter, whether it needs a calibration
(representative) data set, whether it is the reference the others are compared with,
its display order, and what it promises about its weights: the dtype that must hold
most constant weight bytes after conversion (a variant whose census does not show it
had no effect and is refused, never emitted under its name). Adding a variant is one
entry in ``VARIANTS``.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UserError

# The runbook's converter settings, shared by every variant of the one-shot graph: Flex
# (Select TF ops) for the tokenizer and loop ops TFLite lacks, TF Text custom ops, and
# the two user TF ops it needs.
SELECT_USER_TF_OPS = ["UnsortedSegmentJoin", "UpperBound"]


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    expected_weight_dtype: str   # the dtype that must hold most weight bytes after conversion
    min_share: float             # the minimum share of weight bytes in that dtype
    is_reference: bool = False   # the variant the others are compared with (speedup, drift)
    optimize: bool = True        # converter.optimizations = [Optimize.DEFAULT]
    supported_types: tuple[str, ...] = ()   # converter.target_spec.supported_types (tf dtype names)
    integer_ops: bool = False    # builtins restricted to TFLITE_BUILTINS_INT8
    needs_calibration: bool = False         # a representative data set is required

    @property
    def quantized(self) -> bool:
        return not self.is_reference

    def configure(self, converter, export: str, representative_dataset=None) -> None:
        """Apply this variant's settings to a ``tf.lite.TFLiteConverter``.

        ``oneshot`` is the runbook's string graph (Flex + TF Text); ``prefill_decode`` is a
        numeric graph that needs builtin ops only.
        """
        import tensorflow as tf

        oneshot = export == "oneshot"
        extra_ops = []
        if oneshot:
            converter.allow_custom_ops = True
            converter.target_spec.experimental_select_user_tf_ops = list(SELECT_USER_TF_OPS)
            converter._experimental_guarantee_all_funcs_one_use = True
            extra_ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        builtins = tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if self.integer_ops else tf.lite.OpsSet.TFLITE_BUILTINS
        converter.target_spec.supported_ops = [builtins, *extra_ops]
        if self.optimize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if self.supported_types:
            converter.target_spec.supported_types = [tf.as_dtype(t) for t in self.supported_types]
        if self.needs_calibration:
            if representative_dataset is None:
                raise UserError(f"variant {self.name} needs a representative data set")
            converter.representative_dataset = representative_dataset


# In display order: the reference first.
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("fp32", "float32, no optimization (the reference)", "float32", 0.5,
            is_reference=True, optimize=False),
    # Dynamic range leaves small and gathered tensors (the position embedding) in float:
    # on synthetic:tiny int8 holds 42 % of weight bytes, on GPT-2 base over 90 %.
    Variant("dynamic", "dynamic-range quantization: int8 weights, float activations", "int8", 0.25),
    Variant("fp16", "float16 weights, widened to float32 on CPU", "float16", 0.5,
            supported_types=("float16",)),
    Variant("int8", "full integer: int8 weights and activations where the converter can, "
            "calibrated on a representative prompt set", "int8", 0.5,
            integer_ops=True, needs_calibration=True),
)}


def get(name: str) -> Variant:
    if name not in VARIANTS:
        raise UserError(f"unknown variant {name!r}; choose from " + ", ".join(VARIANTS))
    return VARIANTS[name]


def reference() -> str:
    """The name of the reference variant (fp32)."""
    return next(v.name for v in VARIANTS.values() if v.is_reference)


def rank(name: object) -> tuple[int, str]:
    """Sort key: registry order, unknown names last (alphabetically)."""
    names = list(VARIANTS)
    name = str(name)
    return (names.index(name) if name in names else len(names), name)


def parse_variants(text: str) -> list[str]:
    """``"dynamic,fp16"`` -> ``["dynamic", "fp16"]``; unknown names are a UserError."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise UserError("--variants: give at least one of " + ", ".join(VARIANTS))
    for n in names:
        get(n)
    return list(dict.fromkeys(names))
