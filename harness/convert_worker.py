"""The TensorFlow side of conversion, run in a fresh process per step.

``python -m harness.convert_worker export ...`` builds the model and saves the serving
graph as a SavedModel whose weights stay variables; ``... convert ...`` turns that
SavedModel into one .tflite variant, letting the converter freeze the weights. One
process per step keeps peak memory at what that step needs (FINDINGS §3a: 2.7–3.5 GiB
on the GPT-2 base shape instead of ~15 GiB for freeze-first), and lets the parent
report each step's own peak. For the same reason a conversion is itself split: ``convert``
stops before the converter's post-processing, ``finish`` does it (and full integer runs
``calibrate`` between the two); see below.

Each command prints one JSON line on stdout as its last line: what it did, its wall
time and its peak resident memory. Errors are printed as ``{"error": "..."}``, exit 3.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _greedy_logits_sampler():
    """Greedy sampling on raw logits: same argmax as softmax in float, and it survives
    full-integer quantization (a softmax over 50k words quantized to int8 saturates and
    makes every token id 0, FINDINGS §3b)."""
    import keras
    import keras_hub

    class GreedyLogitsSampler(keras_hub.samplers.GreedySampler):
        def compute_probabilities(self, logits):
            return keras.ops.cast(logits, "float32")

    return GreedyLogitsSampler()


def build_oneshot_module(causal_lm, max_length: int):
    """The runbook's graph: scalar string prompt -> tokenizer -> greedy loop -> detokenizer.

    Outputs ``text`` (prompt and continuation), ``token_count`` and ``prompt_token_count``.
    Generation always runs to ``max_length`` (no stop token), so every variant does the
    same work and latencies compare.
    """
    import tensorflow as tf

    causal_lm.compile(sampler=_greedy_logits_sampler())
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


def cmd_export(args) -> dict:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

    from harness import models

    source = models.ModelSource(**json.loads(args.source_json))
    t0 = time.monotonic()
    causal_lm = models.load(source)
    limit = causal_lm.backbone.max_sequence_length
    if args.max_length > limit:
        raise SystemExit(_fail(f"max length {args.max_length} exceeds the model's {limit} positions"))
    if args.export == "oneshot":
        module = build_oneshot_module(causal_lm, args.max_length)
        signatures = {"serving_default": module.serve.get_concrete_function()}
        tf.saved_model.save(module, args.out, signatures=signatures)
    elif args.export == "prefill_decode":
        from harness import decode_export

        decode_export.export(causal_lm, args.max_length, args.out, stateful=args.stateful)
    else:
        raise SystemExit(_fail(f"unknown export {args.export!r}"))
    return {
        "wall_s": time.monotonic() - t0,
        "peak_rss_kb": _peak_rss_kb(),
        "parameters": int(causal_lm.count_params()),
        "vocabulary_size": int(causal_lm.backbone.vocabulary_size),
        "max_sequence_length": int(limit),
    }


def cmd_convert(args) -> dict:
    """The converter proper, stopped before its post-processing, which ``finish`` (and for
    int8 ``calibrate`` first) does in a fresh process: see the section below."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the converter needs the TF Text ops registered)

    from harness import variants

    prompts = json.loads(args.prompts_json) if args.prompts_json else None
    t0 = time.monotonic()
    signature_keys = args.signature_keys.split(",") if args.signature_keys else None
    converter = tf.lite.TFLiteConverter.from_saved_model(args.saved_model, signature_keys=signature_keys)
    variants.configure(converter, args.variant, prompts, export=args.export)
    _stop_before_post_processing(converter, args.out, args.state)
    try:
        converter.convert()
    except _ConverterStopped:
        return {"wall_s": time.monotonic() - t0, "peak_rss_kb": _peak_rss_kb()}
    raise RuntimeError("the converter finished without reaching its post-processing step")


def _write_model(flatbuffer: bytes, args) -> None:
    """Write the model atomically; a prefill/decode model must pass its weight check first."""
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(flatbuffer)
    if args.export == "prefill_decode":   # weights silently missing is a failure (FINDINGS §6)
        from harness import decode_export

        try:
            decode_export.check_converted(tmp, args.saved_model)
        except Exception:
            os.remove(tmp)
            raise
    os.replace(tmp, args.out)


