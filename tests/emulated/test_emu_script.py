"""Users' shell scripts on the emulated phone: mksh grammar, streaming, pipes, modes, commands.

All run on one shared device (tests/conftest.py ``shared_device``) and clean up after themselves.
"""
from __future__ import annotations

import subprocess
import time

import pytest

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("script,stdout,status", [
    ("sh -c 'echo $0 $1' name arg", b"name arg\n", 0),
    ("/system/bin/sh -c 'exit 4'", b"", 4),
    ("if false; then echo a; elif true; then echo b; else echo c; fi", b"b\n", 0),
    ("for i in 1 2 3; do echo $i; done", b"1\n2\n3\n", 0),
    ("i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i", b"3\n", 0),
    ("i=0; until [ $i -ge 2 ]; do i=$((i+1)); done; echo $i", b"2\n", 0),
    ("{ echo a; echo b; } | wc -l", b"2\n", 0),
    ("! false; echo $?; ! true; echo $?", b"0\n1\n", 0),
    ("case foo.txt in *.apk) echo apk;; *.txt|*.md) echo text;; esac", b"text\n", 0),
    ("x=1; y=${x}2; echo $y ${z:-d} ${#y}; echo ${w:=set} $w", b"12 d 2\nset set\n", 0),
    ("echo $(echo a $(echo b)) `echo c`", b"a b c\n", 0),
    ("echo $$ | grep -c '^[0-9][0-9]*$'", b"1\n", 0),
    ("false; echo $?", b"1\n", 0),
    ("cd /data/local/tmp && pwd; cd /; pwd", b"/data/local/tmp\n/\n", 0),
    ("f() { echo in-f $1; return 5; }; f x; echo $?", b"in-f x\n5\n", 0),
    ("echo x | read v; echo \"[$v]\"", b"[x]\n", 0),
    ("echo 'a\\tb'; echo -n n; echo -E 'c\\td'", b"a\tb\nnc\\td\n", 0),
    ("X='a b'; for w in $X; do echo \"<$w>\"; done", b"<a>\n<b>\n", 0),
    ("set -e; false; echo not-reached", b"", 1),
    ("printf '%s-%03d\\n' a 7", b"a-007\n", 0),
    ("seq 3 | sort -r | head -n 2", b"3\n2\n", 0),
])
def test_mksh_grammar(shared_device, script, stdout, status):
    r = shared_device.shell(script)
    assert (r.stdout, r.returncode) == (stdout, status), r.stderr


@pytest.mark.parametrize("script,message", [
    ("if true; then echo x", b"/system/bin/sh: syntax error: unmatched 'if'\n"),
    ("echo a; fi", b"/system/bin/sh: syntax error: unexpected 'fi'\n"),
    ("echo a |", b"/system/bin/sh: syntax error: unexpected EOF\n"),
    ("cat <<EOF\nx\nEOF", b"/system/bin/sh: syntax error: '<< (here-documents)' is not supported by the "
                          b"emulated phone's shell\n"),
    ("[[ -e / ]] && echo y", b"/system/bin/sh: syntax error: '[[ ... ]]' is not supported by the emulated "
                             b"phone's shell\n"),
])
def test_syntax_errors_run_nothing(shared_device, script, message):
    r = shared_device.shell("touch /data/local/tmp/ran; " + script)
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", message)
    assert not shared_device.host_path("/data/local/tmp/ran").exists()


def test_slash_paths_run_only_existing_files(shared_device):
    r = shared_device.shell("/no/such/dir/getprop ro.product.model")
    assert (r.returncode, r.stderr) == (127, b"/system/bin/sh: /no/such/dir/getprop: inaccessible or not found\n")
    assert shared_device.shell("/system/bin/getprop ro.product.model").stdout == b"Pixel 7\n"
    sh = shared_device.shell
    sh("printf '#!/system/bin/sh\\necho script $1\\n' > /data/local/tmp/s.sh")
    r = sh("/data/local/tmp/s.sh x")
    assert (r.returncode, r.stderr) == (126, b"/system/bin/sh: /data/local/tmp/s.sh: can't execute: Permission denied\n")
    assert sh("chmod +x /data/local/tmp/s.sh && cd /data/local/tmp && ./s.sh y").stdout == b"script y\n"
    sh("rm /data/local/tmp/s.sh")


