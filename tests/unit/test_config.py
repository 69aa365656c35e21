"""devices.yaml mistakes that used to pass silently or end in a traceback (D9), one line each."""
from __future__ import annotations

import pytest

from harness import config
from harness.errors import UserError

OK = "devices:\n  p7:\n    serial: ABC\n"


@pytest.mark.parametrize("text,message", [
    # Two ways to find one device: serial+emulated silently measured the emulated phone.
    ("devices:\n  d1:\n    serial: ABC\n    endpoint: 1.2.3.4:5555\n", "not serial and endpoint"),
    ("devices:\n  d1:\n    serial: ABC\n    emulated: {port: 16137}\n", "not serial and emulated"),
    ("devices:\n  d1:\n    match: {model: Pixel 7}\n    emulated: {port: 16137}\n", "not match and emulated"),
    # A key given twice: YAML keeps the last without a word.
    ("devices:\n  d1:\n    serial: A\n  d1:\n    serial: B\n", "line 4: not valid YAML ('d1' is given twice"),
    ("devices:\n  d1:\n    serial: A\n    threads: 1\n    threads: 4\n", "'threads' is given twice"),
    # Durations: a negative poll ended in "internal error: ValueError: sleep length must be non-negative".
    ("devices:\n  d1:\n    serial: A\n    cooldown: {poll_s: -1}\n", "cooldown.poll_s: must be a number of seconds above 0"),
    ("devices:\n  d1:\n    serial: A\n    cooldown: {poll_s: 0}\n", "cooldown.poll_s: must be"),
    ("devices:\n  d1:\n    serial: A\n    cooldown: {max_wait_s: 0}\n", "cooldown.max_wait_s: must be"),
    ("devices:\n  d1:\n    serial: A\n    cooldown: {max_wait_s: .nan}\n", "cooldown.max_wait_s: must be"),
    ("devices:\n  d1:\n    serial: A\n    cooldown: {max_wait_s: .inf}\n", "cooldown.max_wait_s: must be"),
    ("devices:\n  d1:\n    serial: A\n    cooldown: {settle_s: -0.5}\n", "cooldown.settle_s: must be a number of seconds, 0 or more"),
    ("defaults:\n  cooldown: {poll_s: -2}\ndevices:\n  d1:\n    serial: A\n", "devices.d1.cooldown.poll_s: must be"),
    # An unknown kind was accepted until the run reached it.
    ("devices:\n  d1:\n    kind: ios\n    serial: A\n", "devices.d1.kind: unknown device kind 'ios' (known: android)"),
])
def test_bad_definitions_are_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        config.load(path)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(str(path))


def test_a_binary_file_is_one_line_not_a_traceback(tmp_path):
    path = tmp_path / "devices.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(UserError, match="not UTF-8 text"):
        config.load(path)


def test_settle_zero_and_one_selector_are_fine(tmp_path):
    path = tmp_path / "devices.yaml"
    path.write_text(OK + "    cooldown: {settle_s: 0, poll_s: 0.5, max_wait_s: 10}\n")
    cfg = config.load(path).get("p7")
    assert cfg.cooldown.settle_s == 0 and cfg.match.serial == "ABC"


def test_the_definition_recorded_in_a_plan_is_plain_data(tmp_path):
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  e:\n    emulated: {port: 16137}\n    apk: /x.apk\n")
    d = config.definition(config.load(path).get("e"))
    assert d["emulated"] == {"profile": "pixel7", "port": 16137, "name": None}
    assert d["kind"] == "android" and "apk" not in d and d["alias"] == "e"
