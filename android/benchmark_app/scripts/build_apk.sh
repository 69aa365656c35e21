#!/usr/bin/env bash
# Builds the benchmark APK with Gradle and prints its path as the LAST line of stdout
# (the harness's install step reads that line). Everything else goes to stderr.
#
# Needs: JDK 17, the Android SDK (ANDROID_HOME or local.properties' sdk.dir) with platform 35,
# network access to Google's Maven and Maven Central (first build), and app/libs/tensorflow-lite.aar
# plus app/libs/tftext_tflite_flex.aar from scripts/build_aar.sh (the app's TFLite runtime and its
# Flex delegate, one TensorFlow version). Uses ./gradlew when the wrapper jar exists, else `gradle`
# (8.9+; see docs/android.md for making the wrapper).
#
# Usage: scripts/build_apk.sh [release|debug]    (default release, signed with the debug key)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/.." && pwd)
variant="${1:-release}"
case "$variant" in
  release) task=assembleRelease; apk="$project/app/build/outputs/apk/release/app-release.apk" ;;
  debug) task=assembleDebug; apk="$project/app/build/outputs/apk/debug/app-debug.apk" ;;
  *) echo "build_apk: unknown variant '$variant' (release or debug)" >&2; exit 2 ;;
esac

die() { echo "build_apk: $*" >&2; exit 1; }

for aar in tensorflow-lite.aar tftext_tflite_flex.aar; do
  [ -f "$project/app/libs/$aar" ] || die "app/libs/$aar is missing: run scripts/build_aar.sh first"
done
if [ -z "${ANDROID_HOME:-${ANDROID_SDK_ROOT:-}}" ] && ! grep -qs '^sdk.dir=' "$project/local.properties"; then
  die "set ANDROID_HOME to the Android SDK (or write sdk.dir=... into $project/local.properties)"
fi
command -v java >/dev/null 2>&1 || die "a JDK 17 is required (java not found)"

cd "$project"
if [ -f gradle/wrapper/gradle-wrapper.jar ] && [ -x ./gradlew ]; then
  gradle_cmd=(./gradlew)
elif command -v gradle >/dev/null 2>&1; then
  gradle_cmd=(gradle)
else
  die "no Gradle: install Gradle 8.9+ and run 'gradle wrapper --gradle-version 8.10.2' in $project once"
fi

echo "build_apk: ${gradle_cmd[*]} $task" >&2
"${gradle_cmd[@]}" --no-daemon --console=plain "$task" >&2
[ -f "$apk" ] || die "Gradle finished but $apk is missing"
echo "$apk"
