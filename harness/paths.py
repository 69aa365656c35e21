"""Where the harness keeps things: the project root, devices.yaml, results/, the conversion cache.

Nothing depends on the current directory alone: ``HARNESS_CONFIG`` and ``HARNESS_RESULTS``
name the device configuration and the results folder; otherwise the harness looks for
``devices.yaml`` in the current directory and its parents (the project root), as git
looks for ``.git``; ``HARNESS_CACHE`` holds converted models (default ``~/.cache/harness``).
"""
from __future__ import annotations

import os
from pathlib import Path

CONFIG_NAME = "devices.yaml"
RESULTS_NAME = "results"


def project_root(start: Path | None = None) -> Path | None:
    """The nearest directory at or above ``start`` (default: the current one) holding devices.yaml."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / CONFIG_NAME).is_file():
            return d
    return None


def default_config() -> Path:
    if os.environ.get("HARNESS_CONFIG"):
        return Path(os.environ["HARNESS_CONFIG"])
    root = project_root()
    return root / CONFIG_NAME if root else Path(CONFIG_NAME)


def default_results_dir() -> Path:
    if os.environ.get("HARNESS_RESULTS"):
        return Path(os.environ["HARNESS_RESULTS"])
    root = project_root()
    return root / RESULTS_NAME if root else Path(RESULTS_NAME)


def cache_root() -> Path:
    """Where converted models, exports and emulated devices live (HARNESS_CACHE, else ~/.cache/harness)."""
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness")