def test_umask0_modes_and_chmod(shared_device, tmp_path):
    """adbd runs with umask(0): new dirs 0777, > and touch 0666; pushed files keep the host's mode."""
    sh = shared_device.shell
    r = sh("cd /data/local/tmp && mkdir m && touch m/t && echo x > m/r && stat -c '%a %A %n' m m/t m/r")
    assert r.stdout == b"777 drwxrwxrwx m\n666 -rw-rw-rw- m/t\n666 -rw-rw-rw- m/r\n"
    assert sh("chmod 640 /data/local/tmp/m/r && ls -l /data/local/tmp/m/r").stdout.startswith(b"-rw-r----- 1 shell shell")
    src = tmp_path / "p"
    src.write_bytes(b"p")
    src.chmod(0o600)
    assert shared_device.adb("push", str(src), "/data/local/tmp/m/p").returncode == 0
    assert sh("stat -c %a /data/local/tmp/m/p").stdout == b"600\n"
    assert sh("umask").stdout == b"000\n"
    assert sh("ls /data").stderr == b"ls: /data: Permission denied\n"
    sh("rm -r /data/local/tmp/m")


def test_output_streams_as_it_is_written(shared_device):
    srv = shared_device.server
    proc = subprocess.Popen(["adb", "-P", str(srv.port), "-s", shared_device.serial, "shell",
                             "echo start; sleep 2; echo end"], stdout=subprocess.PIPE, env=srv.env)
    try:
        t0 = time.monotonic()
        assert proc.stdout.readline() == b"start\n"
        assert time.monotonic() - t0 < 1.5, "the first line waited for the command to end"
        assert proc.stdout.readline() == b"end\n"
    finally:
        proc.kill()
        proc.wait(10)


def test_pipes_run_at_once(shared_device):
    t0 = time.monotonic()
    assert shared_device.shell("sleep 1 | echo hi").stdout == b"hi\n"
    assert shared_device.shell("seq 1 1000000 | head -n 2").stdout == b"1\n2\n"   # head ends the producer
    assert time.monotonic() - t0 < 8
    shared_device.handle.control("log", tag="PipeTest", message="match me")
    srv = shared_device.server
    proc = subprocess.Popen(["adb", "-P", str(srv.port), "-s", shared_device.serial, "shell",
                             "logcat | grep PipeTest"], stdout=subprocess.PIPE, env=srv.env)
    try:
        assert b"match me" in proc.stdout.readline()
        shared_device.handle.control("log", tag="PipeTest", message="later line")
        assert b"later line" in proc.stdout.readline()       # grep follows a following logcat
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(10)
    r = shared_device.shell("logcat -d | head -n 1 | wc -l")
    assert r.stdout.strip() == b"1"


def test_internal_errors_give_a_message_and_an_exit_status(shared_device):
    r = shared_device.shell("pm list packages -3")
    assert r.returncode == 0 and r.stdout == b"package:dev.harness.benchmark\n"
    r = shared_device.shell("echo $((1/0))")
    assert r.returncode == 1 and b"divide by zero" in r.stderr


