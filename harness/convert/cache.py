"""The conversion cache's keys: everything that decides a converted model, never the output.

Two conversions of the same input differ byte-wise (FINDINGS §3a), so an entry is keyed
by its inputs — model identity, variant, export, max length, library versions, the
export's code version and, for calibrated variants, the calibration prompts — and a
converted file is identified by its own sha256 afterwards.
"""
from __future__ import annotations

import hashlib
import json

from harness.convert import exports
from harness.convert.variants import VARIANTS
from harness.hostinfo import package_version
from harness.model import prompts as prompts_mod
from harness.model.sources import ModelSource

LIBRARIES = ("tensorflow", "tensorflow-text", "keras", "keras-hub")


def library_versions() -> dict[str, str]:
    return {name: package_version(name, "missing") for name in LIBRARIES}


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def export_key(source: ModelSource, export: str, max_length: int, stateful: bool = False) -> str:
    return _key({"model": source.identity, "export": export, "max_length": max_length,
                 "libs": library_versions(), "code": exports.get(export).CODE_VERSION}) + \
        ("-stateful" if stateful else "")


def calibration_sha256(variant: str) -> str | None:
    if not VARIANTS[variant].needs_calibration:
        return None
    return prompts_mod.prompts_sha256(prompts_mod.calibration_set())


def conversion_key(source: ModelSource, variant: str, export: str, max_length: int,
                   stateful: bool = False) -> str:
    return _key({"model": source.identity, "variant": variant, "export": export,
                 "max_length": max_length, "libs": library_versions(),
                 "code": exports.get(export).CODE_VERSION,
                 "calibration": calibration_sha256(variant)}) + ("-stateful" if stateful else "")
