"""Named baselines: runs saved as ``<results>/baselines/<name>.json`` for the regression gate.

A baseline is a result document of the same schema (raw samples kept); each block
records the run it came from (``source_run_id``) and its id is prefixed with that run id,
so blocks of several runs stay unique. Saving never replaces an existing baseline unless
asked: a typo must not overwrite the v1.2 reference.
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from harness import paths
from harness.errors import UserError
from harness.hostinfo import utc_now
from harness.results.schema import RunDocument
from harness.files import write_json_atomic
from harness.results.store import BASELINES_SUBDIR, load

BASELINE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def baselines_dir(results_dir: Path | None = None) -> Path:
    return Path(results_dir or paths.default_results_dir()) / BASELINES_SUBDIR


def baseline_path(name: str, results_dir: Path | None = None) -> Path:
    if not BASELINE_NAME_RE.match(name) or ".." in name:
        raise UserError(f"invalid baseline name {name!r}: use letters, digits, '.', '_' and '-'")
    return baselines_dir(results_dir) / f"{name}.json"


def merge(name: str, docs: list[RunDocument]) -> RunDocument:
    """One baseline document from the blocks of ``docs`` (the first run's metadata)."""
    blocks, run_ids = [], []
    for doc in docs:
        run_ids.append(doc.run_id)
        for b in doc.blocks:
            src = b.source_run_id or doc.run_id
            bid = b.block_id if b.block_id.startswith(f"{src}/") else f"{src}/{b.block_id}"
            blocks.append(replace(b, source_run_id=src, block_id=bid, extra=dict(b.extra)))
    if not blocks:
        raise UserError(f"runs {', '.join(map(str, run_ids))} have no blocks to save as a baseline")
    first = docs[0]
    starts = [d.started_at for d in docs if d.started_at]
    ends = [d.finished_at for d in docs if d.finished_at]
    return RunDocument(
        run_id=f"baseline-{name}",
        status="failed" if any(b.status == "error" for b in blocks) else "complete",
        blocks=blocks, started_at=min(starts) if starts else None, finished_at=max(ends) if ends else None,
        harness=first.harness, command=["harness", "baseline", "save", name, *map(str, run_ids)],
        host=first.host, plan=first.plan, skipped=[s for d in docs for s in d.skipped],
        baseline={"name": name, "runs": run_ids, "created_at": utc_now()})


def save(name: str, docs: list[RunDocument], results_dir: Path | None = None, *, force: bool = False) -> Path:
    path = baseline_path(name, results_dir)
    if path.exists() and not force:
        raise UserError(f"baseline {name!r} already exists ({path}); pass --force to replace it, "
                        f"or `harness baseline rm {name}` first")
    write_json_atomic(path, merge(name, docs).to_dict())
    return path


def names(results_dir: Path | None = None) -> list[str]:
    d = baselines_dir(results_dir)
    return sorted(p.stem for p in d.glob("*.json") if not p.name.startswith(".")) if d.is_dir() else []


def load_baseline(name: str, results_dir: Path | None = None) -> RunDocument:
    path = baseline_path(name, results_dir)
    if not path.is_file():
        known = ", ".join(names(results_dir)) or "none"
        raise UserError(f"no baseline {name!r} (known: {known})")
    return load(path)


def remove(name: str, results_dir: Path | None = None) -> Path:
    path = baseline_path(name, results_dir)
    if not path.is_file():
        raise UserError(f"no baseline {name!r} to remove")
    path.unlink()
    return path