# --- One conversion in two or three processes ------------------------------------------
# TF 2.18's ``converter.convert()`` runs the MLIR conversion (for dynamic range and fp16
# the quantization happens there), then ``_optimize_tflite_model``: for full integer,
# ``_quantize`` — calibration (an interpreter that records every intermediate tensor over
# the representative set) and ``mlir_quantize`` — then, for every variant, read-only
# buffer deduplication and the conversion metadata. In one process their memory stacks
# up: 5.2 GiB for int8 and 3.7 GiB for fp32 on GPT-2 base. Here ``convert`` stops where
# that post-processing begins and saves the model with the arguments the converter would
# have passed; ``calibrate`` (int8) and ``finish`` then each start fresh and do what the
# rest of ``convert()`` does (tensorflow/lite/python/lite.py, TF 2.18.1).


class _ConverterStopped(Exception):
    """Raised from the converter's post-processing once its input is on disk."""


def _stop_before_post_processing(converter, model_out: str, state_out: str) -> None:
    import base64

    import flatbuffers
    import tensorflow as tf

    def save(model: bytes, extra: dict) -> None:
        if converter._sparsify_model():
            raise RuntimeError("the staged conversion does not cover sparsity")
        builder = flatbuffers.Builder(0)
        builder.Finish(converter._metadata.Pack(builder))
        state = {
            "use_buffer_offset": bool(converter._experimental_use_buffer_offset),
            "exclude_conversion_metadata": bool(converter.exclude_conversion_metadata),
            "conversion_metadata": base64.b64encode(bytes(builder.Output())).decode(),
            "quantize": None, **extra,
        }
        with open(model_out, "wb") as f:
            f.write(model)
        with open(state_out, "w") as f:
            json.dump(state, f)
        raise _ConverterStopped()

    def optimize(model, quant_mode, debug_options, quant_io=True):
        if quant_mode.is_integer_quantization():   # full integer: stop at _quantize instead
            return original_optimize(model, quant_mode, debug_options, quant_io)
        save(model, {})

    def quantize(result, input_type, output_type, activations_type, bias_type, allow_float,
                 enable_variable_quantization, debug_options):
        if activations_type != tf.int8 or not converter.experimental_new_quantizer:
            raise RuntimeError("the staged int8 conversion covers int8 activations with the MLIR "
                               "quantizer only")
        registerers = list(converter.target_spec._experimental_custom_op_registerers)
        if not all(isinstance(r, str) for r in registerers):
            raise RuntimeError("the staged int8 conversion passes custom op registerers by name only")
        save(result, {"custom_op_registerers": registerers, "quantize": {
            "input_type": tf.as_dtype(input_type).name,
            "output_type": tf.as_dtype(output_type).name,
            "enable_variable_quantization": bool(enable_variable_quantization),
            "disable_per_channel": bool(converter._experimental_disable_per_channel),
            "disable_per_channel_for_dense_layers": bool(
                converter._experimental_disable_per_channel_quantization_for_dense_layers),
            "debug_options": base64.b64encode(debug_options.SerializeToString()).decode(),
        }})

    original_optimize = converter._optimize_tflite_model
    converter._optimize_tflite_model = optimize
    converter._quantize = quantize


