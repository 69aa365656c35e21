#!/usr/bin/env bash
# Compiles the app's pure-Kotlin logic (app/src/main/kotlin/dev/harness/benchmark/core) and its
# JUnit 4 tests (app/src/test/kotlin) with Debian's kotlinc and runs them on the JVM: no Gradle,
# no Android SDK, no Maven repository. The Android-only classes (the activity, the TFLite engine)
# are not compiled here; `./gradlew testDebugUnitTest` runs the same tests with the real toolchain.
#
# Needs: java (17), kotlinc, junit4, hamcrest and org.json. Missing ones are installed from Debian
# (packages kotlin, junit4, libhamcrest-java, libandroid-json-java) when running as root with apt;
# set HARNESS_NO_APT=1 to forbid that. Exit status 3 means "tools unavailable" (not a test failure).
#
# Environment:
#   JVM_TEST_OUTPUT  directory where SessionTest leaves the result files it produced (optional)
#   JVM_BUILD_DIR    build directory (default: a fresh temporary directory)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
app_dir=$(cd "$here/.." && pwd)
repo_root=$(cd "$app_dir/../.." && pwd)
examples="$repo_root/harness/data/contract/examples"

JUNIT_JAR=/usr/share/java/junit4.jar
HAMCREST_JAR=/usr/share/java/hamcrest-core.jar
JSON_JAR=/usr/share/java/com.android.json.jar   # Android's own org.json, as on the device
STDLIB_JAR=/usr/share/java/kotlin-stdlib.jar

have_all() {
  command -v java >/dev/null 2>&1 && command -v kotlinc >/dev/null 2>&1 &&
    [ -f "$JUNIT_JAR" ] && [ -f "$HAMCREST_JAR" ] && [ -f "$JSON_JAR" ] && [ -f "$STDLIB_JAR" ]
}

if ! have_all; then
  if [ "${HARNESS_NO_APT:-0}" = "1" ]; then
    echo "jvm_unit_tests: kotlinc/junit4/org.json missing and HARNESS_NO_APT=1" >&2
    exit 3
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "jvm_unit_tests: need Debian packages kotlin junit4 libhamcrest-java libandroid-json-java (run as root, or install them)" >&2
    exit 3
  fi
  echo "jvm_unit_tests: installing kotlin junit4 libhamcrest-java libandroid-json-java from Debian (first time: a minute or two)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # apt-get may be busy (another install running): wait for its lock up to 5 minutes.
  if ! apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
      kotlin junit4 libhamcrest-java libandroid-json-java >/dev/null; then
    apt-get -o DPkg::Lock::Timeout=300 update -qq || true
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
      kotlin junit4 libhamcrest-java libandroid-json-java >/dev/null ||
      { echo "jvm_unit_tests: could not install the Kotlin compiler from Debian" >&2; exit 3; }
  fi
  have_all || { echo "jvm_unit_tests: tools still missing after install" >&2; exit 3; }
fi

build="${JVM_BUILD_DIR:-$(mktemp -d)}"
mkdir -p "$build/classes"
cp_compile="$JUNIT_JAR:$HAMCREST_JAR:$JSON_JAR"

mapfile -t sources < <(find "$app_dir/app/src/main/kotlin/dev/harness/benchmark/core" \
  "$app_dir/app/src/test/kotlin" -name '*.kt' | sort)
echo "jvm_unit_tests: compiling ${#sources[@]} Kotlin files with $(kotlinc -version 2>&1 | grep -o 'kotlinc-jvm [^ ]*' || echo kotlinc)" >&2
# kotlinc's launcher prints a JDK deprecation notice about -noverify; drop that line only.
rc=0
kotlinc -nowarn -jvm-target 1.8 -cp "$cp_compile" -d "$build/classes" "${sources[@]}" \
  >"$build/kotlinc.log" 2>&1 || rc=$?
grep -v 'Options -Xverify:none and -noverify were deprecated' "$build/kotlinc.log" >&2 || true
[ "$rc" -eq 0 ] || { echo "jvm_unit_tests: compilation failed (kotlinc exit $rc)" >&2; exit 1; }

mapfile -t tests < <(cd "$build/classes" && find . -name '*Test.class' ! -name '*$*' |
  sed -e 's|^\./||' -e 's|\.class$||' -e 's|/|.|g' | sort)
[ "${#tests[@]}" -gt 0 ] || { echo "jvm_unit_tests: no test classes found" >&2; exit 1; }

props=(-Dharness.contractExamples="$examples")
if [ -n "${JVM_TEST_OUTPUT:-}" ]; then
  mkdir -p "$JVM_TEST_OUTPUT"
  props+=(-Dharness.jvmTestOutput="$JVM_TEST_OUTPUT")
fi
exec java "${props[@]}" -cp "$build/classes:$STDLIB_JAR:$cp_compile" org.junit.runner.JUnitCore "${tests[@]}"
