"""TF 2.18's ``converter.convert()`` split into steps that each run in a fresh process.

TF 2.18's ``converter.convert()`` runs the MLIR conversion (for dynamic range and fp16
the quantization happens there), then ``_optimize_tflite_model``: for full integer,
``_quantize`` — calibration (an interpreter that records every intermediate tensor over
the representative set) and ``mlir_quantize`` — then, for every variant, read-only
buffer deduplication and the conversion metadata. In one process their memory stacks
up: 5.2 GiB for int8 and 3.7 GiB for fp32 on GPT-2 base. Here ``convert`` stops where
that post-processing begins and saves the model with the arguments the converter would
have passed; ``calibrate`` (int8) and ``finish`` then each start fresh and do what the
rest of ``convert()`` does (tensorflow/lite/python/lite.py, TF 2.18.1).
"""
from __future__ import annotations

import json


class ConverterStopped(Exception):
    """Raised from the converter's post-processing once its input is on disk."""


def stop_before_post_processing(converter, model_out: str, state_out: str) -> None:
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
        raise ConverterStopped()

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


# The ops to which ``add_intermediate_tensors`` adds tensors (their operator property
# lists intermediates: tensorflow/lite/tools/optimize/operator_property.cc, TF 2.18).
OPS_WITH_INTERMEDIATES = ("LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM")


def needs_intermediate_tensors(model: bytes) -> bool:
    """Whether the model has an op to which the calibrator adds intermediate tensors."""
    from tensorflow.lite.python import schema_py_generated as fb

    wanted = {getattr(fb.BuiltinOperator, name) for name in OPS_WITH_INTERMEDIATES}
    m = fb.Model.GetRootAsModel(model, 0)
    for i in range(m.OperatorCodesLength()):
        code = m.OperatorCodes(i)
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) in wanted:
            return True
    return False


def calibrate(model: bytes, state: dict, input_gen) -> bytes:
    """Record min/max of every tensor over the representative set (``Calibrator.calibrate``).

    ``add_intermediate_tensors`` runs only for a model that has an op it adds tensors to:
    otherwise it returns the same model, unpacked and packed again (9 s for GPT-2 base's
    500 MB of float weights)."""
    from tensorflow.lite.python.optimize import calibrator

    if needs_intermediate_tensors(model):
        model = calibrator.add_intermediate_tensors(model)
    return calibrator.Calibrator(model, state["custom_op_registerers"], []).calibrate(input_gen)


def finish(model: bytes, state: dict) -> bytes:
    """The rest of ``convert()``: for int8 ``mlir_quantize`` of the calibrated model, then
    read-only buffer deduplication and the conversion metadata."""
    import base64

    import tensorflow as tf
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as metadata_fb
    from tensorflow.lite.python import convert as tfl_convert
    from tensorflow.lite.python import util as tfl_util
    from tensorflow.lite.python.lite import _check_model_use_buffer_offset as uses_buffer_offset
    from tensorflow.lite.tools import flatbuffer_utils

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
    return model
