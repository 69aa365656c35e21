"""Deadlines that hold on child processes (D1): real children that hang, chatter, or fork.

Before, the host device read its child's stdout to the end and only then waited with a
timeout, so a child that hung without closing stdout hung the harness forever (6.1: still
hung at 331 s against a 240 s limit).
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from harness import proc

PY = sys.executable
SILENT_HANG = "import time; print('started', flush=True); time.sleep(600)"
CHATTER = "import time\nwhile True:\n    print('still going', flush=True); time.sleep(0.01)"
# A child whose own child keeps stdout open after the parent exits: EOF never comes.
FORKS = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
         " print('parent done', flush=True)")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("code", [SILENT_HANG, CHATTER, FORKS], ids=["silent", "chatter", "grandchild"])
def test_a_child_past_its_deadline_is_killed_with_one_line(code, tmp_path):
    seen: list[str] = []
    t0 = time.monotonic()
    with pytest.raises(proc.Deadline) as e:
        proc.run([PY, "-c", code], what="the stuck app", deadline_s=1.0, on_line=seen.append)
    assert time.monotonic() - t0 < 8
    assert str(e.value) == "the stuck app did not finish in 1 s; stopped it"
    assert seen and not proc._live          # lines streamed meanwhile; nothing left registered


def test_the_whole_process_group_is_killed(tmp_path):
    pidfile = tmp_path / "pids"
    code = ("import os, subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; "
            f"time.sleep(600)']); open({str(pidfile)!r}, 'w').write(f'{{os.getpid()}} {{c.pid}}'); time.sleep(600)")
    with pytest.raises(proc.Deadline):
        proc.run([PY, "-c", code], what="x", deadline_s=1.5)
    pids = [int(p) for p in pidfile.read_text().split()]
    deadline = time.monotonic() + 5
    while not all(gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(p) for p in pids)


def test_a_child_that_finishes_in_time_returns_its_output():
    done = proc.run([PY, "-c", "print('a'); print('b')"], what="x", deadline_s=30)
    assert done.returncode == 0 and done.stdout_lines == ["a", "b"]


def test_kill_all_stops_a_child_running_in_another_thread():
    """What an interrupt does: the device thread's benchmark app must not outlive the harness."""
    errors: list[BaseException] = []

    def device_thread():
        try:
            proc.run([PY, "-c", SILENT_HANG], what="x", deadline_s=600)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=device_thread, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not proc._live and time.monotonic() < deadline:
        time.sleep(0.01)
    (child,) = list(proc._live)
    proc.kill_all()
    t.join(timeout=10)
    assert not t.is_alive() and gone(child.pid)


EXAMPLES = Path(__file__).resolve().parents[2] / "harness/data/contract/examples"
HANGING_APP = """
import sys, time
print("HARNESS_PROGRESS fake", flush=True)
time.sleep(600)
"""


def test_a_hung_host_app_fails_its_block_at_the_deadline(tmp_path, monkeypatch):
    """The host device: a hung benchmark app is stopped at its deadline and its block fails
    with one line naming what hung and the limit (the run then goes on to the next block)."""
    from harness.devices.host import device as host

    (tmp_path / "hung_app.py").write_text(HANGING_APP)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setattr(host, "REFERENCE_APP", "hung_app")
    monkeypatch.setattr(host, "HOST_START_TIMEOUT_S", 1.0)
    monkeypatch.setattr(host, "HOST_PER_GENERATION_TIMEOUT_S", 0.5)
    from fakes import converted

    spec = json.loads((EXAMPLES / "spec-oneshot.json").read_text())
    spec.update(warmup_runs=0, measured_runs=1)
    progress: list[str] = []
    t0 = time.monotonic()
    result = host.HostDevice().run(spec, converted(), progress.append)
    assert time.monotonic() - t0 < 10
    assert result["status"] == "error"
    assert result["error"] == "the host's benchmark app did not finish in 2 s; stopped it"
    assert progress == ["HARNESS_PROGRESS fake"]


ECHO_SERVER = ("import sys, time\nfor line in sys.stdin:\n"
               "    if line.strip() == 'hang': time.sleep(600)\n"
               "    if line.strip() == 'quit': sys.exit(4)\n"
               "    print('got ' + line.strip(), flush=True)")


def test_a_server_answers_each_request_and_exits_when_closed():
    server = proc.Server([PY, "-c", ECHO_SERVER])
    assert server.ask("a", what="x", deadline_s=10) == "got a"
    assert server.ask("b", what="x", deadline_s=10) == "got b"
    server.close()
    assert server.proc.returncode == 0 and not proc._live


def test_a_server_past_its_deadline_is_killed_and_one_that_exits_says_so():
    server = proc.Server([PY, "-c", ECHO_SERVER])
    t0 = time.monotonic()
    with pytest.raises(proc.Deadline, match="the step did not finish in 1 s; stopped it"):
        server.ask("hang", what="the step", deadline_s=1.0)
    assert time.monotonic() - t0 < 8 and server.proc.returncode is not None and not proc._live
    server = proc.Server([PY, "-c", ECHO_SERVER])
    with pytest.raises(proc.Ended) as e:
        server.ask("quit", what="x", deadline_s=10)
    assert e.value.returncode == 4 and not proc._live
