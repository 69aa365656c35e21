"""Facts about this machine and its Python stack: CPU model, /proc fields, package versions, the clock."""
from __future__ import annotations

import datetime as dt
import os
import platform
from importlib import metadata
from pathlib import Path


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds (every timestamp in result files)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def package_version(dist: str, missing: str | None = None) -> str | None:
    """The installed version of distribution ``dist``, else ``missing``."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return missing


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def host_fingerprint() -> str:
    """A stable identity of this host: OS, machine, CPU model, core count."""
    return f"host/{platform.system()}/{platform.machine()}/{cpu_model()}/{os.cpu_count()}cpu"


def proc_kb(path: str, field: str) -> int | None:
    """A ``Field:  N kB`` value from a /proc file (``/proc/self/status``, ``/proc/meminfo``)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def load_average_1m() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def host_record() -> dict:
    """The result file's ``host`` record: OS, Python, the TensorFlow stack, CPU."""
    return {"os": platform.platform(), "python": platform.python_version(),
            "tensorflow": package_version("tensorflow"), "tensorflow_text": package_version("tensorflow-text"),
            "keras": package_version("keras"), "keras_hub": package_version("keras-hub"),
            "adbutils": package_version("adbutils"), "cpu": cpu_model(), "cpu_count": os.cpu_count()}
