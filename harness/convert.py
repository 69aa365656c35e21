"""Keras GPT-2 -> .tflite per variant, with a conversion report and a content-addressed cache.

Flow for one (model, export, max length): export the serving graph once as a SavedModel
(``convert_worker export``), then convert each variant in fresh processes
(``convert_worker convert``, for int8 ``calibrate``, then ``finish``), census the result, refuse a variant whose quantization
had no effect, and store ``model.tflite`` + ``conversion.json`` under
``<cache>/models/<key>/``. The key hashes everything that decides the output (model
identity, variant, export, max length, library versions, this code's version), never the
output itself: two conversions of the same input differ byte-wise (FINDINGS §3a).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

from harness import census as census_mod
from harness import models, prompts as prompts_mod
from harness.errors import ConversionError, UserError
from harness.variants import VARIANTS

# Bump when the exported graph or the converter settings change: it invalidates the cache.
# Per export, so a fix to one export does not reconvert the other's models.
CONVERSION_CODE_VERSION = {"oneshot": 3,   # staged conversion gives the same models: no bump
                           # 4: prefill/decode checks decode against prefill (refuses broken fp16)
                           "prefill_decode": 4}
EXPORTS = ("oneshot", "prefill_decode")
LIBRARIES = ("tensorflow", "tensorflow-text", "keras", "keras-hub")

ProgressFn = Callable[[str], None]


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Converted:
    """One converted model on the host and its conversion report."""

    path: Path
    report: dict
    cache_hit: bool

    @property
    def variant(self) -> str:
        return self.report["variant"]

    @property
    def max_length(self) -> int:
        return self.report["max_length"]

    @property
    def export(self) -> str:
        return self.report["export"]

    @property
    def sha256(self) -> str:
        return self.report["sha256"]

    @property
    def size_bytes(self) -> int:
        return self.report["size_bytes"]


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def _export_key(source: models.ModelSource, export: str, max_length: int) -> str:
    return _key({"model": source.identity, "export": export, "max_length": max_length,
                 "libs": library_versions(), "code": CONVERSION_CODE_VERSION[export]})


def conversion_key(source: models.ModelSource, variant: str, export: str, max_length: int) -> str:
    return _key({"model": source.identity, "variant": variant, "export": export,
                 "max_length": max_length, "libs": library_versions(),
                 "code": CONVERSION_CODE_VERSION[export],
                 "calibration": prompts_mod.prompts_sha256(calibration_prompts()) if variant == "int8" else None})


def calibration_prompts() -> list[str]:
    """The representative prompt set for full-integer calibration (all built-in prompts)."""
    return [p for ps in prompts_mod.BUILTIN.values() for p in ps]


def _worker_env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_worker(args: list[str], log_path: Path) -> dict:
    """Run one convert_worker command; return its JSON report or raise ConversionError."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.run([sys.executable, "-m", "harness.convert_worker", *args],
                              stdout=subprocess.PIPE, stderr=log, env=_worker_env())
    lines = [ln for ln in proc.stdout.decode("utf-8", "replace").splitlines() if ln.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or "error" in report:
        msg = report.get("error") or f"worker exited with status {proc.returncode}"
        if report.get("kind") == "user":
            raise UserError(msg)
        raise ConversionError(f"{msg} (log: {log_path})")
    return report


def _validate_max_length(source: models.ModelSource, max_length: int) -> None:
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


def _export(source: models.ModelSource, export: str, max_length: int, cache: Path,
            progress: ProgressFn, stateful: bool) -> tuple[Path, dict]:
    key = _export_key(source, export, max_length) + ("-stateful" if stateful else "")
    out = cache / "exports" / key
    meta_path = out / "export.json"
    if meta_path.is_file():
        return out / "saved_model", json.loads(meta_path.read_text())
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    progress(f"exporting {source.spec} ({export}, max length {max_length})")
    args = ["export", "--source-json", json.dumps(_source_args(source)), "--max-length", str(max_length),
            "--export", export, "--out", str(out / "saved_model")]
    if stateful:
        args.append("--stateful")
    meta = _run_worker(args, out / "export.log")
    meta.update(export=export, max_length=max_length, key=key)
    meta_path.write_text(json.dumps(meta, indent=1))
    return out / "saved_model", meta


def _source_args(source: models.ModelSource) -> dict:
    return {"spec": source.spec, "kind": source.kind, "name": source.name,
            "identity": source.identity, "max_sequence_length": source.max_sequence_length}


def _convert_stages(saved_model: Path, variant: str, export: str, max_length: int, model_path: Path,
                    out: Path, progress: ProgressFn) -> list[dict]:
    """Run one variant's conversion as separate processes; return each one's report.

    ``convert`` runs TF's converter and stops before its post-processing; ``finish`` does
    that post-processing (for int8: ``mlir_quantize`` first), and for int8 ``calibrate``
    runs between the two. In one process their memory stacks up (GPT-2 base: int8 5.2 GiB,
    fp32 3.7 GiB), near or over the 4 GB a laptop can spare.
    """
    common = ["--saved-model", str(saved_model), "--export", export]
    raw, calibrated, state = out / "converted.tflite", out / "calibrated.tflite", out / "state.json"
    convert_args = ["convert", *common, "--variant", variant, "--state", str(state), "--out", str(raw)]
    if export == "prefill_decode":
        convert_args += ["--signature-keys", "prefill,decode"]
    what = f"{variant} ({export}, max length {max_length})"
    calibrate_steps, finish_input = [], raw
    if variant == "int8":
        prompts = json.dumps(calibration_prompts())
        convert_args += ["--prompts-json", prompts]
        calibrate_steps = [("calibrate", f"converting {what}: calibrating on {len(calibration_prompts())} prompts",
                            ["calibrate", *common, "--model", str(raw), "--state", str(state),
                             "--prompts-json", prompts, "--out", str(calibrated)])]
        finish_input = calibrated
    steps = [("convert", f"converting {what}", convert_args), *calibrate_steps,
             ("finish", f"converting {what}: " + ("quantizing" if variant == "int8" else "finishing"),
              ["finish", *common, "--model", str(finish_input), "--state", str(state), "--out", str(model_path)])]
    reports = []
    try:
        for i, (stage, message, args) in enumerate(steps, 1):
            progress(f"{message} ({i}/{len(steps)})")
            reports.append(dict(_run_worker(args, out / f"{stage}.log"), stage=stage))
    finally:   # the intermediates are as large as the model, or as fp32
        for path in (raw, calibrated, state):
            path.unlink(missing_ok=True)
    return reports


def convert(source: models.ModelSource, variants: list[str], max_length: int, *,
            export: str = "oneshot", stateful: bool = False, cache: Path | None = None,
            progress: ProgressFn | None = None) -> list[Converted]:
    """Convert ``variants`` of ``source`` at ``max_length``; cached results are reused."""
    cache = cache or models.cache_root()
    progress = progress or (lambda _msg: None)
    _validate_max_length(source, max_length)
    if export not in EXPORTS:
        raise UserError(f"unknown export {export!r}; choose from " + ", ".join(EXPORTS))
    results: list[Converted] = []
    saved_model: Path | None = None
    export_meta: dict = {}
    for variant in variants:
        if variant not in VARIANTS:
            raise UserError(f"unknown variant {variant!r}; choose from " + ", ".join(VARIANTS))
        key = conversion_key(source, variant, export, max_length) + ("-stateful" if stateful else "")
        out = cache / "models" / key
        report_path, model_path = out / "conversion.json", out / "model.tflite"
        if report_path.is_file() and model_path.is_file():
            results.append(Converted(model_path, json.loads(report_path.read_text()), cache_hit=True))
            continue
        if saved_model is None:
            saved_model, export_meta = _export(source, export, max_length, cache, progress, stateful)
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        stages = _convert_stages(saved_model, variant, export, max_length, model_path, out, progress)
        worker = {"wall_s": sum(st["wall_s"] for st in stages),
                  "peak_rss_kb": max(st["peak_rss_kb"] for st in stages)}
        cen = census_mod.census(model_path)
        try:
            check_quantized(variant, cen)
        except ConversionError:
            shutil.rmtree(out, ignore_errors=True)
            raise
        report = {
            "conversion_id": key,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
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
            "libraries": library_versions(),
            "conversion_code_version": CONVERSION_CODE_VERSION[export],
            "export_wall_s": round(export_meta.get("wall_s", 0.0), 3),
            "export_peak_rss_mb": round(export_meta.get("peak_rss_kb", 0) / 1024, 1),
            "convert_wall_s": round(worker["wall_s"], 3),
            "convert_peak_rss_mb": round(worker["peak_rss_kb"] / 1024, 1),
            "convert_stages": [{"stage": st["stage"], "wall_s": round(st["wall_s"], 3),
                                "peak_rss_mb": round(st["peak_rss_kb"] / 1024, 1)} for st in stages],
            "total_wall_s": round(time.monotonic() - t0, 3),
            "weight_share": {d: round(cen.weight_share(d), 4) for d in cen.weight_bytes_by_dtype},
            "census": cen.to_dict(),
            "calibration_prompts_sha256": (prompts_mod.prompts_sha256(calibration_prompts())
                                           if variant == "int8" else None),
        }
        (out / "conversion.json").write_text(json.dumps(report, indent=1))
        results.append(Converted(model_path, report, cache_hit=False))
    return results