def cmd_calibrate(args) -> dict:
    """Record min/max of every tensor over the representative set (``Calibrator.calibrate``)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the Flex delegate needs the TF Text kernels)
    from tensorflow.lite.python.optimize import calibrator

    from harness import variants

    t0 = time.monotonic()
    state = json.loads(open(args.state).read())
    with open(args.model, "rb") as f:
        model = calibrator.add_intermediate_tensors(f.read())
    dataset = tf.lite.RepresentativeDataset(
        variants.representative_dataset(json.loads(args.prompts_json), args.export, args.saved_model))
    calibrated = calibrator.Calibrator(model, state["custom_op_registerers"], []).calibrate(dataset.input_gen)
    del model
    with open(args.out, "wb") as f:
        f.write(calibrated)
    return {"wall_s": time.monotonic() - t0, "peak_rss_kb": _peak_rss_kb()}


def cmd_finish(args) -> dict:
    """The rest of ``convert()``: for int8 ``mlir_quantize`` of the calibrated model, then
    read-only buffer deduplication and the conversion metadata."""
    import base64

    import tensorflow as tf
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as metadata_fb
    from tensorflow.lite.python import convert as tfl_convert
    from tensorflow.lite.python import util as tfl_util
    from tensorflow.lite.python.lite import _check_model_use_buffer_offset as uses_buffer_offset
    from tensorflow.lite.tools import flatbuffer_utils

    t0 = time.monotonic()
    state = json.loads(open(args.state).read())
    with open(args.model, "rb") as f:
        model = f.read()
    q = state["quantize"]
    if q:
        model = tfl_convert.mlir_quantize(
            model, q["disable_per_channel"],
            input_data_type=tf.as_dtype(q["input_type"]),
            output_data_type=tf.as_dtype(q["output_type"]),
            enable_variable_quantization=q["enable_variable_quantization"],
            disable_per_channel_for_dense_layers=q["disable_per_channel_for_dense_layers"],
            debug_options_str=base64.b64decode(q["debug_options"]))
    if not state["use_buffer_offset"]:
        if not uses_buffer_offset(flatbuffer_utils.convert_bytearray_to_object(model)):
            model = tfl_convert.deduplicate_readonly_buffers(model)
    if not (state["exclude_conversion_metadata"] or state["use_buffer_offset"]):
        model_object = flatbuffer_utils.convert_bytearray_to_object(model)
        if not uses_buffer_offset(model_object):
            meta = metadata_fb.ConversionMetadataT.InitFromPackedBuf(
                base64.b64decode(state["conversion_metadata"]), 0)
            meta.options.modelOptimizationModes = (   # unpacked as a numpy array; the converter's is a list
                [int(m) for m in (meta.options.modelOptimizationModes or [])]
                + list(tfl_util.get_sparsity_modes(model_object)))
            meta.environment.modelHash = tfl_util.get_model_hash(model_object)
            model_object = tfl_util.populate_conversion_metadata(model_object, meta)
            model = flatbuffer_utils.convert_object_to_bytearray(model_object)
        del model_object
    _write_model(model, args)
    return {"wall_s": time.monotonic() - t0, "peak_rss_kb": _peak_rss_kb()}


def _fail(message: str) -> int:
    print(json.dumps({"error": message}))
    return 3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.convert_worker")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--source-json", required=True)
    e.add_argument("--max-length", type=int, required=True)
    e.add_argument("--export", default="oneshot")
    e.add_argument("--stateful", action="store_true")
    e.add_argument("--out", required=True)
    c = sub.add_parser("convert")
    c.add_argument("--saved-model", required=True)
    c.add_argument("--variant", required=True)
    c.add_argument("--export", default="oneshot")
    c.add_argument("--signature-keys", default="")
    c.add_argument("--prompts-json", default="")
    c.add_argument("--state", required=True, help="where to save the arguments of the later steps")
    c.add_argument("--out", required=True, help="the model as the converter has it before post-processing")
    for name in ("calibrate", "finish"):   # the later steps: a model file in, one out
        k = sub.add_parser(name)
        for flag in ("--model", "--state", "--saved-model", "--out"):
            k.add_argument(flag, required=True)
        k.add_argument("--export", default="oneshot")
        if name == "calibrate":
            k.add_argument("--prompts-json", required=True)
    args = p.parse_args(argv)
    commands = {"export": cmd_export, "convert": cmd_convert, "calibrate": cmd_calibrate,
                "finish": cmd_finish}
    try:
        result = commands[args.cmd](args)
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:  # reported to the parent as one line; the parent decides
        from harness.errors import UserError

        kind = "user" if isinstance(e, UserError) else type(e).__name__
        msg = str(e).strip().splitlines()
        print(json.dumps({"error": (msg[-1] if msg else kind)[:2000], "kind": kind}))
        return 3
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
