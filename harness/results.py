"""Result files: schema version, atomic writes, loading with explicit migrations.

A run is one JSON file, ``results/<run_id>.json`` (layout in docs/results-schema.md).
It is rewritten atomically after every finished block, so a crash never loses a
finished measurement and a reader never sees half a file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from harness.errors import UserError

SCHEMA_VERSION = 2
DEFAULT_RESULTS_DIR = Path("results")


def _v1_to_v2(doc: dict) -> dict:
    """v2 adds optional fields only: a block's ``memory.rss_before_load_kb`` and a sample's
    ``thermal_headroom_before``/``_after``. A v1 file has none of them: unknown, left absent."""
    return doc


# Step-by-step migrations: MIGRATIONS[n] turns a version-n document into version n+1.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write ``doc`` as JSON to ``path`` through a temp file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def migrate(doc: dict, source: str = "result file") -> dict:
    """Bring a loaded document to SCHEMA_VERSION, refusing newer or unknown versions."""
    version = doc.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise UserError(f"{source}: not a harness result file (no valid schema_version)")
    if version > SCHEMA_VERSION:
        raise UserError(
            f"{source}: schema version {version} is newer than this harness reads "
            f"({SCHEMA_VERSION}); upgrade harness"
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise UserError(f"{source}: no migration from schema version {version}")
        doc = step(doc)
        version += 1
        doc["schema_version"] = version
    return doc


def load_run(path: Path) -> dict:
    """Load one result file, migrated to the current schema."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such result file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(doc, dict):
        raise UserError(f"{path}: not a harness result file")
    return migrate(doc, str(path))


def find_run_files(paths: list[Path] | None = None, results_dir: Path = DEFAULT_RESULTS_DIR) -> list[Path]:
    """Expand run ids, files and directories into result files (sorted, no duplicates).

    A bare name that is neither a file nor a directory is taken as a run id in ``results_dir``.
    """
    if not paths:
        paths = [results_dir]
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(q for q in p.glob("*.json") if not q.name.startswith(".")))
        elif p.is_file():
            found.append(p)
        elif (results_dir / f"{p.name}.json").is_file():
            found.append(results_dir / f"{p.name}.json")
        else:
            raise UserError(f"{p}: no such result file, directory or run id")
    seen: set[Path] = set()
    unique = []
    for f in found:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique


def run_path(run_id: str, results_dir: Path = DEFAULT_RESULTS_DIR) -> Path:
    return Path(results_dir) / f"{run_id}.json"
