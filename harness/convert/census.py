"""What a .tflite file really holds: op census and constant bytes per dtype.

Reads the flatbuffer lazily (no copy of the weights), so a 500 MB model is censused
in well under a second. This is the evidence behind "really quantized": a variant
is judged by the dtypes of its constant tensors, not by its name.
"""
from __future__ import annotations

import mmap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Constant tensors of these dtypes are weights; strings and integer index tables
# (the tokenizer's vocabulary, shapes, ids) are not counted as weights.
WEIGHT_DTYPES = ("float32", "float16", "bfloat16", "float64", "int8", "uint8", "int4", "int16")
# Weight dtypes by precision, as reports show their shares (int8_share, fp16_share, fp32_share).
DTYPE_GROUPS = {"int8": ("int8", "uint8", "int4", "int16"), "fp16": ("float16", "bfloat16"),
                "fp32": ("float32",)}
# Constant tensors smaller than this many bytes are shapes and scalars, not weights.
MIN_WEIGHT_TENSOR_BYTES = 1024


@dataclass
class Census:
    """Ops and constant bytes of one model (all subgraphs)."""

    builtin_ops: dict[str, int] = field(default_factory=dict)
    flex_ops: dict[str, int] = field(default_factory=dict)      # without the "Flex" prefix
    custom_ops: dict[str, int] = field(default_factory=dict)    # TF Text and other custom ops
    constant_bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    weight_bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    float_ops_beside_int8: dict[str, int] = field(default_factory=dict)
    quantize_ops: int = 0
    dequantize_ops: int = 0
    subgraphs: int = 0
    signatures: list[str] = field(default_factory=list)
    # The converter's own note of the oldest TFLite runtime whose kernels run this model.
    min_runtime_version: str | None = None

    @property
    def weight_bytes(self) -> int:
        return sum(self.weight_bytes_by_dtype.values())

    def weight_share(self, dtype: str) -> float:
        total = self.weight_bytes
        return self.weight_bytes_by_dtype.get(dtype, 0) / total if total else 0.0

    def to_dict(self) -> dict:
        return {
            "op_counts": {
                "builtin": sum(self.builtin_ops.values()),
                "flex": sum(self.flex_ops.values()),
                "custom": sum(self.custom_ops.values()),
            },
            "builtin_ops": dict(sorted(self.builtin_ops.items())),
            "flex_ops": dict(sorted(self.flex_ops.items())),
            "custom_ops": dict(sorted(self.custom_ops.items())),
            "constant_bytes_by_dtype": dict(sorted(self.constant_bytes_by_dtype.items())),
            "weight_bytes_by_dtype": dict(sorted(self.weight_bytes_by_dtype.items())),
            "quantize_ops": self.quantize_ops,
            "dequantize_ops": self.dequantize_ops,
            "float_ops": dict(sorted(self.float_ops_beside_int8.items())),
            "subgraphs": self.subgraphs,
            "signatures": self.signatures,
            "min_runtime_version": self.min_runtime_version,
        }


def _names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _schema():
    """TFLite's flatbuffer schema module, loaded by file path so TensorFlow itself is not imported."""
    import importlib.util
    import sys

    name = "_harness_tflite_schema"
    if name not in sys.modules:
        tf_spec = importlib.util.find_spec("tensorflow")
        if tf_spec is None or not tf_spec.submodule_search_locations:
            raise RuntimeError("tensorflow is not installed")
        path = Path(list(tf_spec.submodule_search_locations)[0]) / "lite" / "python" / "schema_py_generated.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def _min_runtime_version(model) -> str | None:
    """The ``min_runtime_version`` metadata entry (a NUL-padded version string), if present."""
    for i in range(model.MetadataLength()):
        md = model.Metadata(i)
        if md.Name() == b"min_runtime_version":
            raw = model.Buffers(md.Buffer()).DataAsNumpy()
            return bytes(raw).split(b"\0", 1)[0].decode("ascii", "replace") or None
    return None


def _op_codes(model, fb) -> list[tuple[str, str]]:
    """Each operator code as (kind, name): kind is builtin, flex (name without "Flex") or custom."""
    builtin_name = _names(fb.BuiltinOperator)
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == fb.BuiltinOperator.CUSTOM:
            custom = oc.CustomCode().decode()
            codes.append(("flex", custom[4:]) if custom.startswith("Flex") else ("custom", custom))
        else:
            codes.append(("builtin", builtin_name.get(code, str(code))))
    return codes


def _count_constants(model, sg, tensor_type, seen_buffers: set[int],
                     const_bytes: Counter, weight_bytes: Counter) -> None:
    """Add the bytes of subgraph ``sg``'s constant tensors, each buffer once across subgraphs."""
    for t in range(sg.TensorsLength()):
        tensor = sg.Tensors(t)
        b = tensor.Buffer()
        if b == 0 or b in seen_buffers:
            continue
        buffer = model.Buffers(b)
        size = buffer.DataLength() or (buffer.Size() if buffer.Offset() > 1 else 0)
        if not size:
            continue
        seen_buffers.add(b)
        dtype = tensor_type.get(tensor.Type(), str(tensor.Type()))
        const_bytes[dtype] += size
        if dtype in WEIGHT_DTYPES and size >= MIN_WEIGHT_TENSOR_BYTES:
            weight_bytes[dtype] += size


def _count_ops(sg, codes, tensor_type, counts: dict[str, Counter], float_ops: Counter) -> None:
    """Count subgraph ``sg``'s operators by kind and name, and those that run in float."""
    for o in range(sg.OperatorsLength()):
        op = sg.Operators(o)
        kind, name = codes[op.OpcodeIndex()]
        counts[kind][name] += 1
        if kind == "builtin" and name in ("QUANTIZE", "DEQUANTIZE"):
            continue
        # An op whose first output is float32 runs in float.
        if op.OutputsLength() and op.Outputs(0) >= 0:
            out_t = sg.Tensors(op.Outputs(0))
            if tensor_type.get(out_t.Type()) == "float32":
                float_ops[f"{kind}:{name}"] += 1


def census(path: Path) -> Census:
    """Census the model at ``path``."""
    fb = _schema()
    tensor_type = {k: v.lower() for k, v in _names(fb.TensorType).items()}
    out = Census()
    counts = {"builtin": Counter(), "flex": Counter(), "custom": Counter()}
    float_ops: Counter = Counter()
    seen_buffers: set[int] = set()
    const_bytes: Counter = Counter()
    weight_bytes: Counter = Counter()
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        model = fb.Model.GetRootAs(buf, 0)
        codes = _op_codes(model, fb)
        out.subgraphs = model.SubgraphsLength()
        for s in range(out.subgraphs):
            sg = model.Subgraphs(s)
            _count_constants(model, sg, tensor_type, seen_buffers, const_bytes, weight_bytes)
            _count_ops(sg, codes, tensor_type, counts, float_ops)
        for i in range(model.SignatureDefsLength()):
            out.signatures.append(model.SignatureDefs(i).SignatureKey().decode())
        out.min_runtime_version = _min_runtime_version(model)
    out.builtin_ops = dict(counts["builtin"])
    out.flex_ops = dict(counts["flex"])
    out.custom_ops = dict(counts["custom"])
    out.quantize_ops = counts["builtin"].get("QUANTIZE", 0)
    out.dequantize_ops = counts["builtin"].get("DEQUANTIZE", 0)
    out.constant_bytes_by_dtype = dict(const_bytes)
    out.weight_bytes_by_dtype = dict(weight_bytes)
    out.float_ops_beside_int8 = dict(float_ops)
    return out
