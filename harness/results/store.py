"""Result files on disk: finding and loading them, and the one writer of a run's document.

A run is one file, ``<results>/<run_id>.json``. ``Recorder`` owns it while the run goes:
it rewrites the document atomically after every finished block, so a crash never loses
a finished measurement and a reader never sees half a file. One process at a time holds
a run (``<results>/.<run_id>.lock``): a second ``--resume`` of it is refused in one line
naming the holder, so two writers never overwrite each other's blocks. Loading goes
through ``schema.RunDocument.from_dict`` (migrated, validated): a damaged file is one line.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import subprocess
import threading
from pathlib import Path

from harness import paths
from harness.errors import UserError
from harness.files import read_text, write_json_atomic
from harness.hostinfo import host_record, utc_now
from harness.locks import FileLock, LockHeld
from harness.results.schema import Block, RunDocument

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
BASELINES_SUBDIR = "baselines"


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def check_run_id(run_id: str, what: str = "run id") -> str:
    """A run id names a file in the results folder: letters, digits, '.', '_', '-' only."""
    if not RUN_ID_RE.match(run_id or "") or ".." in run_id:
        raise UserError(f"invalid {what} {run_id!r}: use letters, digits, '.', '_' and '-' "
                        "(a run id, not a path)")
    return run_id


def run_path(run_id: str, results_dir: Path | None = None) -> Path:
    return Path(results_dir or paths.default_results_dir()) / f"{check_run_id(run_id)}.json"


def lock_run(run_id: str, results_dir: Path | None = None) -> FileLock:
    """Hold run ``run_id`` for this process (until ``release``), or one line naming who holds it."""
    path = run_path(run_id, results_dir)
    lock = FileLock(path.with_name(f".{path.stem}.lock"), f"run {run_id}")
    try:
        return lock.acquire(0)
    except LockHeld as e:
        who = e.holder.describe() if e.holder else "another process"
        raise UserError(f"run {run_id} is in use by {who}; let it finish (or stop it), "
                        "then resume it if it is unfinished") from None


def load(path: Path) -> RunDocument:
    """Load one result file: migrated to the current schema and validated, or one UserError line."""
    path = Path(path)
    text = read_text(path, "result file")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(doc, dict):
        raise UserError(f"{path}: not a harness result file")
    return RunDocument.from_dict(doc, str(path))


def find_run_files(names: list | None = None, results_dir: Path | None = None) -> list[Path]:
    """Expand run ids, files and directories into result files (sorted, no duplicates).

    A bare name that is neither a file nor a directory is taken as a run id in ``results_dir``.
    """
    results_dir = Path(results_dir or paths.default_results_dir())
    found: list[Path] = []
    for p in [Path(n) for n in (names or [results_dir])]:
        if p.is_dir():
            found.extend(sorted(q for q in p.glob("*.json") if not q.name.startswith(".")))
        elif p.is_file():
            found.append(p)
        elif RUN_ID_RE.match(p.name) and (results_dir / f"{p.name}.json").is_file():
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


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def harness_record() -> dict:
    from harness import __version__

    return {"version": __version__, "git_commit": git_commit()}


class Recorder:
    """The run's result file: one document, rewritten atomically after every change."""

    def __init__(self, path: Path, doc: RunDocument, run_lock: FileLock | None = None):
        self.path = path
        self.doc = doc
        self.run_lock = run_lock
        self._lock = threading.Lock()

    @classmethod
    def create(cls, results_dir: Path, plan: dict, skipped: list[dict], argv: list[str],
               run_id: str | None = None, run_lock: FileLock | None = None) -> "Recorder":
        """A new run's file (``run_id`` and its held lock from ``lock_run``, or new ones)."""
        run_id = run_id or new_run_id()
        run_lock = run_lock or lock_run(run_id, results_dir)
        doc = RunDocument(run_id=run_id, status="running", blocks=[], started_at=utc_now(),
                          harness=harness_record(), command=argv, host=host_record(), plan=plan,
                          skipped=skipped)
        rec = cls(run_path(run_id, results_dir), doc, run_lock)
        rec.save()
        return rec

    @classmethod
    def resume(cls, results_dir: Path, run_id: str) -> "Recorder":
        """Reopen an unfinished run, holding its lock. The file is rewritten only once the run
        really goes on (``mark_resumed``), so a resume that fails early leaves it as it was."""
        path = run_path(check_run_id(run_id, "--resume run id"), results_dir)
        if not path.is_file():
            raise UserError(f"--resume: no run {run_id!r} in {results_dir}")
        run_lock = lock_run(run_id, results_dir)
        try:
            doc = load(path)      # read under the lock: what the last holder left
            if doc.status == "complete":
                raise UserError(f"--resume: run {run_id} is already complete")
            if not doc.plan:
                raise UserError(f"--resume: {path} has no plan to resume (not a run file?)")
        except BaseException:
            run_lock.release()
            raise
        return cls(path, doc, run_lock)

    def close(self) -> None:
        """Let go of the run (its lock); the file stays as last saved."""
        if self.run_lock is not None:
            self.run_lock.release()

    def mark_resumed(self) -> None:
        with self._lock:
            self.doc.status = "running"
            self.doc.resumed_at.append(utc_now())
            self.save()

    @property
    def run_id(self) -> str:
        return self.doc.run_id

    def finished_ids(self) -> set[str]:
        return self.doc.finished_ids()

    def add(self, block: Block) -> None:
        with self._lock:
            self.doc.blocks = [b for b in self.doc.blocks if b.block_id != block.block_id] + [block]
            self.save()

    def note_deployment(self, alias: str, info: dict | None) -> None:
        """Record what a deploy did (app installed, models pushed) — the proof that a second run pushed nothing."""
        with self._lock:
            self.doc.deployments.append({"device": alias, "at": utc_now(), **(info or {})})
            self.save()

    def set_drift(self, drift_by_block: dict[str, dict]) -> None:
        """Store quality-drift figures in the named blocks."""
        with self._lock:
            for b in self.doc.blocks:
                if b.ok and b.block_id in drift_by_block:
                    b.drift = dict(drift_by_block[b.block_id])
            self.save()

    def set_op_profile(self, profile_by_block: dict[str, dict]) -> None:
        """Store per-op profiles in the named blocks (``harness run --op-profile``)."""
        with self._lock:
            for b in self.doc.blocks:
                if b.ok and b.block_id in profile_by_block:
                    b.op_profile = dict(profile_by_block[b.block_id])
            self.save()

    def finish(self, status: str) -> None:
        with self._lock:
            self.doc.status = status
            self.doc.finished_at = utc_now()
            self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.doc.to_dict())
