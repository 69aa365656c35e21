"""Keras GPT-2 -> .tflite per variant, with a conversion report, through the cache.

Flow for one (model, export, max length): export the graph once as a SavedModel
(``worker export``), then convert each variant in fresh processes (``worker convert``,
``calibrate`` for variants that need it, then ``finish``), census the result, refuse a
variant whose quantization had no effect, and store ``model.tflite`` + ``conversion.json``
under ``<cache>/models/<key>/``. Each entry is built in a private staging folder under its
own lock and renamed into place whole; a hit is checked (size and sha256) and a damaged
entry is rebuilt with one line (``harness.convert.cache``). Every worker step has a
deadline; a hung one is killed with one line naming the step and the limit. Where the
steps run — a fresh process each, or one for a small model — is ``harness.convert.steps``.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

from harness import paths
from harness.convert import cache as keys, census as census_mod, exports
from harness.convert.artifact import Converted
from harness.convert.steps import Steps
from harness.convert.variants import VARIANTS, get as get_variant
from harness.errors import ConversionError, UserError
from harness.files import sha256_file, write_json_atomic
from harness.hostinfo import utc_now
from harness.model import prompts as prompts_mod
from harness.model.sources import ModelSource

ProgressFn = Callable[[str], None]


def _validate_max_length(source: ModelSource, max_length: int) -> None:
    if max_length < 2:
        raise UserError(f"--max-length must be at least 2 (got {max_length})")
    limit = source.max_sequence_length
    if limit is not None and max_length > limit:
        raise UserError(f"--max-length {max_length} exceeds {source.spec}'s {limit} positions")


def check_quantized(variant: str, cen: census_mod.Census) -> None:
    """Refuse a variant whose weights are not in the dtype it promises."""
    v = VARIANTS[variant]
    share = cen.weight_share(v.expected_weight_dtype)
    if share < v.min_share:
        dtypes = ", ".join(f"{k} {b / 1e6:.2f} MB" for k, b in sorted(cen.weight_bytes_by_dtype.items()))
        raise ConversionError(
            f"variant {variant}: quantization had no effect — only {share:.0%} of weight bytes are "
            f"{v.expected_weight_dtype} (weights: {dtypes or 'none'}); refusing to emit it as {variant}"
        )


def _source_args(source: ModelSource) -> dict:
    return {"spec": source.spec, "kind": source.kind, "name": source.name,
            "identity": source.identity, "max_sequence_length": source.max_sequence_length}


def _export(source: ModelSource, export: str, max_length: int, cache: Path,
            progress: ProgressFn, stateful: bool, steps: Steps,
            quantizable_mask: bool = False) -> tuple[Path, dict]:
    """The export's SavedModel in the cache: reused when whole, else built under its lock.

    ``quantizable_mask``: the export for variants with integer activations (int8), whose
    attention masks with scores int8 can calibrate (``exports/masking.py``); the float
    variants share the other export, which keeps keras' mask (the masking's extra ops cost
    float prefill 4-10 % at 99 tokens on GPT-2 base for nothing)."""
    what = f"{source.spec} ({export}, max length {max_length}" + (", int8 mask)" if quantizable_mask else ")")
    entry = keys.Entry(cache, "exports", keys.export_key(source, export, max_length, stateful, quantizable_mask),
                       f"the export of {what}")
    meta = _usable(entry, keys.check_export, progress)
    if meta is not None:
        steps.model_size(meta.get("parameters"))
        return entry.path / "saved_model", meta
    with entry.lock(progress):
        meta = _usable(entry, keys.check_export, progress, discard=True)
        if meta is not None:
            steps.model_size(meta.get("parameters"))
            return entry.path / "saved_model", meta
        staging = keys.staging_dir(cache)
        try:
            progress(f"exporting {what}")
            args = ["export", "--source-json", json.dumps(_source_args(source)), "--max-length",
                    str(max_length), "--export", export, "--out", str(staging / "saved_model")]
            if stateful:
                args.append("--stateful")
            if quantizable_mask:
                args.append("--quantizable-mask")
            meta = steps.run(args, staging / "export.log", f"exporting {what}")
            steps.model_size(meta.get("parameters"))
            meta.update(export=export, max_length=max_length, key=entry.key)
            write_json_atomic(staging / "export.json", meta)
            entry.publish(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return entry.path / "saved_model", meta


def _usable(entry: keys.Entry, check, progress: ProgressFn, discard: bool = False):
    """What ``check`` says of a whole entry, or None. A damaged entry is None; with ``discard``
    (the entry's lock held) it is also removed, with one line saying why."""
    try:
        return check(entry)
    except keys.Damaged as why:
        if discard:
            entry.discard()
            progress(f"cache: {entry.what} was damaged ({why}); removed it, building it again")
        return None


def _stage_steps(saved_model: Path, variant: str, export: str, max_length: int, model_path: Path,
                 out: Path) -> tuple[list[tuple[str, str, list[str]]], list[Path]]:
    """The worker steps of one variant's conversion: (stage, message, argv), and their intermediates."""
    common = ["--saved-model", str(saved_model), "--export", export]
    raw, calibrated, state = out / "converted.tflite", out / "calibrated.tflite", out / "state.json"
    convert_args = ["convert", *common, "--variant", variant, "--state", str(state), "--out", str(raw)]
    signature_keys = exports.get(export).SIGNATURE_KEYS
    if len(signature_keys) > 1:
        convert_args += ["--signature-keys", ",".join(signature_keys)]
    what = f"{variant} ({export}, max length {max_length})"
    calibrate_steps, finish_input = [], raw
    if VARIANTS[variant].needs_calibration:
        prompts = prompts_mod.calibration_set()
        convert_args += ["--prompts-json", json.dumps(prompts)]
        calibrate_steps = [("calibrate", f"converting {what}: calibrating on {len(prompts)} prompts",
                            ["calibrate", *common, "--model", str(raw), "--state", str(state),
                             "--prompts-json", json.dumps(prompts), "--out", str(calibrated)])]
        finish_input = calibrated
    steps = [("convert", f"converting {what}", convert_args), *calibrate_steps,
             ("finish", f"converting {what}: " + ("quantizing" if calibrate_steps else "finishing"),
              ["finish", *common, "--model", str(finish_input), "--state", str(state), "--out", str(model_path)])]
    return steps, [raw, calibrated, state]


def _convert_stages(saved_model: Path, variant: str, export: str, max_length: int, model_path: Path,
                    out: Path, progress: ProgressFn, steps: Steps) -> list[dict]:
    """Run one variant's conversion as separate processes; return each one's report.

    In one process the converter, calibration and post-processing stack their memory up
    (GPT-2 base: int8 5.2 GiB, fp32 3.7 GiB), near or over the 4 GB a laptop can spare.
    """
    todo, intermediates = _stage_steps(saved_model, variant, export, max_length, model_path, out)
    reports = []
    try:
        for i, (stage, message, args) in enumerate(todo, 1):
            progress(f"{message} ({i}/{len(todo)})")
            reports.append(dict(steps.run(args, out / f"{stage}.log", message), stage=stage))
    finally:   # the intermediates are as large as the model, or as fp32
        for path in intermediates:
            path.unlink(missing_ok=True)
    return reports


def _report(source: ModelSource, variant: str, export: str, stateful: bool, max_length: int, key: str,
            model_path: Path, export_meta: dict, stages: list[dict], cen: census_mod.Census,
            started: float) -> dict:
    """The conversion report stored beside the model (``conversion.json``)."""
    return {
        "conversion_id": key,
        "created_at": utc_now(),
        "model": source.to_dict(),
        "synthetic": source.synthetic,
        "variant": variant,
        "variant_description": VARIANTS[variant].description,
        "export": export,
        "stateful": stateful,
        "max_length": max_length,
        "parameters": export_meta.get("parameters"),
        "vocabulary_size": export_meta.get("vocabulary_size"),
        "sha256": sha256_file(model_path),
        "size_bytes": model_path.stat().st_size,
        "libraries": keys.library_versions(),
        "converter": {"tensorflow": keys.library_versions()["tensorflow"]},
        "min_runtime_version": cen.min_runtime_version,
        "conversion_code_version": exports.get(export).CODE_VERSION,
        # How the export masked attention: int8 with scores it can calibrate (exports/masking.py).
        "attention_mask": "key0-minus-margin" if VARIANTS[variant].integer_ops else "keras",
        "export_wall_s": round(export_meta.get("wall_s", 0.0), 3),
        "export_peak_rss_mb": round(export_meta.get("peak_rss_kb", 0) / 1024, 1),
        "convert_wall_s": round(sum(st["wall_s"] for st in stages), 3),
        "convert_peak_rss_mb": round(max(st["peak_rss_kb"] for st in stages) / 1024, 1),
        # "shared": the steps ran in one process (a small model), whose peak so far this is.
        "convert_stages": [{"stage": st["stage"], "wall_s": round(st["wall_s"], 3),
                            "peak_rss_mb": round(st["peak_rss_kb"] / 1024, 1),
                            "process": st.get("process", "own")} for st in stages],
        "total_wall_s": round(time.monotonic() - started, 3),
        "weight_share": {d: round(cen.weight_share(d), 4) for d in cen.weight_bytes_by_dtype},
        "census": cen.to_dict(),
        "calibration_prompts_sha256": keys.calibration_sha256(variant),
    }


def convert(source: ModelSource, variants: list[str], max_length: int, *,
            export: str = "oneshot", stateful: bool = False, cache: Path | None = None,
            progress: ProgressFn | None = None) -> list[Converted]:
    """Convert ``variants`` of ``source`` at ``max_length``; whole cached entries are reused."""
    cache = cache or paths.cache_root()
    progress = progress or (lambda _msg: None)
    _validate_max_length(source, max_length)
    exports.get(export)
    keys.sweep_staging(cache)
    steps = Steps(cache)
    try:
        return [_one(source, variant, export, stateful, max_length, cache, progress, steps)
                for variant in variants]
    finally:
        steps.close()


def _one(source: ModelSource, variant: str, export: str, stateful: bool, max_length: int, cache: Path,
         progress: ProgressFn, steps: Steps) -> Converted:
    """One variant: the cached entry when whole, else built under the entry's lock."""
    get_variant(variant)
    what = f"model {variant} ({export}, max length {max_length})"
    entry = keys.Entry(cache, "models", keys.conversion_key(source, variant, export, max_length, stateful), what)
    report = _usable(entry, keys.check_model, progress)
    if report is not None:
        return Converted(entry.path / "model.tflite", report, cache_hit=True)
    with entry.lock(progress):
        report = _usable(entry, keys.check_model, progress, discard=True)   # built meanwhile?
        if report is not None:
            return Converted(entry.path / "model.tflite", report, cache_hit=True)
        _build(source, variant, export, stateful, max_length, entry, progress, steps)
        return Converted(entry.path / "model.tflite", keys.check_model(entry, deep=False), cache_hit=False)


def _build(source: ModelSource, variant: str, export: str, stateful: bool, max_length: int,
           entry: keys.Entry, progress: ProgressFn, steps: Steps) -> None:
    """Convert one variant in a private staging folder and move it into place (lock held)."""
    saved_model, export_meta = _export(source, export, max_length, entry.cache, progress, stateful, steps,
                                       quantizable_mask=VARIANTS[variant].integer_ops)
    staging = keys.staging_dir(entry.cache)
    try:
        model_path = staging / "model.tflite"
        t0 = time.monotonic()
        stages = _convert_stages(saved_model, variant, export, max_length, model_path, staging, progress,
                                 steps)
        cen = census_mod.census(model_path)
        check_quantized(variant, cen)
        report = _report(source, variant, export, stateful, max_length, entry.key, model_path, export_meta,
                         stages, cen, t0)
        write_json_atomic(staging / "conversion.json", report)
        entry.publish(staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
