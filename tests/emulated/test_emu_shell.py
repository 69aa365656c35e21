"""The emulated device's shell through the real adb binary and adbutils."""
from __future__ import annotations

import shlex

import pytest

from harness import contract

pytestmark = pytest.mark.timeout(60)


def test_adb_devices_lists_model(shared_device):
    out = shared_device.server.adb("devices", "-l").stdout.decode()
    line = next(ln for ln in out.splitlines() if ln.startswith(shared_device.serial))
    assert " device " in line and "model:Pixel_7" in line and "product:panther" in line


def test_exit_codes_stdout_stderr_via_adb(shared_device):
    r = shared_device.shell("echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    r = shared_device.shell("true")
    assert r.returncode == 0 and r.stdout == b""
    r = shared_device.shell("no-such-cmd --x")
    assert r.returncode == 127
    assert r.stderr == b"/system/bin/sh: no-such-cmd: inaccessible or not found\n"


def test_adbutils_shell_v1_v2_and_props(shared_device):
    d = shared_device.device
    assert d.prop.model == "Pixel 7"
    assert d.shell("getprop ro.harness.emulated") == "1"
    r = d.shell2("ls /nonexistent")  # legacy shell + `; echo X4EXIT:$?`
    assert r.returncode == 1 and "No such file or directory" in r.output
    r = d.shell2("echo hi; ls /nonexistent", v2=True)
    assert (r.returncode, r.stdout, r.stderr) == (1, "hi\n", "ls: /nonexistent: No such file or directory\n")
    assert "shell_v2" in d.get_features() and "abb" not in d.get_features().split(",")


def test_operators_status_and_redirects(shared_device):
    r = shared_device.shell("false && echo no; false || echo yes; echo $?; ls /x 2>/dev/null; echo st=$?")
    assert r.stdout == b"yes\n0\nst=1\n" and r.stderr == b""
    r = shared_device.shell("echo one > /data/local/tmp/o.txt; echo two >> /data/local/tmp/o.txt; "
                              "cat /data/local/tmp/o.txt; ls /nope 2>&1")
    assert r.stdout == b"one\ntwo\nls: /nope: No such file or directory\n"
    assert shared_device.host_path("/data/local/tmp/o.txt").read_bytes() == b"one\ntwo\n"
    r = shared_device.shell("echo x > /system/x")
    assert r.returncode == 1 and b"Read-only file system" in r.stderr


@pytest.mark.parametrize("text", [
    "it's a \"quote\"", "semi; colon && rm -rf /", "$(touch /data/local/tmp/pwned)",
    "`touch /data/local/tmp/pwned`", "line1\nline2\n", "naïve — 日本語 🙂", "*", "$HOME ${x} $?", "back\\slash",
])
def test_hostile_arguments_arrive_intact_and_execute_nothing(shared_device, text, tmp_path):
    d = shared_device
    r = d.adb("shell", "echo", shlex.quote(text))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == text + "\n"
    assert d.device.shell(["echo", text], rstrip=False) == text + "\n"  # adbutils quotes with shlex
    assert not d.host_path("/data/local/tmp/pwned").exists()
    assert not (tmp_path / "pwned").exists()


def test_command_substitution_runs_on_the_device_never_the_host(shared_device, tmp_path):
    r = shared_device.shell("echo $(echo inner) `echo back`; touch /data/local/tmp/subst; ls /data/local/tmp/subst")
    assert r.stdout == b"inner back\n/data/local/tmp/subst\n"
    assert shared_device.host_path("/data/local/tmp/subst").exists() and not (tmp_path / "subst").exists()
    shared_device.shell("rm /data/local/tmp/subst")


def test_file_commands(shared_device):
    sh = shared_device.shell
    assert sh("mkdir -p /data/local/tmp/a/b && echo hi > /data/local/tmp/a/b/f && mv /data/local/tmp/a/b/f "
              "/data/local/tmp/a/g && chmod 600 /data/local/tmp/a/g && stat -c '%s %a' /data/local/tmp/a/g"
              ).stdout == b"3 600\n"
    r = sh("sha256sum /data/local/tmp/a/g")
    assert r.stdout.startswith(b"98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4  ")
    assert sh("ls /data/local/tmp/a").stdout == b"b\ng\n"
    assert b"-rw-------" in sh("ls -l /data/local/tmp/a/g").stdout
    assert sh("rm /data/local/tmp/a").returncode == 1
    assert sh("rm -rf /data/local/tmp/a && ls /data/local/tmp/a").returncode == 1
    assert sh("mkdir /data/local/tmp").stderr == b"mkdir: '/data/local/tmp': File exists\n"
    assert b"MemTotal:" in sh("cat /proc/meminfo").stdout


def test_df_reflects_quota(emulated_device):
    emulated_device.set_state(quota_bytes=10 * 1024 * 1024)
    emulated_device.host_path("/data/local/tmp/blob").write_bytes(b"x" * 2 * 1024 * 1024)
    lines = emulated_device.shell("df /data/local/tmp").stdout.decode().splitlines()
    assert lines[0].split()[:4] == ["Filesystem", "1K-blocks", "Used", "Available"]
    fs, total, used, avail, pct, mount = lines[1].split()
    assert (int(total), int(used), int(avail), mount) == (10240, 2048, 8192, "/data")


def test_packages_and_dumpsys(emulated_device):
    sh = emulated_device.shell
    assert f"package:{contract.APP_PACKAGE}".encode() in sh("pm list packages").stdout.splitlines()
    assert sh(f"pm path {contract.APP_PACKAGE}").stdout.startswith(b"package:/data/app/")
    out = sh(f"dumpsys package {contract.APP_PACKAGE}").stdout.decode()
    assert f"versionCode={contract.APP_VERSION_CODE} minSdk=24 targetSdk=35" in out
    assert f"versionName={contract.APP_VERSION_NAME}" in out
    emulated_device.set_state(battery_level=42, battery_temp_tenths_c=315)
    out = sh("dumpsys battery").stdout.decode()
    assert "  level: 42\n" in out and "  temperature: 315\n" in out
    assert sh("pm uninstall dev.harness.benchmark").stdout == b"Success\n"
    assert sh("pm path dev.harness.benchmark").returncode == 1


def test_thermal_status_cools_by_script(shared_device):
    shared_device.set_state(thermal_status=3, thermal_cool_every_queries=2)
    seen = []
    for _ in range(8):
        out = shared_device.shell("dumpsys thermalservice").stdout.decode()
        seen.append(int(next(ln for ln in out.splitlines() if ln.startswith("Thermal Status:")).split(":")[1]))
    assert seen == [3, 3, 2, 2, 1, 1, 0, 0]


def test_export_and_exec(shared_device):
    r = shared_device.shell("export GREETING='hi there' EMPTY; echo \"$GREETING\"; export 1x=2; exec echo done")
    assert r.stdout == b"hi there\ndone\n" and b"export: 1x=2: is not an identifier" in r.stderr
    assert r.returncode == 0
    assert shared_device.shell("echo \"[$GREETING]\"").stdout == b"[]\n"   # each shell starts afresh


def test_logcat_threadtime_filter_and_clear(shared_device):
    shared_device.shell("logcat -c")
    shared_device.handle.control("log", tag="HarnessBench", message="hello there")
    shared_device.handle.control("log", tag="Other", message="noise")
    out = shared_device.shell("logcat -d -s HarnessBench").stdout.decode().splitlines()
    assert out[0] == "--------- beginning of main"
    import re
    assert len(out) == 2 and re.match(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +\d+ +\d+ I HarnessBench: hello there$",
                                      out[1]), out
    shared_device.shell("logcat -c")
    # logcat prints a buffer's divider only before that buffer's first entry (logcat.cpp PrintDividers).
    assert shared_device.shell("logcat -d").stdout == b""


def _read_until(proc, needle: str, timeout_s: float = 10.0) -> str:
    """What ``proc`` wrote to stdout up to the first line holding ``needle`` (raw reads:
    a buffered readline would hide data from select)."""
    import os
    import selectors
    import time

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sel.select(timeout=0.2):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
            if any(needle in ln for ln in seen.decode().splitlines(keepends=True) if ln.endswith("\n")):
                return seen.decode()
    raise AssertionError(f"no line with {needle!r} within {timeout_s} s; got {seen!r}")


def test_logcat_without_d_follows_until_the_host_hangs_up(shared_device):
    """As on a phone: `adb shell logcat` prints the buffer, then each new line as it is logged."""
    import subprocess
    import time

    shared_device.handle.control("log", tag="HarnessBench", message="before")
    srv = shared_device.server
    # `adb logcat` runs `export ANDROID_LOG_TAGS=...; exec logcat -s HarnessBench` on the device.
    proc = subprocess.Popen(["adb", "-P", str(srv.port), "-s", shared_device.serial, "logcat", "-s",
                             "HarnessBench"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=srv.env)
    try:
        assert "HarnessBench: before" in _read_until(proc, "before")
        shared_device.handle.control("log", tag="Other", message="noise")
        shared_device.handle.control("log", tag="HarnessBench", message="after")
        later = _read_until(proc, "after")
        assert "HarnessBench: after" in later and "noise" not in later
        assert proc.poll() is None, "a following logcat must not exit by itself"
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert shared_device.handle.snapshot()["logcat_reads"]["follow"] >= 1
    # The follower ends when the host hangs up; the device keeps answering.
    time.sleep(0.5)
    assert shared_device.shell("echo alive").stdout == b"alive\n"
    assert shared_device.shell("logcat -t 1 -s HarnessBench").stdout.decode().endswith("HarnessBench: after\n")


def test_harness_line_stream_reads_a_following_logcat(shared_device):
    from harness.devices.android.adb import Adb, AdbServer

    adb = Adb(AdbServer(port=shared_device.server.port), shared_device.serial)
    stream = adb.stream_lines(["logcat", "-s", "HarnessBench"])
    try:
        shared_device.handle.control("log", tag="HarnessBench", message="one line, 'quoted'; $HOME")
        got = []
        for _ in range(50):
            got += stream.read(0.2)
            if any("quoted" in ln for ln in got):
                break
        assert any(ln.endswith("HarnessBench: one line, 'quoted'; $HOME") for ln in got), got
        assert not stream.ended
    finally:
        stream.close()
    assert stream.ended


@pytest.mark.emulator(faults={"logcat_no_follow": True})
def test_logcat_that_stops_following_ends_the_line_stream(emulated_device):
    from harness.devices.android.adb import Adb, AdbServer

    adb = Adb(AdbServer(port=emulated_device.server.port), emulated_device.serial)
    stream = adb.stream_lines(["logcat", "-s", "HarnessBench"])
    try:
        for _ in range(50):
            stream.read(0.2)
            if stream.ended:
                break
        assert stream.ended
    finally:
        stream.close()


@pytest.mark.emulator(profile="emulator-x86_64")
def test_emulator_profile_props(emulated_device):
    d = emulated_device.device
    assert d.shell("getprop ro.kernel.qemu") == "1"
    assert d.shell("getprop ro.product.cpu.abi") == "x86_64"
    assert d.shell("getprop ro.harness.emulated") == "1"
