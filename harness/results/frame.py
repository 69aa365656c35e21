"""Result files -> one tidy pandas DataFrame, one row per sample.

Every row carries the identity of what was measured (device, model, variant,
parameters, versions) beside the sample's own values and its block's values
(load time, size, memory, weight census, drift), so any summary is a
``groupby`` away. A block without samples (typically a failed one) still gets
one row with ``phase`` = None so that its error is never lost.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from harness import paths
from harness.convert.census import DTYPE_GROUPS
from harness.errors import UserError
from harness.results.schema import RunDocument
from harness.results.store import BASELINES_SUBDIR, find_run_files, load

IDENTITY_COLUMNS = [
    "run_id", "source_file", "timestamp", "block_id", "block_status", "block_error",
    "device_alias", "device_fingerprint", "device_model", "device_soc", "emulated",
    "model_source", "model_sha256", "synthetic", "variant", "export", "max_length",
    "context_window_words", "threads", "delegate", "prompts_sha256", "delegate_used", "app_version", "harness_version",
    "harness_commit",
]
SAMPLE_COLUMNS = [
    "phase", "index", "prompt_index", "wall_ms", "tokens_generated", "token_count",
    "prompt_token_count", "stopped_early", "thermal_status_before", "thermal_status_after",
    "thermal_headroom_before", "thermal_headroom_after",
    "thermal_headroom_before_age_ms", "thermal_headroom_after_age_ms",
    "interactive_before", "interactive_after",
    "prefill_ms", "decode_ms_total", "decode_tokens_per_s",
]
BLOCK_COLUMNS = [
    "load_ms", "size_bytes", "vmhwm_kb", "pss_kb", "rss_before_load_kb", "int8_share", "fp16_share", "fp32_share",
    "weight_census", "op_census", "op_count_total",
]
COLUMNS = IDENTITY_COLUMNS + SAMPLE_COLUMNS + BLOCK_COLUMNS


def _census(d: Any) -> str | None:
    """A dict of counts as a stable string ('a=1,b=2'), None when absent or empty."""
    if not isinstance(d, dict) or not d:
        return None
    return ",".join(f"{k}={d[k]}" for k in sorted(d))


def _dtype_shares(weights: Any) -> dict[str, float]:
    """``{"int8_share": …, "fp16_share": …, "fp32_share": …}`` of weight bytes; NaN without a census."""
    total = sum(v for v in weights.values() if isinstance(v, (int, float))) if isinstance(weights, dict) else 0
    return {f"{group}_share": (sum(v for k, v in weights.items() if k.lower() in names) / total
                               if total > 0 else math.nan)
            for group, names in DTYPE_GROUPS.items()}


def _drift_columns(drift: Any) -> dict[str, float]:
    """Numeric top-level fields of a block's ``drift`` as ``drift_<name>`` columns."""
    if not isinstance(drift, dict):
        return {}
    out = {}
    for k, v in drift.items():
        if isinstance(v, bool):
            out[f"drift_{k}"] = float(v)
        elif isinstance(v, (int, float)):
            out[f"drift_{k}"] = float(v)
    return out


def _threads(params: dict) -> Any:
    used = params.get("threads_used")
    return used if used is not None else params.get("threads_requested")


def _block_base(doc: RunDocument, block, source: str) -> dict:
    """The columns every row of one block shares: identity, parameters and block figures."""
    device, model, params = block.device or {}, block.model or {}, block.params or {}
    app, memory, harness = block.app or {}, block.memory or {}, doc.harness or {}
    ops = model.get("op_counts")
    base = {
        "run_id": block.source_run_id or doc.run_id, "source_file": source,
        "timestamp": block.started_at or doc.started_at, "block_id": block.block_id,
        "block_status": block.status, "block_error": block.error,
        "device_alias": device.get("alias"), "device_fingerprint": device.get("fingerprint"),
        "device_model": device.get("model"), "device_soc": device.get("soc"),
        "emulated": bool(device.get("emulated", False)),
        "model_source": model.get("source"), "model_sha256": model.get("sha256"),
        "synthetic": bool(model.get("synthetic", False)), "variant": model.get("variant"),
        "export": model.get("export"), "max_length": model.get("max_length"),
        "context_window_words": params.get("context_window_words"), "threads": _threads(params),
        # What the cell asked for (results from before the option asked for the default).
        "delegate": block.delegate,
        "prompts_sha256": params.get("prompts_sha256") or (doc.plan or {}).get("prompts_sha256"),
        "delegate_used": params.get("delegate_used"), "app_version": app.get("version_name"),
        "harness_version": harness.get("version"), "harness_commit": harness.get("git_commit"),
        "load_ms": block.load_ms, "size_bytes": model.get("size_bytes"),
        "vmhwm_kb": memory.get("vmhwm_kb"), "pss_kb": memory.get("pss_kb"),
        "rss_before_load_kb": memory.get("rss_before_load_kb"),
        **_dtype_shares(model.get("weight_bytes_by_dtype")),
        "weight_census": _census(model.get("weight_bytes_by_dtype")), "op_census": _census(ops),
        "op_count_total": sum(ops.values()) if isinstance(ops, dict) and ops else None,
    }
    base.update(_drift_columns(block.drift))
    return base


