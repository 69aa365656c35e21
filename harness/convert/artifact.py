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

    def record(self) -> dict:
        """The result file's ``model`` record of a block measured on this model."""
        r = self.report
        return {"source": r["model"]["spec"], "synthetic": r["synthetic"], "variant": r["variant"],
                "export": r["export"], "max_length": r["max_length"], "sha256": r["sha256"],
                "size_bytes": r["size_bytes"], "conversion_id": r["conversion_id"],
                "parameters": r.get("parameters"),
                "weight_bytes_by_dtype": r["census"]["weight_bytes_by_dtype"],
                "op_counts": r["census"]["op_counts"]}
