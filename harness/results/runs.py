"""The runs in a results folder, by name: listing them, and ``latest`` wherever a run id is taken."""
from __future__ import annotations

import json
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


def _info(path: Path) -> RunInfo | None:
    """What ``harness runs`` shows of one file; None for files that are not runs."""
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("run_id"), str):
        return None
    plan = doc.get("plan") if isinstance(doc.get("plan"), dict) else {}
    blocks = doc.get("blocks") if isinstance(doc.get("blocks"), list) else []
    return RunInfo(doc["run_id"], path, doc.get("started_at"), doc.get("status"),
                   list(plan.get("devices") or []), list(plan.get("variants") or []), len(blocks))


def list_runs(results_dir: Path) -> list[RunInfo]:
    """Every run file in ``results_dir`` (baselines excluded), oldest first."""
    if not results_dir.is_dir():
        return []
    infos = [i for p in results_dir.glob("*.json") if not p.name.startswith(".") and (i := _info(p))]
    return sorted(infos, key=lambda i: (i.started_at or "", i.run_id))


def latest(results_dir: Path) -> str:
    runs = list_runs(results_dir)
    if not runs:
        raise UserError(f"{results_dir}: no runs yet (run `harness run` first)")
    return runs[-1].run_id


def expand_latest(names: list[str] | None, results_dir: Path) -> list[str]:
    """``latest`` -> the newest run's id; other names unchanged."""
    return [latest(results_dir) if n == LATEST else n for n in (names or [])]
