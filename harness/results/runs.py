"""The runs in a results folder, by name: listing them, and ``latest`` wherever a run id is taken.

Every file is read through ``store.load`` (migrated, validated), like every other reader: a
damaged file is listed as ``damaged`` with its reason, and ``latest`` never picks one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import UserError

LATEST = "latest"


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    path: Path
    started_at: str | None
    status: str | None
    devices: list[str]
    variants: list[str]
    blocks: int
    error: str | None = None        # why the file cannot be read (status "damaged")


def _info(path: Path) -> RunInfo:
    """What ``harness runs`` shows of one file."""
    from harness.results.store import load

    try:
        doc = load(path)
    except UserError as e:
        return RunInfo(path.stem, path, None, "damaged", [], [], 0, error=str(e))
    plan = doc.plan or {}
    return RunInfo(doc.run_id, path, doc.started_at, doc.status, list(plan.get("devices") or []),
                   list(plan.get("variants") or []), len(doc.blocks))


def list_runs(results_dir: Path) -> list[RunInfo]:
    """Every run file in ``results_dir`` (baselines excluded), oldest first."""
    if not results_dir.is_dir():
        return []
    infos = [_info(p) for p in results_dir.glob("*.json") if not p.name.startswith(".")]
    return sorted(infos, key=lambda i: (i.started_at or "", i.run_id))


def latest(results_dir: Path) -> str:
    runs = [r for r in list_runs(results_dir) if r.error is None]
    if not runs:
        raise UserError(f"{results_dir}: no runs yet (run `harness run` first)")
    return runs[-1].run_id


def expand_latest(names: list[str] | None, results_dir: Path) -> list[str]:
    """``latest`` -> the newest run's id; other names unchanged."""
    return [latest(results_dir) if n == LATEST else n for n in (names or [])]
