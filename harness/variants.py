"""Variant name -> TFLite converter settings, and what each variant promises about its weights."""
from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UserError


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    # The dtype that must hold most of the constant weight bytes after conversion; a
    # variant whose census does not show it had no effect and is refused (never
    # emitted under its name).
    expected_weight_dtype: str
    min_share: float  # minimum share of weight bytes in expected_weight_dtype


VARIANTS: dict[str, Variant] = {
    "fp32": Variant("fp32", "float32, no optimization (the reference)", "float32", 0.5),
    # Dynamic range leaves small and gathered tensors (the position embedding) in float:
    # on synthetic:tiny int8 holds 42 % of weight bytes, on GPT-2 base over 90 %.
    "dynamic": Variant("dynamic", "dynamic-range quantization: int8 weights, float activations",
                       "int8", 0.25),
    "fp16": Variant("fp16", "float16 weights, widened to float32 on CPU", "float16", 0.5),
    "int8": Variant("int8", "full integer: int8 weights and activations where the converter can, "
                    "calibrated on a representative prompt set", "int8", 0.5),
}

# The runbook's converter settings, shared by every variant: Flex (Select TF ops) for the
# tokenizer and loop ops TFLite lacks, TF Text custom ops, and the two user TF ops it needs.
SELECT_USER_TF_OPS = ["UnsortedSegmentJoin", "UpperBound"]


def parse_variants(text: str) -> list[str]:
    """``"dynamic,fp16"`` -> ``["dynamic", "fp16"]``; unknown names are a UserError."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise UserError("--variants: give at least one of " + ", ".join(VARIANTS))
    for n in names:
        if n not in VARIANTS:
            raise UserError(f"unknown variant {n!r}; choose from " + ", ".join(VARIANTS))
    return list(dict.fromkeys(names))


def configure(converter, variant: str, representative_prompts: list[str] | None = None,
              export: str = "oneshot") -> None:
    """Apply a variant's settings to a ``tf.lite.TFLiteConverter`` (TensorFlow imported by caller).

    ``oneshot`` is the runbook's string graph (Flex + TF Text); ``prefill_decode`` is a
    numeric graph that needs builtin ops only, and its int8 calibration takes token ids.
    """
    import tensorflow as tf

    oneshot = export == "oneshot"
    base_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if oneshot:
        converter.allow_custom_ops = True
        converter.target_spec.experimental_select_user_tf_ops = list(SELECT_USER_TF_OPS)
        converter._experimental_guarantee_all_funcs_one_use = True
        base_ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = list(base_ops)
    if variant == "fp32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "dynamic":
        return
    if variant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
        return
    if variant == "int8":
        converter.representative_dataset = representative_dataset(
            representative_prompts, export, getattr(converter, "saved_model_dir", None))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] + base_ops[1:]
        return
    raise UserError(f"unknown variant {variant!r}")


def representative_dataset(prompts: list[str] | None, export: str, saved_model_dir=None):
    """The int8 calibration generator, as ``converter.representative_dataset`` takes it."""
    import numpy as np

    if not prompts:
        raise UserError("int8 needs a representative prompt set")
    prompts = list(prompts)
    if export != "oneshot":
        from harness import decode_export

        return decode_export.representative_dataset(prompts, saved_model_dir)

    def gen():
        for p in prompts:
            # Bytes, not str: a unicode numpy array silently feeds the wrong prompt.
            yield {"prompt": np.array(p.encode("utf-8"))}
    return gen
