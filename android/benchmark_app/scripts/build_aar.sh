#!/usr/bin/env bash
# Builds the two aars the app's TensorFlow Lite comes from, from ONE TensorFlow tree (the one
# TF Text's WORKSPACE pins), in one Bazel build, as TensorFlow's own
# tensorflow/lite/tools/build_aar.sh builds tensorflow-lite.aar and the select-tf-ops aar:
#
#   app/libs/tensorflow-lite.aar      @org_tensorflow//tensorflow/lite/java:tensorflow-lite
#                                     (Interpreter + libtensorflowlite_jni.so)
#   app/libs/tftext_tflite_flex.aar   //tensorflow_text:tftext_tflite_flex: the Flex delegate with
#                                     TF Text's kernels linked into libtensorflowlite_flex_jni.so
#
# A Flex delegate reaches into the interpreter's C++ internals (it casts context->impl_ to the
# Subgraph of its own TensorFlow version), so it must run in the runtime of the same version:
# no org.tensorflow:tensorflow-lite from Maven (docs/android.md, "One TensorFlow version").
#
# Steps: TF Text at $TFTEXT_TAG (v2.18.1, whose WORKSPACE pins TensorFlow 2.18.0); the committed
# patch scripts/tftext-2.18.1.patch (git apply --check, then git apply; it adds the
# tftext_tflite_flex target and TFLite's shim to tf_cc_library's mobile deps, as the runbook's
# tftext-2.12.patch did for 2.12); a Python venv for TF Text's oss_scripts/configure.sh (it
# pip-installs TensorFlow and curls TensorFlow r2.18's .bazelversion and .bazelrc); then one
# `bazel build --fat_apk_cpu=$ABIS` of both targets.
#
# The Android SDK and NDK reach Bazel only through the variables TensorFlow's
# third_party/android/android_configure.bzl reads (ANDROID_SDK_HOME, ANDROID_SDK_API_LEVEL,
# ANDROID_BUILD_TOOLS_VERSION, ANDROID_NDK_HOME, ANDROID_NDK_API_LEVEL, ANDROID_NDK_VERSION): that
# rule defines @androidsdk and @androidndk, so nothing is added to WORKSPACE (a second
# android_ndk_repository there is an error: "Cannot redefine repository after any load statement").
#
# Usage:
#   scripts/build_aar.sh            build both aars for arm64-v8a (phones) and x86_64 (emulators)
#   ABIS=x86_64 scripts/build_aar.sh    one ABI (CI's emulator)
#   scripts/build_aar.sh --check    everything but the build: the prerequisites (each missing one
#                                   on its own line), TF Text at the tag, `git apply --check` of
#                                   the patch and the TensorFlow version it pins; exit 1 if
#                                   anything is missing or wrong
# Environment:
#   ANDROID_HOME (or ANDROID_SDK_ROOT)  SDK with platforms/android-* and build-tools/*
#   ANDROID_NDK_HOME                    NDK r25 (sdkmanager 'ndk;25.2.9519653')
#   TFTEXT_SRC     an existing TF Text checkout at $TFTEXT_TAG to use instead of cloning one
#                  (a build applies the patch to it; --check does not modify it)
#   AAR_WORK_DIR   work directory (default app/build/aar-work): clone, venv, Bazel output links
#   MIN_FREE_GB    free disk required (default 40; the estimate for two ABIs, not measured here)
# Needs about 40 GB of disk and 16 GB of RAM; tens of minutes on a large machine, hours on a laptop.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
app_dir=$(cd "$here/.." && pwd)
TFTEXT_TAG="${TFTEXT_TAG:-v2.18.1}"
patch_file="$here/tftext-${TFTEXT_TAG#v}.patch"
ABIS="${ABIS:-arm64-v8a,x86_64}"
work="${AAR_WORK_DIR:-$app_dir/app/build/aar-work}"
libs="$app_dir/app/libs"
min_free_gb="${MIN_FREE_GB:-40}"

say() { echo "build_aar: $*" >&2; }
die() { say "$*"; exit 1; }

mode=build
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) die "unknown argument '$1' (usage: build_aar.sh [--check])" ;;
esac

# The TFLite runtime version the app declares (versionName +tflite-<version>).
runtime_version=$(sed -n 's/^harness\.tfliteRuntimeVersion=\(.*\)$/\1/p' "$app_dir/gradle.properties")
[ -n "$runtime_version" ] || die "no harness.tfliteRuntimeVersion in $app_dir/gradle.properties"

# --- prerequisites: every missing one on its own line --------------------------------------
missing=0
lack() { say "missing: $*"; missing=$((missing + 1)); }

command -v git >/dev/null 2>&1 || lack "git (Debian: apt-get install git)"
command -v curl >/dev/null 2>&1 ||
  lack "curl: TF Text's oss_scripts/configure.sh downloads TensorFlow r2.18's .bazelversion and .bazelrc with it"
if ! command -v bazel >/dev/null 2>&1; then
  lack "bazel on PATH: TF Text's configure.sh runs 'bazel' by that name; Bazelisk linked as 'bazel' in a directory on PATH works (https://github.com/bazelbuild/bazelisk/releases)"
