"""A converted model on the host: its file and its conversion report (typed access)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Converted:
    """One converted model on the host and its conversion report (``conversion.json``)."""

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

    @property
    def min_runtime_version(self) -> str | None:
        """The oldest TFLite runtime that runs this model (the converter's metadata)."""
        found = self.report.get("min_runtime_version") or self.report.get("census", {}).get("min_runtime_version")
        if found is None and self.path.is_file():      # reports cached before the field existed
            from harness.convert.census import census

            found = census(self.path).min_runtime_version
        return found

    def record(self) -> dict:
        """The result file's ``model`` record of a block measured on this model."""
        r = self.report
        return {"source": r["model"]["spec"], "synthetic": r["synthetic"], "variant": r["variant"],
                "export": r["export"], "max_length": r["max_length"], "sha256": r["sha256"],
                "size_bytes": r["size_bytes"], "conversion_id": r["conversion_id"],
                "parameters": r.get("parameters"),
                "weight_bytes_by_dtype": r["census"]["weight_bytes_by_dtype"],
                "op_counts": r["census"]["op_counts"],
                "converter_tensorflow": (r.get("libraries") or {}).get("tensorflow"),
                "min_runtime_version": self.min_runtime_version}


def version_tuple(text: str) -> tuple[int, ...]:
    """'2.18.0' -> (2, 18, 0); '2.17.0-rc1' -> (2, 17, 0): the numeric release part only."""
    import re

    m = re.match(r"\d+(\.\d+)*", text.strip())
    if not m:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(p) for p in m.group(0).split("."))


def too_new_for(models: list[Converted], runtime: str | None) -> list[tuple[Converted, str]]:
    """The models whose ``min_runtime_version`` is newer than ``runtime`` (None: unknown, none refused)."""
    if not runtime:
        return []
    have = version_tuple(runtime)
    out = []
    for m in models:
        need = m.min_runtime_version
        if need and version_tuple(need) > have:
            out.append((m, need))
    return out
