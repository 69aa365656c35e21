"""The app contract (docs/app-contract.md): names, schemas, validation, shared helpers.

Both the host and the emulated app import this module; the Android app follows the
same JSON Schemas (harness/data/contract/*.schema.json) and example files.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

CONTRACT_VERSION = 3   # 3: the spec's delegate may be cpu-builtin

APP_PACKAGE = "dev.harness.benchmark"
APP_ACTIVITY = ".BenchmarkActivity"
APP_COMPONENT = f"{APP_PACKAGE}/{APP_ACTIVITY}"
# The version of the app this harness expects; an older installed app is replaced.
APP_VERSION_CODE = 5
# The TensorFlow Lite runtime built into the app (android/benchmark_app/gradle.properties,
# harness.tfliteRuntimeVersion). The app's versionName carries it as "+tflite-<version>", so the
# host can read it with `dumpsys package` without running the app (docs/app-contract.md).
APP_TFLITE_RUNTIME_VERSION = "2.18.0"
APP_VERSION_NAME = f"0.5.0+tflite-{APP_TFLITE_RUNTIME_VERSION}"
_VERSION_NAME_RUNTIME_RE = re.compile(r"\+tflite-(?P<version>[0-9]+(?:\.[0-9]+)*)$")

# How the app runs the model on the CPU (the spec's ``delegate``). "cpu": TensorFlow Lite's
# default, its kernels with the XNNPACK delegate, which packs its own copy of the weights for
# every signature it takes (prefill and decode: twice). "cpu-builtin": TFLite's built-in kernels
# only (XNNPACK off), computing from the model file's weights in place: about a third of the
# memory, at a speed that depends on the variant and the CPU (docs/benchmarks.md, "Memory
# explained").
DELEGATE_DEFAULT = "cpu"
DELEGATE_BUILTIN = "cpu-builtin"
DELEGATES = (DELEGATE_DEFAULT, DELEGATE_BUILTIN)

# The prefill/decode export's stateless KV cache (docs/generation-metrics.md): ``cache``
# [layers, 2, L, heads, head_dim] is prefill's output, which the caller keeps, and decode's input.
# From export code version 10, decode outputs ``cache_rows`` [layers, 2, 1, heads, head_dim],
# this position's keys and values, which the caller writes into its cache at ``index``; older
# models output the whole updated ``cache``.
TENSOR_CACHE = "cache"
OUTPUT_CACHE_ROWS = "cache_rows"

LOG_TAG = "HarnessBench"
DEFAULT_WORK_DIR = "/data/local/tmp/harness"
RESULT_DIR = f"/sdcard/Android/data/{APP_PACKAGE}/files/results"

EXTRA_SPEC_PATH = "spec_path"
EXTRA_RUN_ID = "run_id"

RUN_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,96}$")
_WORD_RE = re.compile(r"\S+")

_DONE_RE = re.compile(r"HARNESS_DONE run_id=(?P<run_id>[A-Za-z0-9_.-]+) status=(?P<status>ok|error)")
_PROGRESS_RE = re.compile(
    r"HARNESS_PROGRESS run_id=(?P<run_id>[A-Za-z0-9_.-]+) phase=(?P<phase>warmup|measured) "
    r"index=(?P<index>\d+) total=(?P<total>\d+) wall_ms=(?P<wall_ms>[0-9.]+)"
)


class ContractError(ValueError):
    """A spec or result that does not follow the contract."""


def runtime_version_from_version_name(version_name: str) -> str | None:
    """The TFLite runtime version an app's versionName declares (``0.2.0+tflite-2.18.0`` ->
    ``2.18.0``), or None when it declares none (apps before contract v2)."""
    m = _VERSION_NAME_RUNTIME_RE.search(version_name or "")
    return m.group("version") if m else None


def model_device_path(work_dir: str, sha256: str) -> str:
    return f"{work_dir}/models/{sha256}.tflite"


def spec_device_path(work_dir: str, run_id: str) -> str:
    return f"{work_dir}/specs/{run_id}.json"


def result_device_path(run_id: str) -> str:
    return f"{RESULT_DIR}/{run_id}.json"


def apply_context_window(prompt: str, words: int | None) -> str:
    """Keep the last ``words`` words of ``prompt`` (runs of non-whitespace), as the runbook's app.

    ``None`` keeps the prompt unchanged. The kept words are joined with single spaces.
    """
    if words is None:
        return prompt
    kept = _WORD_RE.findall(prompt)[-words:]
    return " ".join(kept)


def start_line(run_id: str) -> str:
    return f"HARNESS_START run_id={run_id}"


def progress_line(run_id: str, phase: str, index: int, total: int, wall_ms: float) -> str:
    return f"HARNESS_PROGRESS run_id={run_id} phase={phase} index={index} total={total} wall_ms={wall_ms:.3f}"


def done_line(run_id: str, status: str) -> str:
    return f"HARNESS_DONE run_id={run_id} status={status}"


def find_done(logcat_text: str, run_id: str) -> str | None:
    """The status of ``run_id``'s done line in a logcat dump, or None."""
    for m in _DONE_RE.finditer(logcat_text):
        if m.group("run_id") == run_id:
            return m.group("status")
    return None