fi

# Python 3.9-3.12 with venv: TF Text 2.18 has requirement lock files for those only, and
# configure.sh pip-installs TensorFlow, which needs a venv (PEP 668 refuses the system pip).
python=""
for c in python3.12 python3.11 python3.10 python3.9 python3; do
  if command -v "$c" >/dev/null 2>&1 &&
     "$c" -c 'import sys, venv, ensurepip; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null; then
    python=$(command -v "$c")
    break
  fi
done
[ -n "$python" ] ||
  lack "Python 3.9-3.12 with the venv module (Debian: apt-get install python3-venv): TF Text's configure.sh pip-installs TensorFlow into it"

sdk="${ANDROID_HOME:-${ANDROID_SDK_ROOT:-}}"
sdk_api="" build_tools=""
if [ -z "$sdk" ] || [ ! -d "$sdk" ]; then
  lack "ANDROID_HOME: the Android SDK (with platforms/android-* and build-tools/*; sdkmanager 'platforms;android-35' 'build-tools;35.0.0')"
else
  sdk_api=$(find "$sdk/platforms" -mindepth 1 -maxdepth 1 -name 'android-[0-9]*' -printf '%f\n' 2>/dev/null | sed 's/android-//' | sort -n | tail -n 1)
  build_tools=$(find "$sdk/build-tools" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
  [ -n "$sdk_api" ] || lack "an SDK platform in $sdk/platforms (sdkmanager 'platforms;android-35')"
  [ -n "$build_tools" ] || lack "SDK build-tools in $sdk/build-tools (sdkmanager 'build-tools;35.0.0')"
fi

ndk="${ANDROID_NDK_HOME:-}"
if [ -z "$ndk" ] || [ ! -f "$ndk/source.properties" ]; then
  lack "ANDROID_NDK_HOME: an Android NDK r25 (sdkmanager 'ndk;25.2.9519653'), the NDK TensorFlow 2.18 builds with"
else
  ndk_rev=$(sed -n 's/^Pkg.Revision *= *\([0-9]*\).*/\1/p' "$ndk/source.properties")
  [ "${ndk_rev:-0}" = 25 ] || lack "NDK r25 at ANDROID_NDK_HOME ($ndk is r${ndk_rev:-?}); TensorFlow 2.18 builds with r25"
fi

# Free disk where the work directory is (or will be): df on its nearest existing ancestor.
probe="$work"
while [ ! -d "$probe" ]; do probe=$(dirname "$probe"); done
avail_gb=$(df -Pk "$probe" | awk 'NR==2 {print int($4 / 1048576)}')
[ "${avail_gb:-0}" -ge "$min_free_gb" ] ||
  lack "disk: ${avail_gb:-0} GB free at $probe, the build needs about $min_free_gb GB (MIN_FREE_GB)"

IFS=, read -r -a abi_list <<<"$ABIS"
for abi in "${abi_list[@]}"; do
  case "$abi" in
    arm64-v8a | x86_64) ;;
    *) lack "a known ABI: '$abi' in ABIS=$ABIS (use arm64-v8a and/or x86_64, comma-separated)" ;;
  esac
done

# --- TF Text at the tag, and the patch -----------------------------------------------------
problems=$missing
src=""
if command -v git >/dev/null 2>&1; then
  if [ -n "${TFTEXT_SRC:-}" ]; then
    src=$(cd "$TFTEXT_SRC" && pwd)
  else
    src="$work/text"
    if [ ! -d "$src/.git" ]; then
      say "cloning tensorflow/text at $TFTEXT_TAG into $src"
      mkdir -p "$work"
      git clone -q --depth 1 --branch "$TFTEXT_TAG" https://github.com/tensorflow/text.git "$src" ||
        die "cannot clone tensorflow/text at $TFTEXT_TAG"
    fi
  fi
  head_commit=$(git -C "$src" rev-parse -q --verify 'HEAD^{commit}' || true)
  tag_commit=$(git -C "$src" rev-parse -q --verify "refs/tags/$TFTEXT_TAG^{commit}" || true)
  if [ -z "$tag_commit" ] || [ "$head_commit" != "$tag_commit" ]; then
    say "wrong source: $src is not at tag $TFTEXT_TAG (HEAD ${head_commit:-none}, tag ${tag_commit:-absent})"
    problems=$((problems + 1))
    src=""
  fi
fi

tf_version=""
if [ -n "$src" ]; then
  [ -f "$patch_file" ] || die "no patch for $TFTEXT_TAG: $patch_file"
  if git -C "$src" apply --check "$patch_file" 2>/dev/null; then
    patch_state=applies
    say "patch $(basename "$patch_file") applies to $TFTEXT_TAG ($src)"
  elif git -C "$src" apply --reverse --check "$patch_file" 2>/dev/null; then
    patch_state=applied
    say "patch $(basename "$patch_file") is already applied in $src"
  else
    git -C "$src" apply --check "$patch_file" || true
    say "wrong source: $(basename "$patch_file") does not apply to $src (output above)"
    patch_state=broken
    problems=$((problems + 1))
  fi
  # The TensorFlow tree both aars come from: the archive TF Text's WORKSPACE pins.
  tf_version=$(sed -n 's/.*strip_prefix = "tensorflow-\([0-9][0-9.]*\)".*/\1/p' "$src/WORKSPACE" | head -n 1)
  if [ "$tf_version" != "$runtime_version" ]; then
    say "wrong version: TF Text $TFTEXT_TAG pins TensorFlow '${tf_version:-?}', gradle.properties declares harness.tfliteRuntimeVersion=$runtime_version"
    problems=$((problems + 1))
  else
    say "TF Text $TFTEXT_TAG pins TensorFlow $tf_version = the app's declared runtime (harness.tfliteRuntimeVersion)"
  fi
