"""Store a tied token embedding once in a quantized model.

GPT-2 uses one [vocab, hidden] matrix twice: as the input embedding (a row lookup) and,
transposed, as the output projection. In float the converter keeps one buffer for both.
Quantized, it makes two: the projection becomes a FULLY_CONNECTED whose int8 weights
have one scale per vocabulary row, and the lookup a GATHER on a second int8 copy with a
single scale (dynamic range: 2 × 38.6 MB on GPT-2 base, a quarter of the file).

``tie_embeddings`` rewrites each such GATHER into TFLite's ``EMBEDDING_LOOKUP`` on the
projection's own tensor: its hybrid kernel takes int8 rows with per-row scales and
returns float32 (``tensorflow/lite/kernels/embedding_lookup.cc``), so the lookup reads
the same bytes the projection does, dequantized with the finer per-row scales. The ids
are flattened (EMBEDDING_LOOKUP takes 1-D ids) and the rows reshaped back; where the
gathered rows fed int8 ops (full integer) a QUANTIZE to the old output's scale follows.
The second copy's buffer is emptied. Float models (one buffer already) are untouched.
"""
from __future__ import annotations

# Two int8 tables hold the same matrix when their dequantized values agree this well
# (1 - Pearson correlation; independent quantizations of one matrix give ~1e-4, unrelated
# matrices ~1).
MAX_TABLE_MISMATCH = 0.01


def _op_index(model, name: str) -> int:
    """The index of builtin operator ``name`` in the model's operator codes (added if missing)."""
    from tensorflow.lite.python import schema_py_generated as schema

    code = getattr(schema.BuiltinOperator, name)
    for i, oc in enumerate(model.operatorCodes):
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code:
            return i
    oc = schema.OperatorCodeT()
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)
    oc.version = 1
    model.operatorCodes.append(oc)
    return len(model.operatorCodes) - 1


def _builtin(model, op) -> int:
    oc = model.operatorCodes[op.opcodeIndex]
    return max(oc.builtinCode, oc.deprecatedBuiltinCode)


def _dequantized(model, tensor):
    import numpy as np

    data = np.frombuffer(bytes(model.buffers[tensor.buffer].data), np.int8).astype(np.float32)
    data = data.reshape([int(d) for d in tensor.shape])
    scale = np.asarray(tensor.quantization.scale, np.float32)
    zero = np.asarray(tensor.quantization.zeroPoint, np.float32)
    if scale.size > 1:
        return (data - zero.reshape(-1, 1)) * scale.reshape(-1, 1)
    return (data - zero) * scale


def _mismatch(a, b) -> float:
    import numpy as np

    a = a.ravel().astype(np.float64) - a.mean()
    b = b.ravel().astype(np.float64) - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return 1.0 - (float((a * b).sum()) / denom if denom else 0.0)


def _new_tensor(model, sg, name: str, shape: list[int], ttype: int, data: bytes | None = None) -> int:
    """Append a tensor (``-1`` in ``shape`` marks a dynamic dimension; stored as 1 in ``shape``)."""
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as schema

    t = schema.TensorT()
    t.name = name.encode()
    t.shape = np.array([1 if d < 0 else d for d in shape], np.int32)
    if any(d < 0 for d in shape):
        t.shapeSignature = np.array(shape, np.int32)
    t.type = ttype
    t.buffer = 0
    if data is not None:
        buf = schema.BufferT()
        buf.data = np.frombuffer(data, np.uint8)
        model.buffers.append(buf)
        t.buffer = len(model.buffers) - 1
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _signature_shape(tensor) -> list[int]:
    sig = tensor.shapeSignature
    return [int(d) for d in (sig if sig is not None and len(sig) else tensor.shape)]


def _new_op(model, name: str, inputs: list[int], outputs: list[int], options=None, options_type: int = 0):
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as schema

    op = schema.OperatorT()
    op.opcodeIndex = _op_index(model, name)
    op.inputs = np.array(inputs, np.int32)
    op.outputs = np.array(outputs, np.int32)
    op.builtinOptions = options
    op.builtinOptionsType = options_type
    return op


def _projection_tables(model, sg) -> dict:
    """{(vocab, hidden): tensor index} of the int8 per-row FULLY_CONNECTED weights in a subgraph."""
    from tensorflow.lite.python import schema_py_generated as schema

    out = {}
    for op in sg.operators:
        if _builtin(model, op) != schema.BuiltinOperator.FULLY_CONNECTED or len(op.inputs) < 2:
            continue
        w = sg.tensors[op.inputs[1]]
        q = w.quantization
        if (w.type == schema.TensorType.INT8 and len(w.shape) == 2 and q is not None and q.scale is not None
                and len(q.scale) == int(w.shape[0]) > 1 and q.quantizedDimension == 0
                and model.buffers[w.buffer].data is not None):
            out[(int(w.shape[0]), int(w.shape[1]))] = int(op.inputs[1])
    return out


