"""Files the harness writes and reads: atomic JSON writes, streamed hashes, one-line read errors."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import UserError


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB chunks (a 500 MB model never sits in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory and a rename.

    The file gets the mode a plain ``open()`` would give (0666 minus the umask), not
    mkstemp's 0600: result files and baselines are shared with a group and with CI.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write ``doc`` as indented JSON (no NaN) to ``path`` atomically."""
    text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def read_text(path: Path, what: str, encoding: str = "utf-8") -> str:
    """A text file, or a one-line UserError: ``<path>: no such file (<what>)`` and the like."""
    path = Path(path)
    try:
        return path.read_bytes().decode(encoding)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file ({what})") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a file ({what})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text ({what})") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror}; {what})") from None