NUMERIC = ["wall_ms", "load_ms", "prefill_ms", "decode_ms_total", "decode_tokens_per_s", "int8_share", "fp16_share",
           "fp32_share", "size_bytes", "vmhwm_kb", "pss_kb", "rss_before_load_kb", "tokens_generated", "token_count",
           "prompt_token_count", "thermal_status_before", "thermal_status_after", "thermal_headroom_before",
           "thermal_headroom_after", "thermal_headroom_before_age_ms", "thermal_headroom_after_age_ms",
           "interactive_before", "interactive_after"]


def _decode(s: dict) -> tuple[float | None, float | None]:
    """(total decode ms, decode tokens/s) of one sample; None without per-token decode times."""
    decode = s.get("decode_ms")
    if not isinstance(decode, list) or not decode:
        return None, None
    total = float(sum(decode))
    return total, (len(decode) / (total / 1000.0) if total else None)


def _floats(values: list) -> np.ndarray:
    """Numbers (None -> NaN) as a float array; anything else non-numeric becomes NaN too."""
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def block_rows(doc: RunDocument, source: str = "") -> list[dict]:
    """Flatten one result document into row dicts: one per sample, one for a block without any."""
    return frame_from_docs([(source, doc)]).to_dict("records")


def frame_from_docs(docs: Iterable[tuple[str, RunDocument]]) -> pd.DataFrame:
    """(source name, document) pairs -> the tidy DataFrame (columns always present).

    Built column by column, each block's own values repeated over its samples: a dict per
    row would cost seconds at 100,000 samples. A block without samples keeps one row
    (``phase`` None) so that its error is never lost."""
    bases: list[dict] = []
    flat: list[dict] = []
    counts: list[int] = []
    for source, doc in docs:
        if not isinstance(doc, RunDocument):
            doc = RunDocument.from_dict(doc, source)
        for block in doc.blocks:
            bases.append(_block_base(doc, block, source))
            flat.extend(block.samples or [{}])
            counts.append(len(block.samples) or 1)
    extra = sorted({k for b in bases for k in b} - set(COLUMNS))
    names = COLUMNS + extra
    numeric = set(NUMERIC) | set(extra)
    data: dict[str, Any] = {}
    decode = [_decode(s) if "decode_ms" in s else (None, None) for s in flat]
    for col in names:
        if col in ("decode_ms_total", "decode_tokens_per_s"):
            values = [d[col == "decode_tokens_per_s"] for d in decode]
        elif col in SAMPLE_COLUMNS:
            values = [s.get(col) for s in flat]
        else:
            per_block = [b.get(col) for b in bases]
            data[col] = np.repeat(_floats(per_block) if col in numeric else _objects(per_block), counts)
            continue
        data[col] = _floats(values) if col in numeric else values
    for col in ("emulated", "synthetic"):
        data[col] = data[col].astype(bool)
    return pd.DataFrame(data, columns=names, copy=False)


def resolve_inputs(names: list[str] | None, results_dir: Path | None = None) -> list[Path]:
    """Paths, run ids, directories or baseline names -> result files.

    A name that is not a file, a directory or a run id, but is a saved baseline
    (``<results_dir>/baselines/<name>.json``), resolves to that baseline.
    """
    results_dir = Path(results_dir or paths.default_results_dir())
    if not names:
        if not results_dir.is_dir():
            raise UserError(f"{results_dir}: no results directory (run `harness run` first)")
        files = find_run_files(None, results_dir)
        if not files:
            raise UserError(f"{results_dir}: no result files")
        return files
    files: list[Path] = []
    for name in names:
        p = Path(name)
        baseline = results_dir / BASELINES_SUBDIR / f"{p.name}.json"
        if not p.exists() and not (results_dir / f"{p.name}.json").is_file() and baseline.is_file():
            files.append(baseline)
        else:
            files.extend(find_run_files([p], results_dir))
    return files


def load_frame(names: list[str] | None = None, results_dir: Path | None = None) -> pd.DataFrame:
    """Load result files (see ``resolve_inputs``) into the tidy DataFrame."""
    files = resolve_inputs(names, results_dir)
    return frame_from_docs((str(f), load(f)) for f in files)


def load_docs(names: list[str], results_dir: Path | None = None) -> list[tuple[Path, RunDocument]]:
    """Resolve and load result documents (migrated, validated), keeping their paths."""
    return [(f, load(f)) for f in resolve_inputs(names, results_dir)]


def dumps_stable(obj: Any) -> str:
    """JSON with sorted keys and no NaN (NaN -> null): stable text for golden files."""
    def clean(o: Any) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o

    return json.dumps(clean(obj), indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
