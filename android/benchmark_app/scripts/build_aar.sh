#!/usr/bin/env bash
# Builds app/libs/tftext_tflite_flex.aar: the Flex delegate (Select TF ops) with the TensorFlow
# Text kernels linked in, for arm64-v8a (phones) AND x86_64 (emulators), as one aar.
#
# It follows the runbook's app/libs/build_aar/build_aar.sh (tensorflow/examples,
# lite/examples/generative_ai/android), which builds x86_64 only and from TF Text 2.12. Here:
#   - TensorFlow Text at tag v2.18.1, matching the host's converter (TensorFlow 2.18.1);
#   - the same two additions to TF Text's Bazel files (a tflite_flex_android_library over
#     TF Text's ops_lib plus the flex delegate, wrapped by aar_with_jni), made by this script;
#   - one Bazel build per ABI (--config=android_arm64, --config=android_x86_64), then the two
#     aars are merged into one (same classes.jar; jni/<abi>/ from each).
#
# Needs (checked below):
#   - git, python3, unzip/zip not required (python3 merges), ~40 GB free disk, 16+ GB RAM;
#   - Bazelisk (preferred: it reads TF Text's .bazelversion) or Bazel of exactly that version;
#   - Android SDK at $ANDROID_HOME (or $ANDROID_SDK_ROOT) with a build-tools and a platform;
#   - Android NDK r25 (r25b/r25c are what TensorFlow 2.18 builds with) at $ANDROID_NDK_HOME.
# Time: tens of minutes per ABI on a fast 16-core machine, hours on a laptop; the Bazel cache
# makes the second ABI and later runs faster.
#
# Usage: scripts/build_aar.sh            (work tree in $AAR_WORK_DIR, default app/build/aar-work)
#        TFTEXT_TAG=v2.18.1 ABIS="arm64 x86_64" scripts/build_aar.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
app_dir=$(cd "$here/.." && pwd)
TFTEXT_TAG="${TFTEXT_TAG:-v2.18.1}"
ABIS="${ABIS:-arm64 x86_64}"
work="${AAR_WORK_DIR:-$app_dir/app/build/aar-work}"
out_aar="$app_dir/app/libs/tftext_tflite_flex.aar"

die() { echo "build_aar: $*" >&2; exit 1; }
say() { echo "build_aar: $*" >&2; }

# --- prerequisites -------------------------------------------------------------------------
command -v git >/dev/null 2>&1 || die "git is required"
command -v python3 >/dev/null 2>&1 || die "python3 is required (TF Text's configure script and the aar merge use it)"

if command -v bazelisk >/dev/null 2>&1; then
  BAZEL=bazelisk
elif command -v bazel >/dev/null 2>&1; then
  BAZEL=bazel
else
  die "Bazelisk (or Bazel) is required: https://github.com/bazelbuild/bazelisk/releases - it picks the Bazel version from TF Text's .bazelversion"
fi

sdk="${ANDROID_HOME:-${ANDROID_SDK_ROOT:-}}"
if [ -z "$sdk" ] || [ ! -d "$sdk" ]; then
  die "set ANDROID_HOME to the Android SDK (with platforms/ and build-tools/)"
fi
if [ ! -d "$sdk/build-tools" ] || [ ! -d "$sdk/platforms" ]; then
  die "$sdk has no build-tools/ or platforms/: install them with sdkmanager 'build-tools;34.0.0' 'platforms;android-34'"
fi
ndk="${ANDROID_NDK_HOME:-}"
if [ -z "$ndk" ] || [ ! -f "$ndk/source.properties" ]; then
  die "set ANDROID_NDK_HOME to an Android NDK r25 (sdkmanager 'ndk;25.2.9519653')"
fi
ndk_rev=$(sed -n 's/^Pkg.Revision *= *\([0-9]*\).*/\1/p' "$ndk/source.properties")
[ -n "$ndk_rev" ] || die "cannot read the NDK version from $ndk/source.properties"
if [ "$ndk_rev" -lt 25 ]; then
  die "NDK r$ndk_rev is too old: TensorFlow 2.18 needs r25 (r25b or r25c)"
elif [ "$ndk_rev" -gt 25 ]; then
  say "warning: NDK r$ndk_rev is newer than r25, the version TensorFlow 2.18 is built with; if the build fails, use r25c"
fi
export ANDROID_HOME="$sdk" ANDROID_SDK_HOME="$sdk" ANDROID_NDK_HOME="$ndk"
export ANDROID_NDK_API_LEVEL="${ANDROID_NDK_API_LEVEL:-21}"
export ANDROID_BUILD_TOOLS_VERSION="${ANDROID_BUILD_TOOLS_VERSION:-$(find "$sdk/build-tools" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)}"
export ANDROID_API_LEVEL="${ANDROID_API_LEVEL:-$(find "$sdk/platforms" -mindepth 1 -maxdepth 1 -name 'android-*' -printf '%f\n' | sed 's/android-//' | sort -n | tail -n 1)}"

avail_gb=$(df -Pk "$(dirname "$work")" 2>/dev/null | awk 'NR==2 {print int($4/1048576)}' || echo 0)
if [ "${avail_gb:-0}" -lt 40 ]; then
  say "warning: only ${avail_gb} GB free near $work; a TensorFlow Android build needs about 40 GB"
fi