def _rewrite(model, sg, si: int, gi: int, table: int) -> list:
    """The ops that replace GATHER ``gi`` (and a DEQUANTIZE of its output) with EMBEDDING_LOOKUP."""
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as schema

    gather = sg.operators[gi]
    ids, out = int(gather.inputs[1]), int(gather.outputs[0])
    out_t = sg.tensors[out]
    hidden = int(sg.tensors[table].shape[1])
    consumers = [i for i, op in enumerate(sg.operators) if out in list(op.inputs)]
    dequantizes = [i for i in consumers if _builtin(model, sg.operators[i]) == schema.BuiltinOperator.DEQUANTIZE]
    tag = f"tied_embedding_{si}_{gi}"
    # Ids may have a dynamic length (prefill takes the prompt's length): reshape with -1.
    out_shape = _signature_shape(out_t)
    if sum(d < 0 for d in out_shape) > 1:
        return []
    flat = _new_tensor(model, sg, tag + "/ids", [-1], schema.TensorType.INT32)
    flat_shape = _new_tensor(model, sg, tag + "/ids_shape", [1], schema.TensorType.INT32,
                             np.array([-1], np.int32).tobytes())
    rows = _new_tensor(model, sg, tag + "/rows", [-1, hidden], schema.TensorType.FLOAT32)
    back_shape = _new_tensor(model, sg, tag + "/rows_shape", [len(out_shape)], schema.TensorType.INT32,
                             np.array(out_shape, np.int32).tobytes())
    if len(dequantizes) == len(consumers) == 1:   # dynamic range: the float rows are what is wanted
        target, drop = int(sg.operators[dequantizes[0]].outputs[0]), [gi, dequantizes[0]]
        ops = []
    else:   # int8 consumers: quantize the float rows to the old output's scale
        target = _new_tensor(model, sg, tag + "/rows_float", out_shape, schema.TensorType.FLOAT32)
        drop = [gi]
        ops = [_new_op(model, "QUANTIZE", [target], [out])]
    ops = [_new_op(model, "RESHAPE", [ids, flat_shape], [flat]),
           _new_op(model, "EMBEDDING_LOOKUP", [flat, table], [rows]),
           _new_op(model, "RESHAPE", [rows, back_shape], [target])] + ops
    return [(gi, ops, drop)]


def tie_embeddings(model_bytes: bytes) -> tuple[bytes, int]:
    """Rewrite every GATHER on a second copy of a FULLY_CONNECTED's int8 table; returns
    (model, number of lookups rewritten). A model with nothing to tie comes back as it was."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    if not _has_int8_tensors(model_bytes):   # float models: nothing to tie, skip the object copy
        return model_bytes, 0
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    rewritten, emptied = 0, set()
    for si, sg in enumerate(model.subgraphs):
        tables = _projection_tables(model, sg)
        plans = []
        for gi, op in enumerate(sg.operators):
            if _builtin(model, op) != schema.BuiltinOperator.GATHER or not tables:
                continue
            opts = op.builtinOptions
            params = sg.tensors[op.inputs[0]]
            key = tuple(int(d) for d in params.shape)
            if (getattr(opts, "axis", 0) != 0 or getattr(opts, "batchDims", 0) != 0 or key not in tables
                    or params.type != schema.TensorType.INT8 or model.buffers[params.buffer].data is None
                    or sum(int(op.inputs[0]) in list(o.inputs) for o in sg.operators) != 1):
                continue
            table = tables[key]
            if sg.tensors[table].buffer == params.buffer:
                continue
            if _mismatch(_dequantized(model, params), _dequantized(model, sg.tensors[table])) > MAX_TABLE_MISMATCH:
                continue
            plan = _rewrite(model, sg, si, gi, table)
            if plan:
                plans += plan
                emptied.add(params.buffer)
                params.buffer = 0
        if plans:
            _apply(sg, plans)
            rewritten += len(plans)
    if not rewritten:
        return model_bytes, 0
    still_used = {t.buffer for sg in model.subgraphs for t in sg.tensors}
    for b in emptied - still_used:
        model.buffers[b].data = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), rewritten


def _has_int8_tensors(model_bytes: bytes) -> bool:
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.Model.GetRootAs(model_bytes, 0)
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        if any(sg.Tensors(t).Type() == schema.TensorType.INT8 for t in range(sg.TensorsLength())):
            return True
    return False


def _apply(sg, plans) -> None:
    """Replace each planned GATHER by its new ops (in place, order kept) and drop the old ops."""
    replace = {gi: ops for gi, ops, _ in plans}
    drop = {i for _, _, d in plans for i in d}
    new_ops = []
    for i, op in enumerate(sg.operators):
        if i in replace:
            new_ops += replace[i]
        elif i not in drop:
            new_ops.append(op)
    sg.operators = new_ops
