"""How many cores a device has, for the threads check (D4): a phone's ``nproc`` or
``/sys/devices/system/cpu/possible``, this host's affinity."""
from __future__ import annotations

import os

import pytest

from harness.devices.android.probes import cpu_count
from harness.devices.host.device import HostDevice


@pytest.mark.parametrize("nproc,possible,cores", [
    ("8\n", "0-7\n", 8),
    ("", "0-7\n", 8),                                             # no nproc (old toybox)
    ("/system/bin/sh: nproc: not found\n", "0-3,6-7", 6),
    ("", "0", 1),
    ("", "", None),                                               # says neither: not checked
    ("", "garbage", None),
    ("0\n", "", None),
])
def test_a_phones_cores(nproc, possible, cores):
    assert cpu_count(nproc, possible) == cores


def test_the_hosts_cores_are_the_ones_this_process_may_use():
    assert HostDevice().cpu_count() == len(os.sched_getaffinity(0))