fi

if [ "$mode" = check ]; then
  if [ "$problems" -gt 0 ]; then
    say "--check: $problems problem(s); no build was attempted"
    exit 1
  fi
  say "--check: ready to build (TensorFlow $tf_version, ABIs $ABIS, NDK r25, SDK API $sdk_api, build-tools $build_tools)"
  exit 0
fi
[ "$problems" -eq 0 ] || die "$problems problem(s) above; nothing was built"

# --- build -----------------------------------------------------------------------------------
if [ "$patch_state" = applies ]; then
  git -C "$src" apply "$patch_file"
  say "applied $(basename "$patch_file")"
fi

# A venv for configure.sh's `pip install tensorflow==...` (and `pip show`).
venv="$work/venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
# shellcheck disable=SC1091  # created just above
. "$venv/bin/activate"

# What TensorFlow's android_configure.bzl reads; it then defines @androidsdk and @androidndk.
# (ANDROID_SDK_HOME here is TensorFlow's name for the SDK root, not the SDK tools' .android dir.)
export ANDROID_HOME="$sdk"
export ANDROID_SDK_HOME="$sdk" ANDROID_SDK_API_LEVEL="$sdk_api" ANDROID_BUILD_TOOLS_VERSION="$build_tools"
export ANDROID_NDK_HOME="$ndk" ANDROID_NDK_API_LEVEL="${ANDROID_NDK_API_LEVEL:-21}" ANDROID_NDK_VERSION=25

cd "$src"
say "running TF Text's oss_scripts/configure.sh (pip-installs TensorFlow into $venv, fetches TF r2.18's .bazelversion/.bazelrc)"
# It has no `set -e`: its failures are checked by what it must leave behind.
bash oss_scripts/configure.sh >&2 || true
[ -s .bazelversion ] || die "configure.sh left no .bazelversion (it curls TensorFlow r2.18's): check the network and curl"
grep -qs '^build:android' .bazelrc || die "configure.sh left no TensorFlow .bazelrc with the android configs"
want_bazel=$(tr -d '[:space:]' <.bazelversion)
have_bazel=$(bazel --version | awk '{print $2}')
[ "$have_bazel" = "$want_bazel" ] ||
  die "bazel $have_bazel runs here, TensorFlow r2.18 wants $want_bazel (.bazelversion): use Bazelisk linked as 'bazel'"
say "bazel $have_bazel; building //tensorflow_text:tftext_tflite_flex and @org_tensorflow//tensorflow/lite/java:tensorflow-lite for $ABIS"

flex_target=//tensorflow_text:tftext_tflite_flex
runtime_target=@org_tensorflow//tensorflow/lite/java:tensorflow-lite
flags=(-c opt --cxxopt=--std=c++17 --config=monolithic "--fat_apk_cpu=$ABIS"
  --host_crosstool_top=@bazel_tools//tools/cpp:toolchain --experimental_repo_remote_exec)
bazel build "${flags[@]}" "$flex_target" "$runtime_target"

# Where Bazel put them (bazel-bin/external/org_tensorflow/... for the runtime).
mapfile -t outs < <(bazel cquery "${flags[@]}" --output=files "$flex_target" "$runtime_target" 2>/dev/null | grep '\.aar$')
[ "${#outs[@]}" -eq 2 ] || die "expected two aars from bazel cquery, got: ${outs[*]:-none}"

mkdir -p "$libs"
for out in "${outs[@]}"; do
  name=$(basename "$out")
  # Each aar must hold a native library for every ABI asked for.
  python - "$out" "${abi_list[@]}" <<'PY'
import sys, zipfile
aar, abis = sys.argv[1], sys.argv[2:]
names = zipfile.ZipFile(aar).namelist()
missing = [a for a in abis if not any(n.startswith(f"jni/{a}/") and n.endswith(".so") for n in names)]
if missing or "classes.jar" not in names:
    sys.exit(f"build_aar: {aar} lacks {'classes.jar' if 'classes.jar' not in names else ''} {' '.join('jni/' + a for a in missing)}")
PY
  cp -f "$out" "$libs/$name.tmp"
  mv -f "$libs/$name.tmp" "$libs/$name"
  say "wrote $libs/$name ($(du -h "$libs/$name" | cut -f1))"
done
say "done: TensorFlow $tf_version for $ABIS (versionName +tflite-$runtime_version)"
echo "$libs/tensorflow-lite.aar"
echo "$libs/tftext_tflite_flex.aar"
