"""push/pull/stat/list through the real adb binary and adbutils' sync."""
from __future__ import annotations

import os
import stat

import pytest

pytestmark = pytest.mark.timeout(90)

SIZES = [0, 1, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 1024 * 1024 + 7]


@pytest.mark.parametrize("size", SIZES)
def test_adb_push_pull_byte_identical(emulated_device, tmp_path, size):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(size))
    os.chmod(src, 0o640)
    r = emulated_device.adb("push", str(src), "/data/local/tmp/dir/f.bin")  # parent made by fixed_push_mkdir
    assert r.returncode == 0, r.stderr
    dev_file = emulated_device.host_path("/data/local/tmp/dir/f.bin")
    assert dev_file.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(dev_file.stat().st_mode) == 0o640
    assert int(dev_file.stat().st_mtime) == int(src.stat().st_mtime)
    dst = tmp_path / "back.bin"
    r = emulated_device.adb("pull", "-a", "/data/local/tmp/dir/f.bin", str(dst))
    assert r.returncode == 0, r.stderr
    assert dst.read_bytes() == src.read_bytes()
    assert int(dst.stat().st_mtime) == int(src.stat().st_mtime)


@pytest.mark.parametrize("size", [0, 1, 65535, 65537, 1 << 20])
def test_adbutils_sync_push_read_bytes(emulated_device, tmp_path, size):
    data = os.urandom(size)
    sync = emulated_device.device.sync
    assert sync.push(data, "/sdcard/x.bin", mode=0o600) == size
    assert sync.read_bytes("/sdcard/x.bin") == data
    info = sync.stat("/sdcard/x.bin")
    assert info.size == size and stat.S_ISREG(info.mode) and stat.S_IMODE(info.mode) == 0o600
    sync.pull("/sdcard/x.bin", tmp_path / "p.bin")
    assert (tmp_path / "p.bin").read_bytes() == data


def test_large_file_50mb(emulated_device, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(50 * 1000 * 1000))
    assert emulated_device.adb("push", str(src), "/data/local/tmp/big.bin", timeout=60).returncode == 0
    dst = tmp_path / "big.back"
    assert emulated_device.adb("pull", "/data/local/tmp/big.bin", str(dst), timeout=60).returncode == 0
    assert dst.read_bytes() == src.read_bytes()
    dst2 = tmp_path / "big.back2"
    emulated_device.device.sync.pull("/data/local/tmp/big.bin", dst2)
    assert dst2.read_bytes() == src.read_bytes()


def test_stat_and_list(emulated_device):
    d = emulated_device
    d.host_path("/data/local/tmp/d").mkdir()
    d.host_path("/data/local/tmp/d/a.txt").write_bytes(b"abc")
    names = {f.path: f for f in d.device.sync.list("/data/local/tmp/d")}
    assert {"a.txt", ".", ".."} <= set(names) and names["a.txt"].size == 3
    assert stat.S_ISDIR(d.device.sync.stat("/data/local/tmp/d").mode)
    assert d.device.sync.stat("/data/local/tmp/missing").mode == 0  # v1 STAT of a missing file
    assert not d.device.sync.exists("/data/local/tmp/missing")
    out = d.adb("shell", "ls", "/data/local/tmp/d").stdout
    assert out == b"a.txt\n"


def test_adb_pull_directory_uses_lis2(emulated_device, tmp_path):
    d = emulated_device
    base = d.host_path("/sdcard/res")
    (base / "sub").mkdir(parents=True)
    (base / "one.json").write_text("1")
    (base / "sub" / "two.json").write_text("22")
    r = d.adb("pull", "/sdcard/res", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "res" / "one.json").read_text() == "1"
    assert (tmp_path / "res" / "sub" / "two.json").read_text() == "22"


def test_pull_missing_and_push_forbidden(emulated_device, tmp_path):
    r = emulated_device.adb("pull", "/data/local/tmp/nope", str(tmp_path / "x"))
    assert r.returncode == 1 and b"No such file or directory" in r.stdout + r.stderr  # adb 29 prints errors on stdout
    (tmp_path / "f").write_bytes(b"x")
    r = emulated_device.adb("push", str(tmp_path / "f"), "/system/f")
    assert r.returncode == 1 and b"Read-only file system" in r.stdout + r.stderr
    assert emulated_device.adb("shell", "echo still alive").stdout == b"still alive\n"


def test_hostile_file_name_round_trip(emulated_device, tmp_path):
    name = "we'ird; $(touch pwned) `x` \"q\" naïve 日本.txt"
    src = tmp_path / "src"
    src.write_bytes(b"payload")
    r = emulated_device.adb("push", str(src), f"/data/local/tmp/{name}")
    assert r.returncode == 0, r.stderr
    assert emulated_device.host_path(f"/data/local/tmp/{name}").read_bytes() == b"payload"
    listing = [f.path for f in emulated_device.device.sync.list("/data/local/tmp")]
    assert name in listing
    import shlex
    r = emulated_device.adb("shell", "cat", shlex.quote(f"/data/local/tmp/{name}"))
    assert r.stdout == b"payload"
    assert not emulated_device.host_path("/pwned").exists()
    assert not any(p.name == "pwned" for p in emulated_device.fs_root.rglob("pwned"))


def test_streams_at_once(emulated_device, tmp_path):
    """A pull and shells at the same time on one link."""
    import threading
    data = os.urandom(8 * 1024 * 1024)
    emulated_device.host_path("/data/local/tmp/m.bin").write_bytes(data)
    results = {}

    def pull():
        results["pull"] = emulated_device.device.sync.read_bytes("/data/local/tmp/m.bin")

    threads = [threading.Thread(target=pull)] + [
        threading.Thread(target=lambda i=i: results.__setitem__(i, emulated_device.device.shell(f"echo {i}")))
        for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results["pull"] == data
    assert [results[i] for i in range(5)] == [str(i) for i in range(5)]
