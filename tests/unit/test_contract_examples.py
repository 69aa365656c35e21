"""The contract's shared examples, and the Android app's side of the contract.

- every example spec/result in harness/data/contract/examples follows the schemas;
- the validators refuse broken documents;
- the Kotlin app's names (package, activity, extras, log tag, result dir, version) equal
  harness/contract.py's, read from the Kotlin and Gradle sources;
- harness.contract.apply_context_window and the log lines agree with the vector files that the
  app's JVM tests also read.

The app's Kotlin code itself is compiled and its JVM tests are run by tests/e2e/test_android_app_jvm.py
(Maven, offline), which also validates the result files they write against the schema.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import contract

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "harness" / "data" / "contract" / "examples"
APP = ROOT / "android" / "benchmark_app"
KOTLIN_MAIN = APP / "app" / "src" / "main" / "kotlin" / "dev" / "harness" / "benchmark"


def load(name: str):
    return json.loads((EXAMPLES / name).read_text("utf-8"))


def spec_examples():
    return sorted(p.name for p in EXAMPLES.glob("spec-*.json"))


def result_examples():
    return sorted(p.name for p in EXAMPLES.glob("result-*.json"))


# --- the examples follow the schemas -------------------------------------------------------


def test_examples_exist():
    assert {"spec-oneshot.json", "spec-prefill-decode.json"} <= set(spec_examples())
    assert {"result-ok.json", "result-error.json", "result-prefill-decode.json"} <= set(result_examples())


@pytest.mark.parametrize("name", spec_examples())
def test_spec_examples_are_valid(name):
    contract.validate_spec(load(name))


@pytest.mark.parametrize("name", result_examples())
def test_result_examples_are_valid(name):
    doc = load(name)
    contract.validate_result(doc)
    assert doc["app"]["package"] == contract.APP_PACKAGE
    assert doc["app"]["version_code"] == contract.APP_VERSION_CODE
    assert doc["app"]["version_name"] == contract.APP_VERSION_NAME
    assert contract.RUN_ID_RE.match(doc["run_id"])
    assert (doc["status"] == "ok") == (doc["error"] is None)


def test_ok_example_is_consistent():
    spec, result = load("spec-oneshot.json"), load("result-ok.json")
    assert result["run_id"] == spec["run_id"]
    assert result["model"]["sha256"] == spec["model_sha256"]
    gens = result["generations"]
    assert [g["phase"] for g in gens] == ["warmup"] * spec["warmup_runs"] + ["measured"] * spec["measured_runs"]
    for g in gens:
        prompt = spec["prompts"][g["prompt_index"]]
        assert g["prompt_index"] == g["index"] % len(spec["prompts"])
        assert g["prompt_used"] == contract.apply_context_window(prompt, spec["context_window_words"])
        assert g["output_text"].startswith(g["prompt_used"])


def test_prefill_decode_example_is_consistent():
    spec, result = load("spec-prefill-decode.json"), load("result-prefill-decode.json")
    assert result["run_id"] == spec["run_id"]
    for g in result["generations"]:
        ids = spec["prompt_token_ids"][g["prompt_index"]]
        assert g["output_token_ids"][: len(ids)] == ids
        assert g["token_count"] == len(g["output_token_ids"]) == spec["max_length"]
        assert g["prompt_token_count"] == len(ids)
        assert len(g["decode_ms"]) == spec["max_length"] - len(ids) - 1
        assert g["wall_ms"] >= g["prefill_ms"] + sum(g["decode_ms"])


def test_every_v2_field_is_required():
    """Contract v2: every field is present in every result (nullable where the app may not know)."""
    s = contract.schema("result")
    assert set(s["required"]) == set(s["properties"])
    gen = s["$defs"]["generation"]
    assert set(gen["required"]) == set(gen["properties"])
    mem = s["properties"]["memory"]
    assert set(mem["required"]) == set(mem["properties"])


def test_version_name_carries_the_runtime_version():
    assert contract.runtime_version_from_version_name(contract.APP_VERSION_NAME) == contract.APP_TFLITE_RUNTIME_VERSION
    assert contract.runtime_version_from_version_name("0.1.0") is None
    assert contract.runtime_version_from_version_name("1.0+tflite-2.19.1") == "2.19.1"


# --- negative cases are refused ------------------------------------------------------------


def _spec_variants():
    base = load("spec-oneshot.json")

    def changed(**kw):
        d = copy.deepcopy(base)
        for k, v in kw.items():
            if v is _DELETE:
                d.pop(k)
            else:
                d[k] = v
        return d

    return {
        "missing model_sha256": changed(model_sha256=_DELETE),
        "missing prompts": changed(prompts=_DELETE),
        "contract_version 1 (older app contract)": changed(contract_version=1),
        "contract_version 4": changed(contract_version=4),
        "contract_version '2'": changed(contract_version="2"),
        "run_id with shell": changed(run_id="a;rm -rf /"),
        "run_id with slash": changed(run_id="../x"),
        "run_id too long": changed(run_id="x" * 97),
        "empty prompts": changed(prompts=[]),
        "prompt not a string": changed(prompts=["ok", 3]),
        "unknown field": changed(temperature=0.7),
        "bad sha": changed(model_sha256="ABC"),
        "zero measured": changed(measured_runs=0),
        "zero context window": changed(context_window_words=0),
        "gpu delegate": changed(delegate="gpu"),
        "string threads": changed(threads="4"),
        "prefill_decode without ids": changed(export="prefill_decode"),
    }


_DELETE = object()


@pytest.mark.parametrize("case", sorted(_spec_variants()))
def test_bad_specs_are_refused(case):
    with pytest.raises(contract.ContractError):
        contract.validate_spec(_spec_variants()[case])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("memory"),
        lambda d: d.update(contract_version=1),
        lambda d: d.update(status="done"),
        lambda d: d["generations"][0].pop("wall_ms"),
        lambda d: d.pop("cpu_count"),
        lambda d: d.update(load_kind="cold"),
        lambda d: d["generations"][0].pop("interactive_after"),
        lambda d: d["generations"][0].pop("thermal_headroom_before_age_ms"),
        lambda d: d["generations"][0].pop("prefill_ms"),
        lambda d: d["generations"][0].update(thermal_headroom_after_age_ms=-1),
        lambda d: d["generations"][0].update(thermal_status_after=7),
        lambda d: d["generations"][0].update(wall_ms=-1),
        lambda d: d.update(extra=1),
    ],
    ids=["missing memory", "contract 1", "bad status", "missing wall_ms", "missing cpu_count", "load_kind cold",
         "missing interactive_after", "missing headroom age", "missing prefill_ms", "negative headroom age",
         "thermal 7", "negative wall", "extra field"],
)
def test_bad_results_are_refused(mutate):
    doc = load("result-ok.json")
    mutate(doc)
    with pytest.raises(contract.ContractError):
        contract.validate_result(doc)


# --- shared vectors -----------------------------------------------------------------------


def test_context_window_vectors():
    vectors = load("context-window-vectors.json")["vectors"]
    assert len(vectors) >= 10
    for v in vectors:
        assert contract.apply_context_window(v["prompt"], v["words"]) == v["expected"], v


def test_log_line_vectors():
    v = load("log-line-vectors.json")
    for x in v["start"]:
        assert contract.start_line(x["run_id"]) == x["expected"]
    for x in v["progress"]:
        line = contract.progress_line(x["run_id"], x["phase"], x["index"], x["total"], x["wall_ms"])
        assert line == x["expected"]
        assert contract.count_progress(line, x["run_id"]) == 1
    for x in v["done"]:
        assert contract.done_line(x["run_id"], x["status"]) == x["expected"]
        assert contract.find_done(x["expected"], x["run_id"]) == x["status"]


# --- the Kotlin/Gradle sources carry the contract's names ---------------------------------


def kotlin_consts(path: Path) -> dict:
    text = path.read_text("utf-8")
    out = {}
    for m in re.finditer(r'^\s*const val (\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+))\s*$', text, re.M):
        out[m.group(1)] = m.group(2) if m.group(2) is not None else int(m.group(3))
    return out


def test_kotlin_constants_match_contract_py():
    k = kotlin_consts(KOTLIN_MAIN / "core" / "Contract.kt")
    assert k["SIGNATURE_PREFILL"] == "prefill" and k["SIGNATURE_DECODE"] == "decode"
    assert k["LOAD_KIND_WARM"] in contract.schema("result")["properties"]["load_kind"]["enum"]
    assert k["CONTRACT_VERSION"] == contract.CONTRACT_VERSION
    assert k["APP_PACKAGE"] == contract.APP_PACKAGE
    assert k["APP_ACTIVITY"] == contract.APP_ACTIVITY
    assert k["LOG_TAG"] == contract.LOG_TAG
    assert k["EXTRA_SPEC_PATH"] == contract.EXTRA_SPEC_PATH
    assert k["EXTRA_RUN_ID"] == contract.EXTRA_RUN_ID
    assert f"/sdcard/Android/data/{k['APP_PACKAGE']}/files/{k['RESULT_SUBDIR']}" == contract.RESULT_DIR
    assert k["RUN_ID_PATTERN"] == contract.RUN_ID_RE.pattern
    assert k["SHA256_PATTERN"] == contract.schema("spec")["properties"]["model_sha256"]["pattern"]
    assert k["RUN_ID_PATTERN"] == contract.schema("spec")["properties"]["run_id"]["pattern"]


def gradle_app_text() -> str:
    return (APP / "app" / "build.gradle.kts").read_text("utf-8")


def gradle_properties() -> dict:
    out = {}
    for line in (APP / "gradle.properties").read_text("utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def pom_properties() -> dict:
    import xml.etree.ElementTree as ET

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(APP / "jvm" / "pom.xml").getroot()
    return {el.tag.split("}")[1]: (el.text or "").strip() for el in root.find("m:properties", ns)}


def test_gradle_ids_and_versions_match_contract_py():
    g = gradle_app_text()
    props = gradle_properties()

    def value(name):
        m = re.search(rf"^\s*{name}\s*=\s*(\"[^\"]*\"|\d+)\s*$", g, re.M)
        assert m, f"{name} not set in app/build.gradle.kts"
        return json.loads(m.group(1))

    assert value("namespace") == contract.APP_PACKAGE
    assert props["harness.applicationId"] == contract.APP_PACKAGE
    assert re.search(r'^\s*applicationId = harnessProperty\("applicationId"\)$', g, re.M)
    # versionCode/versionName: one place (gradle.properties), and the runtime in versionName.
    assert int(props["harness.versionCode"]) == contract.APP_VERSION_CODE
    assert re.search(r'^\s*versionCode = harnessProperty\("versionCode"\)\.toInt\(\)$', g, re.M)
    assert re.search(r'^\s*versionName = harnessProperty\("versionBase"\) \+ "\+tflite-" \+ tfliteRuntimeVersion$', g, re.M)
    assert f"{props['harness.versionBase']}+tflite-{props['harness.tfliteRuntimeVersion']}" == contract.APP_VERSION_NAME
    assert props["harness.tfliteRuntimeVersion"] == contract.APP_TFLITE_RUNTIME_VERSION
    assert value("minSdk") == 24
    assert value("compileSdk") == 35 and value("targetSdk") == 35
    # The runtime comes from the two local aars built from one TensorFlow tree, never from Maven.
    assert not re.search(r"implementation\(\"org\.tensorflow:", g)
    assert 'files("libs/tensorflow-lite.aar", "libs/tftext_tflite_flex.aar")' in g


# The TFLite Java API the Maven build compiles against, for the runtime the app is built with: the
# newest org.tensorflow:tensorflow-lite-api on Maven Central at or below the runtime (2.17.0 there is
# only a relocation to LiteRT, which Central does not serve). Change both together.
COMPILE_API_FOR_RUNTIME = {"2.18.0": "2.16.1"}


def test_gradle_and_maven_builds_use_the_same_versions():
    pom = pom_properties()
    root_gradle = (APP / "build.gradle.kts").read_text("utf-8")
    m = re.search(r'id\("org\.jetbrains\.kotlin\.android"\) version "([^"]+)"', root_gradle)
    assert m and m.group(1) == pom["kotlin.version"], (m and m.group(1), pom["kotlin.version"])
    # compileSdk 35 = Android 15: the android-all Maven compiles against and Robolectric runs.
    assert re.search(r"^\s*compileSdk = 35$", gradle_app_text(), re.M)
    assert pom["android.all.version"].startswith("15-robolectric-")
    assert pom["robolectric.sdk.jar"] == pom["android.all.version"] + "-i7"
    assert pom["tflite.api.version"] == COMPILE_API_FOR_RUNTIME[gradle_properties()["harness.tfliteRuntimeVersion"]]
    m = re.search(r'testImplementation\("org\.robolectric:robolectric:([^"]+)"\)', gradle_app_text())
    assert m and m.group(1) == pom["robolectric.version"]
    # BuildConfig of the Maven build is generated from the same gradle.properties values.
    template = (APP / "jvm" / "src" / "buildconfig" / "BuildConfig.kt").read_text("utf-8")
    assert '"${harness.versionBase}+tflite-${harness.tfliteRuntimeVersion}"' in template
    assert "${harness.versionCode}" in template and '"${harness.applicationId}"' in template


def test_activity_and_manifest():
    act = (KOTLIN_MAIN / "BenchmarkActivity.kt").read_text("utf-8")
    assert re.search(r"^package dev\.harness\.benchmark$", act, re.M)
    assert re.search(r"\bclass BenchmarkActivity\b", act)
    manifest = (APP / "app" / "src" / "main" / "AndroidManifest.xml").read_text("utf-8")
    m = re.search(r"<activity\b[^>]*>", manifest, re.S)
    assert m
    tag = m.group(0)
    assert f'android:name="{contract.APP_ACTIVITY}"' in tag
    assert 'android:exported="true"' in tag
    # Review D8: every configuration change a phone can make mid-run is handled in place.
    changes = set(re.search(r'android:configChanges="([^"]+)"', tag).group(1).split("|"))
    assert {"orientation", "screenSize", "screenLayout", "smallestScreenSize", "keyboard", "keyboardHidden",
            "navigation", "uiMode", "density", "fontScale", "locale", "layoutDirection", "colorMode",
            "touchscreen", "mcc", "mnc", "fontWeightAdjust", "grammaticalGender"} <= changes
    assert 'android:showWhenLocked="true"' in tag and 'android:turnScreenOn="true"' in tag
    act = (KOTLIN_MAIN / "BenchmarkActivity.kt").read_text("utf-8")
    assert "AtomicBoolean" in act and "setShowWhenLocked(true)" in act and "setTurnScreenOn(true)" in act


def test_scripts_are_strict_and_executable():
    for name in ("build_aar.sh", "build_apk.sh"):
        p = APP / "scripts" / name
        assert os.access(p, os.X_OK), f"{name} is not executable"
        assert "set -euo pipefail" in p.read_text("utf-8")


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (Debian package shellcheck)")
def test_scripts_pass_shellcheck():
    scripts = sorted(str(p) for p in [*(APP / "scripts").glob("*.sh"), *(APP / "jvm").glob("*.sh")])
    r = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# --- build_aar.sh --check, on a stand-in TF Text tree (no network, no Bazel, no SDK) -------

BUILD_AAR = APP / "scripts" / "build_aar.sh"
TFTEXT_PATCH = APP / "scripts" / "tftext-2.18.1.patch"


def _preimages(patch: str) -> dict:
    """The lines each hunk of a unified diff expects (context and removed lines), per file: enough
    of TF Text v2.18.1 for `git apply --check` (which tolerates offsets) without the real tree."""
    files: dict[str, list[str]] = {}
    current = None
    for line in patch.splitlines():
        if line.startswith("diff --git ") or line.startswith("--- "):
            current = None
        elif line.startswith("+++ "):
            current = None if line == "+++ /dev/null" else line[len("+++ b/"):]
        elif line.startswith("@@"):
            if current is not None and files.get(current):
                files[current].append("# between hunks")
        elif current is not None and line[:1] in (" ", "-"):
            files.setdefault(current, []).append(line[1:])
    return files


def _fake_tftext(root: Path, tag: str = "v2.18.1", tf_version: str = "2.18.0", change=None) -> Path:
    src = root / "text"
    for name, lines in _preimages(TFTEXT_PATCH.read_text("utf-8")).items():
        p = src / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(lines) + "\n")
    (src / "WORKSPACE").write_text(f'http_archive(\n    name = "org_tensorflow",\n    strip_prefix = "tensorflow-{tf_version}",\n)\n')
    if change:
        change(src)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "stand-in"], ["git", "tag", tag]):
        subprocess.run(cmd, cwd=src, check=True, env=env, capture_output=True)
    return src


def _check(tmp_path, src, **env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDROID_")}
    env.update(TFTEXT_SRC=str(src), AAR_WORK_DIR=str(tmp_path / "work"), MIN_FREE_GB="0", **env_extra)
    return subprocess.run(["bash", str(BUILD_AAR), "--check"], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_build_aar_check_reports_every_missing_prerequisite_and_checks_the_patch(tmp_path):
    src = _fake_tftext(tmp_path)
    r = _check(tmp_path, src, PATH=f"{tmp_path / 'nobin'}:/usr/bin:/bin")
    assert r.returncode == 1, r.stderr
    missing = [ln for ln in r.stderr.splitlines() if ln.startswith("build_aar: missing: ")]
    assert any("bazel on PATH" in ln for ln in missing), r.stderr
    assert any(ln.startswith("build_aar: missing: ANDROID_HOME") for ln in missing), r.stderr
    assert any(ln.startswith("build_aar: missing: ANDROID_NDK_HOME") for ln in missing), r.stderr
    assert "build_aar: patch tftext-2.18.1.patch applies to v2.18.1" in r.stderr
    assert "pins TensorFlow 2.18.0 = the app's declared runtime" in r.stderr
    assert f"--check: {len(missing)} problem(s); no build was attempted" in r.stderr
    assert not (src / "BUILD").exists(), "--check must not modify the tree"


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_build_aar_check_passes_with_every_prerequisite_present(tmp_path):
    src = _fake_tftext(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bazel").write_text("#!/bin/sh\necho 'bazel 6.5.0'\n")
    (bin_dir / "bazel").chmod(0o755)
    sdk, ndk = tmp_path / "sdk", tmp_path / "ndk"
    (sdk / "platforms" / "android-35").mkdir(parents=True)
    (sdk / "build-tools" / "35.0.0").mkdir(parents=True)
    ndk.mkdir()
    (ndk / "source.properties").write_text("Pkg.Desc = Android NDK\nPkg.Revision = 25.2.9519653\n")
    r = _check(tmp_path, src, PATH=f"{bin_dir}:{os.environ['PATH']}", ANDROID_HOME=str(sdk), ANDROID_NDK_HOME=str(ndk))
    if "missing: curl" in r.stderr or "missing: Python" in r.stderr:
        pytest.skip("this machine lacks curl or a Python 3.9-3.12 with venv: " + r.stderr)
    assert r.returncode == 0, r.stderr
    assert "--check: ready to build (TensorFlow 2.18.0, ABIs arm64-v8a,x86_64, NDK r25, SDK API 35, build-tools 35.0.0)" in r.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
@pytest.mark.parametrize("case", ["upstream changed tftext.bzl", "other TensorFlow", "not at the tag", "NDK r26"])
def test_build_aar_check_fails_loudly(tmp_path, case):
    ndk = tmp_path / "ndk"
    ndk.mkdir()
    (ndk / "source.properties").write_text(f"Pkg.Revision = {26 if case == 'NDK r26' else 25}.0.0\n")
    if case == "upstream changed tftext.bzl":
        def change(src):
            p = src / "tensorflow_text" / "tftext.bzl"
            p.write_text(p.read_text().replace("portable_tensorflow_lib_lite", "portable_tensorflow_lib"))
        src = _fake_tftext(tmp_path, change=change)
        expect = "does not apply to"
    elif case == "other TensorFlow":
        src = _fake_tftext(tmp_path, tf_version="2.18.1")
        expect = "wrong version: TF Text v2.18.1 pins TensorFlow '2.18.1', gradle.properties declares harness.tfliteRuntimeVersion=2.18.0"
    elif case == "not at the tag":
        src = _fake_tftext(tmp_path, tag="v2.17.0")
        expect = "is not at tag v2.18.1"
    else:
        src = _fake_tftext(tmp_path)
        expect = "missing: NDK r25 at ANDROID_NDK_HOME"
    r = _check(tmp_path, src, ANDROID_NDK_HOME=str(ndk))
    assert r.returncode == 1
    assert expect in r.stderr, r.stderr