def count_progress(logcat_text: str, run_id: str) -> int:
    return sum(1 for m in _PROGRESS_RE.finditer(logcat_text) if m.group("run_id") == run_id)


@lru_cache(maxsize=None)
def schema(name: str) -> dict:
    """Load ``spec`` or ``result`` schema."""
    text = resources.files("harness.data").joinpath(f"contract/{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def _validate(doc: Any, name: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(name))
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        raise ContractError(f"{name} does not follow contract v{CONTRACT_VERSION}: {where}: {e.message}")


def validate_spec(doc: Any) -> None:
    _validate(doc, "spec")
    if doc["export"] == "prefill_decode" and len(doc.get("prompt_token_ids") or []) != len(doc["prompts"]):
        raise ContractError("spec: prefill_decode needs prompt_token_ids, one list per prompt")


def error_result(spec: dict, message: str) -> dict:
    """A result of status ``error`` for an app that left none (it hung and was stopped, it died)."""
    return new_result(spec["run_id"], spec["model_path"], status="error", error=message)


def validate_result(doc: Any) -> None:
    _validate(doc, "result")


# Defaults of the result's nested records where the app knows nothing (an app that died early).
UNKNOWN_APP = {"package": APP_PACKAGE, "version_name": "unknown", "version_code": 0, "runtime": "unknown",
               "tflite_version": "unknown"}
UNKNOWN_DEVICE = {"fingerprint": "", "model": "", "emulated": False}
EMPTY_MEMORY = {"vmhwm_kb": None, "pss_kb": None, "rss_before_load_kb": None}


def new_result(run_id: str, model_path: str, **fields: Any) -> dict:
    """A result with every field the schema requires: ``fields`` as given, the rest unknown.

    Every producer of results (the host's app, the emulated app, error results the host makes
    for an app that died) starts here, so none can drift from ``result.schema.json``."""
    doc: dict = {k: None for k in schema("result")["required"]}
    doc.update(contract_version=CONTRACT_VERSION, run_id=run_id, status="ok", app=dict(UNKNOWN_APP),
               device=dict(UNKNOWN_DEVICE), model={"path": model_path, "sha256": None, "size_bytes": None},
               memory=dict(EMPTY_MEMORY), generations=[], started_at="", finished_at="")
    doc.update(fields)
    return doc


def new_generation(**fields: Any) -> dict:
    """A generation record with every field the schema requires: ``fields`` as given, the rest null."""
    rec = {k: None for k in schema("result")["$defs"]["generation"]["required"]}
    rec.update(fields)
    return rec