say "TF Text $TFTEXT_TAG, ABIs: $ABIS, NDK r$ndk_rev, build-tools $ANDROID_BUILD_TOOLS_VERSION, API $ANDROID_API_LEVEL"
say "this takes tens of minutes per ABI on a big machine (hours on a laptop) and tens of GB of disk"

# --- source --------------------------------------------------------------------------------
mkdir -p "$work"
src="$work/text"
if [ ! -d "$src/.git" ]; then
  git clone --depth 1 --branch "$TFTEXT_TAG" https://github.com/tensorflow/text.git "$src"
fi
cd "$src"
have_tag=$(git describe --tags --exact-match 2>/dev/null || true)
[ "$have_tag" = "$TFTEXT_TAG" ] || die "$src is at '${have_tag:-unknown}', not $TFTEXT_TAG; remove it or set AAR_WORK_DIR"
if [ -f .bazelversion ]; then
  say "TF Text wants Bazel $(cat .bazelversion)"
  if [ "$BAZEL" = bazel ]; then
    have_bazel=$(bazel --version | awk '{print $2}')
    [ "$have_bazel" = "$(cat .bazelversion)" ] || die "bazel $have_bazel installed, TF Text $TFTEXT_TAG wants $(cat .bazelversion): install Bazelisk"
  fi
fi

# --- the runbook's additions, applied idempotently ----------------------------------------
[ -f BUILD ] || echo 'exports_files(["LICENSE"])' > BUILD
python3 - <<'PY'
import re
from pathlib import Path

build = Path("tensorflow_text/BUILD")
text = build.read_text()
loads = [
    'load("@org_tensorflow//tensorflow/lite/delegates/flex:build_def.bzl", "tflite_flex_android_library")',
    'load("@org_tensorflow//tensorflow/lite/java:aar_with_jni.bzl", "aar_with_jni")',
]
if "tftext_tflite_flex" not in text:
    text = "\n".join(loads) + "\n" + text + '''
# Added by android/benchmark_app/scripts/build_aar.sh (as the runbook's tftext-2.12.patch does).
tflite_flex_android_library(
    name = "tftext_ops",
    additional_deps = [
        "@org_tensorflow//tensorflow/lite/delegates/flex:delegate",
        ":ops_lib",
    ],
    visibility = ["//visibility:public"],
)

aar_with_jni(
    name = "tftext_tflite_flex",
    android_library = ":tftext_ops",
)
'''
    build.write_text(text)

bzl = Path("tensorflow_text/tftext.bzl")
t = bzl.read_text()
shim = '"@org_tensorflow//tensorflow/lite/kernels/shim:tf_op_shim",'
anchor = '"@org_tensorflow//tensorflow/core:portable_tensorflow_lib_lite",'
if shim not in t:
    if anchor not in t:
        raise SystemExit("build_aar: tftext.bzl has no portable_tensorflow_lib_lite dependency to extend; check the TF Text version")
    t = t.replace(anchor, anchor + "\n            " + shim, 1)
    bzl.write_text(t)

ws = Path("WORKSPACE")
w = ws.read_text()
if not re.search(r"^android_sdk_repository\(", w, re.M):
    w += '\nandroid_sdk_repository(name = "androidsdk")\n'
if not re.search(r"^android_ndk_repository\(", w, re.M):
    w += '\nandroid_ndk_repository(\n    name = "androidndk",\n    api_level = 21,\n)\n'
ws.write_text(w)
PY

# TF Text's configure writes .bazelrc settings for the TensorFlow it builds against.
./oss_scripts/configure.sh

# --- one build per ABI ---------------------------------------------------------------------
mkdir -p "$work/out"
for abi in $ABIS; do
  case "$abi" in
    arm64) config=android_arm64 ;;
    x86_64) config=android_x86_64 ;;
    *) die "unknown ABI '$abi' (use arm64 and/or x86_64)" ;;
  esac
  say "bazel build --config=$config //tensorflow_text:tftext_tflite_flex"
  "$BAZEL" build -c opt --cxxopt=-std=c++17 --config=monolithic --config="$config" \
    --experimental_repo_remote_exec //tensorflow_text:tftext_tflite_flex
  cp -f bazel-bin/tensorflow_text/tftext_tflite_flex.aar "$work/out/$abi.aar"
done

# --- merge into one aar --------------------------------------------------------------------
mkdir -p "$(dirname "$out_aar")"
# shellcheck disable=SC2086  # ABIS is a word list on purpose
python3 - "$out_aar" $ABIS <<PY
import sys, zipfile
out, abis = sys.argv[1], sys.argv[2:]
parts = ["$work/out/%s.aar" % a for a in abis]
seen = set()
with zipfile.ZipFile(out + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
    for p in parts:
        with zipfile.ZipFile(p) as src:
            for info in src.infolist():
                if info.filename in seen:
                    continue  # classes.jar, AndroidManifest.xml, R.txt: the same in every part
                seen.add(info.filename)
                z.writestr(info, src.read(info.filename))
jni = sorted({n.split("/")[1] for n in seen if n.startswith("jni/") and n.count("/") >= 2})
print("build_aar: native ABIs in the aar:", ", ".join(jni), file=sys.stderr)
want = {"arm64": "arm64-v8a", "x86_64": "x86_64"}
missing = [want[a] for a in abis if want[a] not in jni]
if missing:
    sys.exit("build_aar: merged aar lacks " + ", ".join(missing))
import os
os.replace(out + ".tmp", out)
PY
say "done"
echo "$out_aar"
