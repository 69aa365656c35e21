#!/usr/bin/env bash
# Set-up for the app's JVM build (jvm/pom.xml): fetches, once, everything the Maven build and its
# Robolectric tests need into the local Maven repository (~/.m2), so that tests run `mvn -o`
# (offline) and install nothing. Idempotent: a stamp keyed on pom.xml and this script.
#
#   - Debian's maven and a JDK 17 when missing (as root, with apt-get), and shellcheck (the app's
#     scripts are linted by tests/test_contract_examples.py when it is present);
#   - aars, which Maven cannot put on a class path, as their classes.jar under groupId harness.local:
#     org.tensorflow:tensorflow-lite-api and :tensorflow-lite (the compile-only TFLite Java classes;
#     no native library is used on the JVM), androidx.test:monitor and
#     androidx.test.espresso:espresso-idling-resource (Robolectric's own dependencies);
#   - org.robolectric:android-all-instrumented for API 35 (what Robolectric runs offline);
#   - every plugin and dependency of the build, by running it once online without tests.
#
# Usage: android/benchmark_app/jvm/setup.sh      (scripts/setup.sh calls it)
#   HARNESS_SKIP_APP_JVM=1  skip it (the JVM test then skips or fails with this reason)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
say() { echo "app-jvm setup: $*" >&2; }

if [ "${HARNESS_SKIP_APP_JVM:-0}" = "1" ]; then
  say "skipped (HARNESS_SKIP_APP_JVM=1)"
  exit 0
fi

apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing $*: install them (Debian: apt-get install $*)"
    return 1
  fi
  say "installing $* from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 || {
    apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1 || true
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null
  }
}

command -v java >/dev/null 2>&1 || apt_install openjdk-17-jdk-headless
command -v mvn >/dev/null 2>&1 || apt_install maven
command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck || true

pom="$here/pom.xml"
prop() { sed -n "s|.*<$1>\(.*\)</$1>.*|\1|p" "$pom" | head -n 1; }
# The <version> right after <artifactId>NAME</artifactId> in the pom.
prop_plugin() { sed -n "/<artifactId>$1<\/artifactId>/{n;s|.*<version>\(.*\)</version>.*|\1|p;}" "$pom" | head -n 1; }
repo=$(mvn -B -q help:evaluate -Dexpression=settings.localRepository -DforceStdout 2>/dev/null || true)
[ -n "$repo" ] && [ "${repo#/}" != "$repo" ] || repo="$HOME/.m2/repository"
key=$(cat "$pom" "$0" | sha256sum | cut -c1-16)
stamp="$repo/.harness-app-jvm-$key"
if [ -f "$stamp" ]; then
  exit 0
fi
say "fetching the Maven build's dependencies into $repo (first time: a few minutes, ~600 MB)"

mvn_q=(mvn -B -q -Dstyle.color=never -f "$pom")
get() { "${mvn_q[@]}" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get -Dtransitive=false "-Dartifact=$1"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# An aar's classes.jar, installed as a plain jar under harness.local:<name>:<version>.
install_aar_classes() {
  local group=$1 artifact=$2 version=$3 name=$4
  get "$group:$artifact:$version:aar"
  local aar
  aar="$repo/${group//.//}/$artifact/$version/$artifact-$version.aar"
  [ -f "$aar" ] || { say "not found after download: $aar"; exit 1; }
  rm -rf "$work/aar" && mkdir -p "$work/aar"
  (cd "$work/aar" && jar xf "$aar" classes.jar)
  [ -f "$work/aar/classes.jar" ] || { say "$aar has no classes.jar"; exit 1; }
  "${mvn_q[@]}" org.apache.maven.plugins:maven-install-plugin:3.1.3:install-file \
    -Dfile="$work/aar/classes.jar" -DgroupId=harness.local -DartifactId="$name" \
    -Dversion="$version" -Dpackaging=jar
}

install_aar_classes org.tensorflow tensorflow-lite-api "$(prop tflite.api.version)" tensorflow-lite-api-classes
install_aar_classes org.tensorflow tensorflow-lite "$(prop tflite.api.version)" tensorflow-lite-classes
install_aar_classes androidx.test monitor "$(prop androidx.test.monitor.version)" androidx-test-monitor-classes
install_aar_classes androidx.test.espresso espresso-idling-resource "$(prop espresso.idling.version)" espresso-idling-resource-classes

get "org.robolectric:android-all-instrumented:$(prop robolectric.sdk.jar)"

# Every plugin and dependency of the build (compile, test-compile, and the surefire plugin itself,
# which Maven loads only in the test phase: hence `test -DskipTests`) ...
if ! "${mvn_q[@]}" -Dharness.buildDir="$work/target" -DskipTests test >"$work/mvn.log" 2>&1; then
  tail -n 40 "$work/mvn.log" >&2
  say "the online Maven build failed"
  exit 1
fi
# ... and surefire's JUnit 4 provider, which surefire resolves only when it runs tests.
"${mvn_q[@]}" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get \
  "-Dartifact=org.apache.maven.surefire:surefire-junit4:$(prop_plugin maven-surefire-plugin)"
# Prove that the offline build resolves everything now: compile and run one small test class.
if ! "${mvn_q[@]}" -o -Dharness.buildDir="$work/target" test -Dtest=LogLinesTest >"$work/mvn-offline.log" 2>&1; then
  tail -n 40 "$work/mvn-offline.log" >&2
  say "the offline Maven build cannot resolve everything"
  exit 1
fi
rm -f "$repo"/.harness-app-jvm-*
touch "$stamp"
say "done"
