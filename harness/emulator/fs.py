"""The emulated phone's file system: device paths over a host directory, and who may do what there.

The file system is a host directory (``<state dir>/fs``) that stands for ``/``. Device
paths are normalised lexically and can never leave that directory. As on a real phone
the shell user may write only below ``/data/local/tmp`` and ``/sdcard`` (also reached
as ``/storage/emulated/0`` and ``/storage/self/primary``); files under ``/proc`` are
synthesised by the device (procfs.py).
"""
from __future__ import annotations

import errno
import os
import posixpath
from pathlib import Path

from harness import contract

WRITABLE_PREFIXES = ("/data/local/tmp", "/sdcard")
_ALIASES = {"/storage/emulated/0": "/sdcard", "/storage/self/primary": "/sdcard", "/mnt/sdcard": "/sdcard"}
# The directories every phone has, with Android 14's modes (adbd's shell sees these):
# /data is system:system 0771, /data/local root:root 0751, /data/local/tmp shell:shell 0771,
# /data/app system:system 0771 (shell may pass through but not list them).
SKELETON_DIRS = {"data": 0o771, "data/local": 0o751, "data/local/tmp": 0o771, "data/app": 0o771,
                 "sdcard": 0o771, "sdcard/Android": 0o771, "sdcard/Android/data": 0o771, "sdcard/Download": 0o771,
                 "system": 0o755, "system/bin": 0o755, "proc": 0o555, "vendor": 0o755, "storage": 0o711}


def fs_error(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


class DeviceFS:
    """Maps device paths onto the host directory ``root``.

    Permissions (Android 14 DAC as seen by two users): the shell user owns what it creates
    under /data/local/tmp and uses the owner bits there, the "other" bits elsewhere; the
    benchmark app (uid u0_a234) is "other" to every shell file, so it may open a file only
    with o+r on it and o+x on every directory above it (SELinux lets untrusted_app read
    shell_data_file, AOSP private/untrusted_app_all.te); on /sdcard (FUSE, scoped storage)
    the app reaches only its own Android/data/<package> directory.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        for d, mode in SKELETON_DIRS.items():
            p = self.root / d
            p.mkdir(parents=True, exist_ok=True)
            os.chmod(p, mode)
        self.virtual = lambda dev_path: None      # set by Device: /proc files

    @staticmethod
    def normalize(path: str, cwd: str = "/") -> str:
        """An absolute, lexically normalised device path with storage aliases resolved."""
        if not path.startswith("/"):
            path = posixpath.join(cwd, path)
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        for alias, target in _ALIASES.items():
            if path == alias or path.startswith(alias + "/"):
                path = target + path[len(alias):]
        return path

    def host(self, path: str, cwd: str = "/") -> Path:
        """The host path behind device ``path`` (always inside ``root``)."""
        dev = self.normalize(path, cwd)
        return self.root / dev.lstrip("/") if dev != "/" else self.root

    def writable(self, path: str) -> bool:
        dev = self.normalize(path)
        return any(dev == p or dev.startswith(p + "/") for p in WRITABLE_PREFIXES)

    def check_writable(self, path: str) -> None:
        dev = self.normalize(path)
        if not self.writable(dev):
            code = errno.EROFS if dev.startswith(("/system", "/vendor", "/proc")) else errno.EACCES
            raise fs_error(code, path)

    def is_virtual(self, path: str, cwd: str = "/") -> bool:
        return self.virtual(self.normalize(path, cwd)) is not None

    def exists(self, path: str, cwd: str = "/") -> bool:
        return self.is_virtual(path, cwd) or os.path.lexists(self.host(path, cwd))

    # -- permissions ---------------------------------------------------------------------------
    @staticmethod
    def _owned_by_shell(dev: str) -> bool:
        return dev == "/data/local/tmp" or dev.startswith("/data/local/tmp/")

    def _mode(self, dev: str) -> int | None:
        try:
            return os.lstat(self.host(dev)).st_mode
        except OSError:
            return None

    def allowed(self, dev: str, who: str, want: str) -> bool:
        """May ``who`` ("shell" or "app") ``want`` ("r", "w", "x") on device path ``dev``?"""
        dev = self.normalize(dev)
        if dev == "/sdcard" or dev.startswith("/sdcard/"):
            if who == "shell":
                return True
            own = "/sdcard/Android/data/" + contract.APP_PACKAGE
            return dev == own or dev.startswith(own + "/") or (want == "x" and own.startswith(dev + "/"))
        if self.virtual(dev) is not None:
            return want == "r"
        mode = self._mode(dev)
        if mode is None:
            return False
        shift = 6 if who == "shell" and self._owned_by_shell(dev) else 0
        bit = {"r": 4, "w": 2, "x": 1}[want] << shift
        return bool(mode & bit)

    def traversable(self, dev: str, who: str) -> bool:
        """Every directory above ``dev`` may be searched (x) by ``who``."""
        dev = self.normalize(dev)
        parts = dev.strip("/").split("/")[:-1]
        cur = ""
        for part in parts:
            cur += "/" + part
            if not self.allowed(cur, who, "x"):
                return False
        return True

    def read_bytes(self, dev: str, who: str = "shell") -> bytes:
        """A file's bytes as ``who`` may read them (EACCES, ENOENT, EISDIR as on a phone)."""
        dev = self.normalize(dev)
        text = self.virtual(dev)
        if text is not None:
            return text.encode()
        host = self.host(dev)
        if not os.path.lexists(host):
            raise fs_error(errno.ENOENT, dev)
        if not self.traversable(dev, who) or not self.allowed(dev, who, "r"):
            raise fs_error(errno.EACCES, dev)
        if host.is_dir():
            raise fs_error(errno.EISDIR, dev)
        return host.read_bytes()

    def dir_error(self, dev: str, who: str = "shell") -> str | None:
        """Why ``cd dev`` fails, or None."""
        host = self.host(dev)
        if not host.exists():
            return "No such file or directory" if self.traversable(dev, who) else "Permission denied"
        if not host.is_dir():
            return "Not a directory"
        if not self.traversable(dev, who) or not self.allowed(dev, who, "x"):
            return "Permission denied"
        return None

    def listable(self, dev: str, who: str = "shell") -> bool:
        return self.traversable(dev, who) and self.allowed(dev, who, "r") and self.allowed(dev, who, "x")

    def used_bytes(self) -> int:
        """Bytes taken by files below the writable roots (what counts against the quota)."""
        total = 0
        for top in ("data", "sdcard"):
            for dirpath, _dirs, files in os.walk(self.root / top):
                for f in files:
                    try:
                        total += os.lstat(os.path.join(dirpath, f)).st_size
                    except OSError:
                        pass
        return total
