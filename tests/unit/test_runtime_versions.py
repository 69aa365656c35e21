"""A model the device's TFLite runtime is too old for is refused before anything is pushed."""
from __future__ import annotations

import pytest

from fakes import converted
from harness.convert.artifact import too_new_for, version_tuple
from harness.devices.android.probes import runtime_from_version_name
from harness.devices.base import check_runtime
from harness.errors import UserError


def model(variant, need):
    m = converted(variant)
    m.report["min_runtime_version"] = need
    return m


@pytest.mark.parametrize("text,want", [("2.18.0", (2, 18, 0)), ("2.17.0-rc1", (2, 17, 0)), ("1.14", (1, 14))])
def test_version_tuple(text, want):
    assert version_tuple(text) == want


def test_runtime_from_the_apps_version_name():
    assert runtime_from_version_name("0.2.0+tflite-2.18.0") == "2.18.0"
    assert runtime_from_version_name("0.1.0") is None and runtime_from_version_name(None) is None


def test_models_newer_than_the_runtime_are_named():
    fp32, dyn = model("fp32", "2.14.0"), model("dynamic", "2.17.0")
    assert too_new_for([fp32, dyn], "2.18.0") == []
    assert too_new_for([fp32, dyn], "2.16.1") == [(dyn, "2.17.0")]   # the Maven runtime and a 2.18 dynamic model
    assert too_new_for([fp32, dyn], None) == []                       # unknown runtime: nothing refused


def test_refusal_is_one_line_naming_model_need_and_runtime():
    with pytest.raises(UserError) as e:
        check_runtime("pixel7", [model("dynamic", "2.17.0")], "2.16.1", "rebuild the app")
    msg = str(e.value)
    assert "\n" not in msg and "dynamic" in msg and "2.17.0" in msg and "2.16.1" in msg and "rebuild" in msg
