"""The conversion cache on disk: keys, entries built in private and renamed into place, locks, checks.

Two conversions of the same input differ byte-wise (FINDINGS §3a), so an entry is keyed
by its inputs — model identity, variant, export, max length, library versions, the
export's code version and, for calibrated variants, the calibration prompts — and a
converted file is identified by its own sha256 afterwards. Any number of processes may
share one cache: each entry is built under its own lock in a private folder, and a hit
is checked (size, sha256) before it is used.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.convert import exports
from harness.convert.variants import VARIANTS
from harness.files import sha256_file
from harness.hostinfo import package_version
from harness.locks import FileLock
from harness.proc import pid_alive
from harness.model import prompts as prompts_mod
from harness.model.sources import ModelSource

LIBRARIES = ("tensorflow", "tensorflow-text", "keras", "keras-hub")


def library_versions() -> dict[str, str]:
    return {name: package_version(name, "missing") for name in LIBRARIES}


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def export_key(source: ModelSource, export: str, max_length: int, stateful: bool = False,
               quantizable_mask: bool = False) -> str:
    return _key({"model": source.identity, "export": export, "max_length": max_length,
                 "libs": library_versions(), "code": exports.get(export).CODE_VERSION}) + \
        ("-stateful" if stateful else "") + ("-int8-mask" if quantizable_mask else "")


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


# ----------------------------------------------------------------- entries on disk
#
# <cache>/models/<key>/   model.tflite + conversion.json (+ the steps' logs)
# <cache>/exports/<key>/  saved_model/ + export.json (+ export.log)
# <cache>/staging/<host>-<pid>-<random>/   one process's build, renamed into place when whole
# <cache>/locks/<kind>-<key>.lock          held while an entry is checked, built or replaced
#
# An entry appears only by the rename of a complete staging folder, so no reader ever
# sees half of one, and a process never writes into a folder another one uses. Entries
# are never changed once in place; a damaged one is moved aside (under its lock) and
# built again, with one line saying so.

STAGING, LOCKS, TRASH = "staging", "locks", "trash"
# A waiter gives up on another process's conversion after this long (its every step has
# its own deadline, so a holder cannot keep the lock longer unless it is very slow).
LOCK_WAIT_S = float(os.environ.get("HARNESS_CACHE_LOCK_WAIT_S") or 6 * 3600)
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class Damaged(Exception):
    """A cache entry that is there but cannot be trusted; the message says why."""


@dataclass(frozen=True)
class Entry:
    """One cache entry: ``kind`` is ``models`` or ``exports``."""

    cache: Path
    kind: str
    key: str
    what: str            # for lines: "model fp32 (oneshot, max length 32)"

    @property
    def path(self) -> Path:
        return self.cache / self.kind / self.key

    def lock(self, progress: Callable[[str], None]) -> FileLock:
        """Hold this entry's lock (waiting, with one line, while another process builds it)."""
        lock = FileLock(self.cache / LOCKS / f"{self.kind}-{self.key}.lock", f"building {self.what}")

        def waiting(holder) -> None:
            who = holder.describe() if holder else "another process"
            progress(f"waiting for {who}: it is building {self.what} in the same cache")

        return lock.acquire(LOCK_WAIT_S, waiting, describe=f"the cache entry of {self.what}")

    def publish(self, staging: Path) -> None:
        """Move a complete staging folder into place (caller holds the lock; nothing is there)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, self.path)

    def discard(self) -> None:
        """Move a damaged entry aside and delete it (caller holds the lock)."""
        if not self.path.exists():
            return
        trash = self.cache / TRASH / f"{self.kind}-{self.key}-{secrets.token_hex(4)}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.path, trash)
        shutil.rmtree(trash, ignore_errors=True)


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise Damaged(f"{path.name} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise Damaged(f"{path.name} is not valid JSON ({type(e).__name__})") from None
    if not isinstance(doc, dict):
        raise Damaged(f"{path.name} is not a JSON object")
    return doc


def check_model(entry: Entry, deep: bool = True) -> dict | None:
    """The conversion report of a whole entry; None when absent; Damaged when it cannot be trusted.

    Always: the report parses and the model's size is the report's. ``deep``: its sha256 too
    (a 500 MB model hashes in about a second; this runs before anything is deployed).
    """
    if not entry.path.exists():
        return None
    report = _read_json(entry.path / "conversion.json")
    sha, size = report.get("sha256"), report.get("size_bytes")
    if not isinstance(sha, str) or not SHA256_RE.match(sha) or not isinstance(size, int):
        raise Damaged("conversion.json has no valid sha256 and size_bytes")
    model = entry.path / "model.tflite"
    try:
        actual = model.stat().st_size
    except FileNotFoundError:
        raise Damaged("model.tflite is missing") from None
    if actual != size:
        raise Damaged(f"model.tflite has {actual} bytes, its report says {size}")
    if deep and sha256_file(model) != sha:
        raise Damaged("model.tflite's sha256 differs from its report's")
    return report


def check_export(entry: Entry) -> dict | None:
    """The export's metadata when the entry is whole; None when absent; Damaged otherwise."""
    if not entry.path.exists():
        return None
    meta = _read_json(entry.path / "export.json")
    if not (entry.path / "saved_model" / "saved_model.pb").is_file():
        raise Damaged("saved_model/saved_model.pb is missing")
    return meta


def staging_dir(cache: Path) -> Path:
    """A fresh private folder for one build (``<host>-<pid>-<random>``)."""
    d = cache / STAGING / f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    d.mkdir(parents=True)
    return d


def sweep_staging(cache: Path) -> None:
    """Remove the staging folders of processes of this host that are gone (killed mid-build)."""
    root = cache / STAGING
    if not root.is_dir():
        return
    me = socket.gethostname()
    for d in root.iterdir():
        try:
            host, pid_text, _ = d.name.rsplit("-", 2)
            pid = int(pid_text)
        except ValueError:
            continue
        if host == me and not pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


