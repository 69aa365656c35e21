"""The result document's one typed owner: its schema version, migrations, validation and records.

A run is one JSON document (layout in docs/results-schema.md). ``RunDocument`` and
``Block`` are the typed records every writer builds and every reader gets; a sample
stays a plain dict (the app contract's generation record plus derived fields). Loading
migrates older versions step by step, refuses newer ones, and validates the result
against ``harness/data/results.schema.json`` so a damaged file is one clear line.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Callable

from harness import contract
from harness.errors import UserError

SCHEMA_VERSION = 3
RUN_STATUSES = ("running", "complete", "interrupted", "failed")


def _v1_to_v2(doc: dict) -> dict:
    """v2 adds optional fields only: a block's ``memory.rss_before_load_kb`` and a sample's
    ``thermal_headroom_before``/``_after``. A v1 file has none of them: unknown, left absent."""
    return doc


# What app contract v2 added to a block and to each sample; v2 files did not know them.
V3_BLOCK_FIELDS = ("load_kind", "cold_load_ms")
V3_SAMPLE_FIELDS = ("thermal_headroom_before_age_ms", "thermal_headroom_after_age_ms",
                    "interactive_before", "interactive_after")


def _v2_to_v3(doc: dict) -> dict:
    """v3 records what app contract v2 measures: a block's ``load_kind`` and ``cold_load_ms``,
    ``params.cpu_count`` (what the app saw), and per sample the thermal headroom readings' ages
    and whether the device was interactive. A v2 file did not record them: unknown (null)."""
    for b in doc.get("blocks") or []:
        if not isinstance(b, dict):
            continue
        for k in V3_BLOCK_FIELDS:
            b.setdefault(k, None)
        if isinstance(b.get("params"), dict):
            b["params"].setdefault("cpu_count", None)
        for s in b.get("samples") or []:
            if isinstance(s, dict):
                for k in V3_SAMPLE_FIELDS:
                    s.setdefault(k, None)
    return doc


# Step-by-step migrations: MIGRATIONS[n] turns a version-n document into version n+1.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2, 2: _v2_to_v3}


def migrate(doc: dict, source: str = "result file") -> dict:
    """Bring a loaded document to SCHEMA_VERSION, refusing newer or unknown versions."""
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserError(f"{source}: not a harness result file (no valid schema_version)")
    if version > SCHEMA_VERSION:
        raise UserError(f"{source}: schema version {version} is newer than this harness reads "
                        f"({SCHEMA_VERSION}); upgrade harness")
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise UserError(f"{source}: no migration from schema version {version}")
        doc = step(doc)
        version += 1
        doc["schema_version"] = version
    return doc


@lru_cache(maxsize=1)
def _schema() -> dict:
    return json.loads(resources.files("harness.data").joinpath("results.schema.json").read_text("utf-8"))


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(_schema())


@lru_cache(maxsize=1)
def _fast_check():
    """The schema in jsonschema-rs (compiled): 100,000 samples in ~0.1 s instead of ~20 s."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(_schema())


def validate(doc: Any, source: str = "result file") -> None:
    """Raise a one-line UserError naming the first place ``doc`` breaks the results schema.

    A compiled check passes good documents fast; anything it rejects is judged (and the
    error worded) by jsonschema, the reference implementation."""
    try:
        if _fast_check().is_valid(doc):
            return
    except ValueError:           # a value JSON cannot hold (e.g. a numpy number in a document built in memory)
        pass
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        raise UserError(f"{source}: not a valid harness result file: {where}: {e.message[:200]}")


@dataclass
class Block:
    """One launch of the app for one cell: its parameters, device state and raw samples."""

    block_id: str
    status: str
    device: dict
    model: dict
    params: dict
    samples: list[dict]
    error: str | None = None
    round: int | None = None
    app_run_id: str | None = None
    app_started_at: str | None = None
    app_finished_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    app: dict | None = None
    load_ms: float | None = None
    load_kind: str | None = None              # "warm": the file was just read (page cache); v3
    cold_load_ms: float | None = None         # a load with the model's pages dropped, if measured; v3
    memory: dict | None = None
    env_before: dict | None = None
    env_after: dict | None = None
    drift: dict | None = None
    op_profile: dict | None = None            # per-op time per call, when profiled (harness/run/opprofile.py)
    source_run_id: str | None = None          # in baselines: the run the block came from
    extra: dict = field(default_factory=dict)   # keys this harness does not know, kept as they are

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def delegate(self) -> str:
        """The delegate the block's cell asked for; blocks from before ``--delegate`` asked for the default."""
        return (self.params or {}).get("delegate_requested") or contract.DELEGATE_DEFAULT

    # Fields older files lack: written only when known, so a file round-trips as it was.
    _OMIT_WHEN_NONE = ("round", "app_run_id", "app_started_at", "app_finished_at", "source_run_id",
                       "op_profile")

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        for k in self._OMIT_WHEN_NONE:
            if d[k] is None:
                del d[k]
        return {**d, **self.extra}

    @classmethod
    def from_dict(cls, d: dict) -> "Block":
        return _from_dict(cls, d)


@dataclass
class RunDocument:
    """A run (or a saved baseline): what was asked, where, and every finished block."""

    run_id: str
    status: str
    blocks: list[Block]
    started_at: str | None = None
    finished_at: str | None = None
    harness: dict | None = None
    command: list[str] | None = None
    host: dict | None = None
    plan: dict | None = None
    skipped: list[dict] = field(default_factory=list)
    deployments: list[dict] = field(default_factory=list)
    resumed_at: list[str] = field(default_factory=list)
    baseline: dict | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        d["blocks"] = [b.to_dict() for b in self.blocks]
        for optional in ("deployments", "resumed_at"):
            if not d[optional]:
                del d[optional]
        if d["baseline"] is None:
            del d["baseline"]
        return {**d, **self.extra}

    @classmethod
    def from_dict(cls, d: dict, source: str = "result file") -> "RunDocument":
        """A migrated, validated document from its JSON form."""
        d = migrate(dict(d), source)
        validate(d, source)
        doc = _from_dict(cls, {k: v for k, v in d.items() if k != "blocks"})
        doc.blocks = [Block.from_dict(b) for b in d["blocks"]]
        return doc

    def finished_ids(self) -> set[str]:
        return {b.block_id for b in self.blocks if b.ok}


def _from_dict(cls, d: dict):
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    known = {k: v for k, v in d.items() if k in names}
    if cls is RunDocument:
        known.setdefault("blocks", [])
    obj = cls(**known)
    obj.extra = {k: v for k, v in d.items() if k not in names}
    return obj
