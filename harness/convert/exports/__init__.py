"""The graphs a Keras GPT-2 is exported as before conversion, by name.

Each export module provides ``export(causal_lm, max_length, out_dir, stateful)`` (write a
SavedModel), ``representative_dataset(prompts, saved_model_dir, float_model)`` (int8 calibration
data; ``float_model`` is the float TFLite model being calibrated),
``check_converted(model_path, saved_model_dir)`` (refuse a broken conversion),
``SIGNATURE_KEYS`` and ``CODE_VERSION`` (part of the cache key).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from harness.errors import UserError

EXPORTS = ("oneshot", "prefill_decode")


def get(name: str) -> ModuleType:
    if name not in EXPORTS:
        raise UserError(f"unknown export {name!r}; choose from " + ", ".join(EXPORTS))
    return importlib.import_module(f"harness.convert.exports.{name}")
