"""Differential tests: the emulated phone against recordings of real phones (tests/data/android14,
sources in its SOURCES.md).

Each case names the lines a parser (the harness's or a user's) relies on, as regular
expressions. Every expression must first match the REAL recording (so it describes a phone,
not the emulator), then the emulated phone's output for the same command; the exit status
and the stream are checked where the recording or the AOSP source fixes them.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import contract
from harness.emulator.apk import build_apk

pytestmark = pytest.mark.timeout(60)
DATA = Path(__file__).resolve().parents[1] / "data" / "android14"


def recorded(name: str) -> str:
    return (DATA / name).read_text()


def kv_patterns(text: str) -> list[str]:
    """One pattern per `  key: value` line: the key, and the value's kind (bool, int, text)."""
    pats = []
    for line in text.splitlines():
        m = re.match(r"^( *)([A-Za-z][\w ]*?): (.*)$", line)
        if not m:
            pats.append("^" + re.escape(line) + "$")
            continue
        indent, key, value = m.groups()
        kind = r"(true|false)" if value in ("true", "false") else r"-?\d+" if re.fullmatch(r"-?\d+", value) else r".+"
        pats.append(f"^{indent}{re.escape(key)}: {kind}$")
    return pats


def assert_in_order(patterns: list[str], text: str, what: str) -> None:
    lines = text.splitlines()
    k = 0
    for pat in patterns:
        while k < len(lines) and not re.search(pat, lines[k]):
            k += 1
        assert k < len(lines), f"{what}: no line matching {pat!r} (in order) in:\n{text}"
        k += 1


def check(patterns: list[str], real: str, emulated: str) -> None:
    assert_in_order(patterns, real, "real phone")
    assert_in_order(patterns, emulated, "emulated phone")


def test_dumpsys_battery(shared_device):
    r = shared_device.shell("dumpsys battery")
    assert r.returncode == 0
    check(kv_patterns(recorded("dumpsys_battery.txt")), recorded("dumpsys_battery.txt"), r.stdout.decode())


def test_dumpsys_window_screen_state(shared_device):
    pats = [r"^      screenState=SCREEN_STATE_\w+$", r"^  DisplayPolicy$",
            r"^    mAwake=(true|false) mScreenOnEarly=(true|false) mScreenOnFully=(true|false)$"]
    shared_device.set_state(screen="off")
    r = shared_device.shell("dumpsys window")
    check(pats, recorded("dumpsys_window_screen_off.txt"), r.stdout.decode())
    assert "mAwake=false" in r.stdout.decode() and "screenState=SCREEN_STATE_OFF" in r.stdout.decode()


def test_am_start_W_ok(shared_device):
    pats = [r"^Starting: Intent \{ cmp=[\w.]+/[\w.]+( \(has extras\))? \}$", r"^Status: ok$",
            r"^LaunchState: (COLD|WARM|HOT)$", r"^Activity: [\w.]+/[\w.]+$", r"^TotalTime: \d+$", r"^WaitTime: \d+$",
            r"^Complete$"]
    r = shared_device.shell(f"am start -W -n {contract.APP_COMPONENT}")
    assert r.returncode == 0 and r.stderr == b""
    check(pats, recorded("am_start_W_ok.txt"), r.stdout.decode())
    shared_device.shell(f"am force-stop {contract.APP_PACKAGE}")


def test_am_start_error(shared_device):
    pats = [r"^Starting: Intent \{ cmp=[\w.]+/[\w.]+ \}$", r"^Error type 3$",
            r"^Error: Activity class \{[\w.]+/[\w.]+\} does not exist\.$"]
    real = recorded("am_start_error.txt")
    # Android 14 (runStartActivity): exit 0; with -W the error is on stdout ...
    r = shared_device.shell("am start -W -n com.example.missing/.MainActivity")
    assert r.returncode == 0
    check(pats, real, r.stdout.decode())
    # ... without -W on stderr (the Starting: line stays on stdout).
    r = shared_device.shell("am start -n com.example.missing/.MainActivity")
    assert r.returncode == 0
    check(pats[:1], real, r.stdout.decode())
    check(pats[1:], real, r.stderr.decode())


@pytest.mark.parametrize("name,apk,flags,pattern", [
    ("pm_install_streamed_not_apk.txt", b"not an apk", [],
     r"^Failure \[INSTALL_PARSE_FAILED_NOT_APK: Failed to parse /data/app/vmdl\d+\.tmp/base\.apk: "
     r"Failed to load asset path /data/app/vmdl\d+\.tmp/base\.apk\]$"),
    ("pm_install_version_downgrade.txt", build_apk(contract.APP_PACKAGE, 0, "0.0.1"), ["-r"],
     r"^Failure \[INSTALL_FAILED_VERSION_DOWNGRADE: Downgrade detected: Update version code \d+ is older than "
     r"current \d+\]$"),
    ("pm_install_update_incompatible.txt", build_apk(contract.APP_PACKAGE, 5, "5", signer="other"), ["-r"],
     r"^Failure \[INSTALL_FAILED_UPDATE_INCOMPATIBLE: Existing package [\w.]+ signatures do not match newer "
     r"version; ignoring!\]$"),
    ("pm_install_test_only.txt", build_apk("dev.example.testonly", 1, "1", test_only=True), [],
     r"^Failure \[INSTALL_FAILED_TEST_ONLY: installPackageLI\]$"),
    ("pm_install_no_matching_abis.txt", build_apk("dev.example.x86", 1, "1", abis=("x86",)), [],
     r"^Failure \[INSTALL_FAILED_NO_MATCHING_ABIS: INSTALL_FAILED_NO_MATCHING_ABIS: Failed to extract native "
     r"libraries, res=-113\]$"),
])
def test_adb_install_failures(shared_device, tmp_path, name, apk, flags, pattern):
    path = tmp_path / "x.apk"
    path.write_bytes(apk)
    r = shared_device.adb("install", *flags, str(path))
    assert r.returncode == 1
    # adb 29 prints "adb: failed to install PATH: " and the device's text.
    text = (r.stdout + r.stderr).decode().replace(f"adb: failed to install {path}: ", "")
    check([pattern], recorded(name), text)


def test_logcat_threadtime_line(shared_device):
    pat = r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +\d+ +\d+ [VDIWEF] \S+ *: .*$"
    shared_device.handle.control("log", tag="BatterySaverPolicy", message="accessibility changed", level="D",
                                 pid=1971)
    r = shared_device.shell("logcat -d -v threadtime -s BatterySaverPolicy")
    check([pat], recorded("logcat_threadtime_line.txt"), r.stdout.decode())


def test_mksh_error_messages(shared_device):
    real = recorded("mksh_errors.txt")
    r = shared_device.shell("exite6is_; if true; then :; fi; fi")
    assert r.returncode == 1 and r.stdout == b""
    check([r": syntax error: unexpected 'fi'$"], real, r.stderr.decode())
    r = shared_device.shell("exite6is_")
    assert r.returncode == 127
    check([r": exite6is_: inaccessible or not found$"], real, r.stderr.decode())
