"""The benchmark app's Kotlin code compiled and run on the JVM, with Maven, offline.

``android/benchmark_app/jvm/pom.xml`` compiles every file under ``app/src/main/kotlin`` (the
activity, the platform, the TFLite engine, ``core/``) with the Kotlin compiler against Robolectric's
android-all (Android 15, API 35) and TFLite's Java classes, then runs every test under
``app/src/test/kotlin``: JUnit tests of ``core/`` and Robolectric tests that start
``BenchmarkActivity`` the way the host's ``am start`` does, with a fake engine.
``android/benchmark_app/jvm/setup.sh`` (called by ``scripts/setup.sh``) fetched everything
beforehand; this test runs Maven with ``-o`` and installs nothing.

The result files the Kotlin tests write are validated here against the contract's JSON Schema,
and the logcat lines the Robolectric tests captured are parsed with the host's own parser.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import contract

# One Maven build for the module: under pytest-xdist its tests stay on one worker.
pytestmark = pytest.mark.xdist_group("app-jvm")

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "android" / "benchmark_app"
POM = APP / "jvm" / "pom.xml"
MAIN = APP / "app" / "src" / "main" / "kotlin"

# Test classes that must have run (a renamed or silently skipped class fails the test).
REQUIRED_TEST_CLASSES = {
    "dev.harness.benchmark.BenchmarkActivityTest",
    "dev.harness.benchmark.AndroidPlatformTest",
    "dev.harness.benchmark.core.SessionTest",
    "dev.harness.benchmark.core.PrefillDecodeTest",
    "dev.harness.benchmark.core.SpecParserTest",
    "dev.harness.benchmark.core.ResultTest",
    "dev.harness.benchmark.core.LogLinesTest",
    "dev.harness.benchmark.core.ContextWindowTest",
}


def _tail(text: str, n: int = 80) -> str:
    return "\n".join(text.splitlines()[-n:])


@pytest.fixture(scope="module")
def maven_run(tmp_path_factory):
    mvn, java = shutil.which("mvn"), shutil.which("java")
    if not mvn or not java:
        pytest.skip("mvn or java is not installed (android/benchmark_app/jvm/setup.sh installs them)")
    tmp = tmp_path_factory.mktemp("app-jvm")
    build, out = tmp / "build", tmp / "results"
    cmd = [mvn, "-o", "-B", "-f", str(POM), f"-Dharness.buildDir={build}",
           f"-Dharness.jvmTestOutput={out}", "test"]
    env = {k: v for k, v in os.environ.items() if k != "MAVEN_OPTS"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"mvn {' '.join(cmd[1:])} failed (exit {r.returncode}):\n{_tail(r.stdout + r.stderr)}"
    return build, out, r.stdout


def test_every_app_source_file_is_compiled(maven_run):
    build, _, _ = maven_run
    classes = build / "classes"
    sources = sorted(MAIN.rglob("*.kt"))
    assert len(sources) >= 10, sources
    for src in sources:
        pkg_dir = classes / src.parent.relative_to(MAIN)
        text = src.read_text("utf-8")
        # Every top-level class, object and interface the file declares, and Kotlin's <Name>Kt
        # facade when it has top-level functions or properties.
        expected = re.findall(r"^(?:(?:data|private|internal|abstract|open)\s+)*(?:class|object|interface)\s+(\w+)", text, re.M)
        if re.search(r"^(?:(?:private|internal)\s+)?(?:fun|val|const val)\s", text, re.M):
            expected.append(src.stem + "Kt")
        assert expected, f"{src.name}: declares nothing?"
        for name in expected:
            assert (pkg_dir / f"{name}.class").is_file(), f"{src.name}: {name}.class not compiled into {pkg_dir}"
    for name in ("BenchmarkActivity", "AndroidPlatform", "TfliteEngine", "BuildConfig"):
        assert (classes / "dev" / "harness" / "benchmark" / f"{name}.class").is_file(), name


def test_generated_buildconfig_matches_the_gradle_values_and_the_host(maven_run):
    build, _, _ = maven_run
    text = (build / "generated-sources" / "buildconfig" / "dev" / "harness" / "benchmark" / "BuildConfig.kt").read_text()
    assert f'APPLICATION_ID: String = "{contract.APP_PACKAGE}"' in text
    assert f"VERSION_CODE: Int = {contract.APP_VERSION_CODE}" in text
    assert f'VERSION_NAME: String = "{contract.APP_VERSION_NAME}"' in text


def test_all_jvm_tests_ran_and_passed(maven_run):
    build, _, stdout = maven_run
    reports = sorted((build / "surefire-reports").glob("TEST-*.xml"))
    assert reports, _tail(stdout)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    ran = set()
    for p in reports:
        suite = ET.parse(p).getroot()
        ran.add(suite.get("name"))
        for k in totals:
            totals[k] += int(suite.get(k, "0"))
    assert REQUIRED_TEST_CLASSES <= ran, f"did not run: {sorted(REQUIRED_TEST_CLASSES - ran)}"
    assert totals["failures"] == totals["errors"] == 0, (totals, _tail(stdout))
    assert totals["skipped"] == 0, totals
    assert totals["tests"] >= 50, totals


def test_result_files_written_by_the_kotlin_tests_follow_the_schema(maven_run):
    _, out, _ = maven_run
    produced = sorted(out.glob("*.json"))
    assert len(produced) >= 12, produced
    statuses, exports = set(), set()
    for p in produced:
        doc = json.loads(p.read_text("utf-8"))
        try:
            contract.validate_result(doc)
        except contract.ContractError as e:
            pytest.fail(f"{p.name}: {e}")
        statuses.add(doc["status"])
        for g in doc["generations"]:
            exports.add("prefill_decode" if g["prefill_ms"] is not None else "oneshot")
    assert statuses == {"ok", "error"}
    assert exports == {"oneshot", "prefill_decode"}
    # The activity's own results (Robolectric) are among them.
    assert any(p.name.startswith("robo-") for p in produced), produced


def test_logcat_lines_captured_by_robolectric_parse_with_the_host_parser(maven_run):
    """BenchmarkActivityTest leaves the HarnessBench lines it read from ShadowLog in
    <run_id>.logcat; the host's parser (harness.contract) must find every progress line and the
    done line in them, as it does in `logcat -s HarnessBench` output."""
    _, out, _ = maven_run
    logs = sorted(out.glob("*.logcat"))
    assert logs, "BenchmarkActivityTest left no logcat capture"
    for p in logs:
        run_id = p.name[: -len(".logcat")]
        text = p.read_text("utf-8")
        result = json.loads((out / f"{run_id}.json").read_text("utf-8"))
        assert contract.find_done(text, run_id) == result["status"], p.name
        assert contract.count_progress(text, run_id) == len(result["generations"]), p.name
        assert re.search(rf"^HARNESS_START run_id={re.escape(run_id)}$", text, re.M), p.name