def test_processes_proc_and_screen_size(shared_device):
    sh = shared_device.shell
    lines = sh("ps -A").stdout.decode().splitlines()
    assert lines[0].split() == ["USER", "PID", "PPID", "VSZ", "RSS", "WCHAN", "ADDR", "S", "NAME"]
    assert any(ln.split()[-1] == "system_server" for ln in lines)
    assert sh("ps").stdout.decode().splitlines()[-1].split()[-1] == "ps"
    assert sh("top -n 1 -b").stdout.startswith(b"Tasks: ")
    status = sh("cat /proc/self/status").stdout.decode()
    assert "VmRSS:" in status and "VmHWM:" in status
    assert sh("wm size; wm density").stdout == b"Physical size: 1080x2400\nPhysical density: 420\n"
    assert sh("uname -r").stdout.startswith(b"5.10.")
    assert sh("getprop ro.product.cpu.abilist; getprop ro.product.cpu.abilist32").stdout == b"arm64-v8a\n\n"
    assert sh("grep MemTotal /proc/meminfo").stdout.startswith(b"MemTotal:")
    assert sh("df -h /data/local/tmp").stdout.split(b"\n")[0].split() == [b"Filesystem", b"Size", b"Used", b"Avail",
                                                                          b"Use%", b"Mounted", b"on"]


def test_logcat_formats_buffers_and_filters(shared_device):
    sh = shared_device.shell
    sh("logcat -c")
    shared_device.handle.control("log", tag="Tag1", message="hello one", pid=4321)
    shared_device.handle.control("log", tag="ActivityManager", message="system line", pid=600)
    assert sh("logcat -d -v brief -s Tag1").stdout.decode().splitlines() == \
        ["--------- beginning of main", "I/Tag1    ( 4321): hello one"]
    assert sh("logcat -d -v tag -b system").stdout.decode().splitlines() == \
        ["--------- beginning of system", "I/ActivityManager: system line"]
    assert b"hello one" not in sh("logcat -d -e system").stdout
    assert sh("logcat -d --pid 4321 -v raw").stdout.decode().splitlines()[-1] == "hello one"
    assert sh("logcat -d -v time -s Tag1").stdout.decode().splitlines()[1].endswith(" I/Tag1    ( 4321): hello one")
    assert sh("logcat -d -b crash").stdout == b""


def test_thermalservice_override_and_screen_controls(shared_device):
    sh = shared_device.shell
    assert sh("cmd thermalservice override-status 4").returncode == 0
    out = sh("dumpsys thermalservice").stdout.decode()
    assert "IsStatusOverride: true" in out and "Thermal Status: 4" in out
    assert sh("cmd thermalservice reset").returncode == 0
    assert "Thermal Status: 0" in sh("dumpsys thermalservice").stdout.decode()
    shared_device.set_state(screen="off", locked=True)
    power = sh("dumpsys power").stdout.decode()
    assert "mWakefulness=Asleep" in power and "Display Power: state=OFF" in power
    assert "mDreamingLockscreen=true" in sh("dumpsys window").stdout.decode()
    sh("input keyevent KEYCODE_WAKEUP")
    assert "Display Power: state=ON" in sh("dumpsys power").stdout.decode()
    sh("wm dismiss-keyguard")
    assert shared_device.snapshot()["state"]["locked"] is False
    shared_device.set_state(locked=True, secure_lock=True)
    sh("wm dismiss-keyguard")
    assert shared_device.snapshot()["state"]["locked"] is True       # a PIN keeps it locked
    assert sh("svc power stayon usb; settings get global stay_on_while_plugged_in").stdout == b"2\n"
    assert sh("settings put global stay_on_while_plugged_in 0; settings get global stay_on_while_plugged_in"
              ).stdout == b"0\n"


def test_an_emulator_bug_is_a_message_and_exit_255(tmp_path, monkeypatch):
    """In-process: a command that raises gives stderr text and status 255, never a silent 0."""
    from harness.emulator import cmds
    from harness.emulator.device import Device
    from harness.emulator.sh.shell import Shell

    def broken(ctx):
        raise TypeError("unsupported operand type(s) for |: 'set' and 'dict'")

    monkeypatch.setitem(cmds.COMMANDS, "broken", broken)
    device = Device(tmp_path / "dev", "t")
    out, err = [], []
    status = Shell(device, out.append, err.append).run("broken; echo after $?")
    assert status == 0 and b"".join(out) == b"after 255\n"
    assert b"broken: the emulated phone failed: TypeError" in b"".join(err)
