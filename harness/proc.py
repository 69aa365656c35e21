"""Child processes with a deadline that holds while their output streams.

Reading a child's stdout line by line blocks until the child writes or closes it, so a
deadline checked after the read loop never fires for a child that hangs (a stuck
interpreter, a converter that spins). Here a reader thread hands lines over a queue and
the caller's loop waits on the queue with the time left; at the deadline, on Ctrl-C or
on any error the child's whole process group is killed and reaped. A child running in
another thread when the harness is interrupted is killed by ``kill_all`` (also at exit),
so no benchmark app or converter outlives the harness.
"""
from __future__ import annotations

import atexit
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


_live: set[subprocess.Popen] = set()
_live_lock = threading.Lock()


class Deadline(Exception):
    """A child did not finish in time; the message names what hung and the limit."""


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout_lines: list[str]


def kill_group(proc: subprocess.Popen) -> None:
    """Kill a child started with ``start_new_session=True`` and everything it started; reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def kill_all() -> None:
    """Kill every child ``run`` started that is still running (any thread's). Never raises."""
    with _live_lock:
        children = list(_live)
    for child in children:
        try:
            kill_group(child)
        except Exception:  # noqa: BLE001  cleanup never raises
            pass


atexit.register(kill_all)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie counts as gone): for stale locks and
    staging folders, and the emulated devices' processes."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _pump(proc: subprocess.Popen) -> tuple[queue.Queue, threading.Thread]:
    """A reader thread handing the child's stdout lines over a queue (None at its end)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        try:
            for raw in proc.stdout:
                lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        except (ValueError, OSError):
            pass   # closed under us after a kill
        finally:
            lines.put(None)

    reader = threading.Thread(target=pump, name=f"child-{proc.pid}", daemon=True)
    reader.start()
    return lines, reader


def _start(argv: list[str], env: dict | None, stderr_path: Path | None, stdin) -> subprocess.Popen:
    stderr = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, stdin=stdin,
                                env=env, start_new_session=True)
    finally:
        if stderr_path:
            stderr.close()
    with _live_lock:
        _live.add(proc)
    return proc


def run(argv: list[str], *, what: str, deadline_s: float, env: dict | None = None,
        stderr_path: Path | None = None, on_line: Callable[[str], None] | None = None) -> Finished:
    """Run ``argv``; call ``on_line`` for each stdout line as it comes; raise Deadline after
    ``deadline_s`` seconds (the child killed), whether or not it is still writing."""
    proc = _start(argv, env, stderr_path, subprocess.DEVNULL)
    lines, reader = _pump(proc)
    end = time.monotonic() + deadline_s
    out: list[str] = []
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise Deadline(f"{what} did not finish in {deadline_s:.0f} s; stopped it")
            try:
                line = lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line is None:
                break
            out.append(line)
            if on_line is not None:
                on_line(line)
        left = max(0.0, end - time.monotonic())
        try:
            proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            raise Deadline(f"{what} did not finish in {deadline_s:.0f} s; stopped it") from None
    except BaseException:
        kill_group(proc)
        raise
    finally:
        with _live_lock:
            _live.discard(proc)
        reader.join(timeout=5)
        proc.stdout.close()
    return Finished(proc.returncode, out)


class Ended(Exception):
    """A ``Server`` child exited (or closed its stdout) before answering."""

    def __init__(self, returncode: int | None):
        super().__init__(f"exited with status {returncode}")
        self.returncode = returncode


class Server:
    """A long-lived child answering each request line with one line on stdout, under a
    deadline per request: at the deadline, on Ctrl-C or on any error its process group is
    killed (as ``run`` does), and ``kill_all`` reaches it too."""

    def __init__(self, argv: list[str], *, env: dict | None = None, stderr_path: Path | None = None):
        self.proc = _start(argv, env, stderr_path, subprocess.PIPE)
        self._lines, self._reader = _pump(self.proc)

    def ask(self, request: str, *, what: str, deadline_s: float) -> str:
        """Send one line; return the child's answer line. Raises Deadline or Ended."""
        end = time.monotonic() + deadline_s
        try:
            try:
                self.proc.stdin.write(request.encode("utf-8") + b"\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass       # it has exited: its end of output says so below
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    raise Deadline(f"{what} did not finish in {deadline_s:.0f} s; stopped it")
                try:
                    line = self._lines.get(timeout=min(left, 1.0))
                except queue.Empty:
                    continue
                if line is None:
                    try:
                        self.proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        pass
                    raise Ended(self.proc.returncode)
                return line
        except BaseException:
            self.close(kill=True)
            raise

    def close(self, kill: bool = False) -> None:
        """End the child: close its stdin and let it exit (killed if it does not within 10 s)."""
        if not kill:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, OSError, ValueError):
                kill = True
        if kill:
            kill_group(self.proc)
        with _live_lock:
            _live.discard(self.proc)
        self._reader.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
