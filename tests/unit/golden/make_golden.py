"""Build the golden schema-v1 result files used by tests/test_report.py and tests/test_compare.py.

Run ``python tests/golden/make_golden.py`` to rewrite ``tests/golden/results/``;
the output is deterministic (fixed seed, rounded values). The files exercise every
report warning: an emulated device, a synthetic model, a failed block, too few
samples, a high CV, throttled samples, early stops and an "fp16" variant whose
size and weight census equal fp32's (not really quantized).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent
RESULTS_DIR = GOLDEN_DIR / "results"
SEED = 7

PHONE = {"alias": "pixel7", "kind": "adb", "serial": "2B081FDH2001CQ",
         "fingerprint": "google/panther/panther:14/AP2A.240805.005/12025142:user/release-keys",
         "manufacturer": "Google", "model": "Pixel 7", "device": "panther", "soc": "Tensor G2",
         "abi": "arm64-v8a", "sdk": 34, "android_version": "14", "emulated": False}
EMULATOR = {"alias": "emu", "kind": "adb", "serial": "emulator-5554",
            "fingerprint": "google/sdk_gphone64_x86_64/emu64xa:14/UE1A.230829.036/1:userdebug/dev-keys",
            "manufacturer": "Google", "model": "sdk_gphone64_x86_64", "device": "emu64xa",
            "soc": "ranchu", "abi": "x86_64", "sdk": 34, "android_version": "14", "emulated": True}
APP = {"package": "dev.harness.bench", "version_name": "0.1.0", "version_code": 1,
       "runtime": "android-tflite", "tflite_version": "2.18.0"}

FP32_BYTES = 497_759_232
SIZES = {"fp32": FP32_BYTES, "dynamic": 131_203_072, "fp16": FP32_BYTES}
WEIGHTS = {"fp32": {"float32": 497_000_000},
           "dynamic": {"int8": 124_000_000, "float32": 6_500_000},
           "fp16": {"float32": 497_000_000}}
SPEED = {"fp32": 1.0, "dynamic": 0.62, "fp16": 0.97}


def _sample(rng, phase, index, wall_ms, max_length, *, thermal=0, stop_at=None, prefill=False, headroom=None):
    prompt_tokens = 6
    count = stop_at if stop_at is not None else max_length
    s = {"phase": phase, "index": index, "prompt_index": index % 2,
         "prompt_used": ["The weather today", "Once upon a time"][index % 2],
         "wall_ms": round(wall_ms, 1), "output_text": "lorem ipsum",
         "token_count": count, "prompt_token_count": prompt_tokens,
         "tokens_generated": count - prompt_tokens, "stopped_early": count < max_length,
         "thermal_status_before": thermal, "thermal_status_after": thermal,
         "battery_temp_c_before": 31.0, "battery_temp_c_after": 31.5}
    if headroom is not None:     # phones answer getThermalHeadroom; the emulated device does not
        s["thermal_headroom_before"] = s["thermal_headroom_after"] = 1.1 if thermal else headroom
    if prefill:
        s["prefill_ms"] = round(wall_ms * 0.08, 2)
        step = wall_ms * 0.92 / (count - prompt_tokens)
        s["decode_ms"] = [round(step * rng.uniform(0.95, 1.05), 2) for _ in range(count - prompt_tokens)]
        s["output_token_ids"] = list(range(count))
    return s


def _block(rng, device, source, synthetic, variant, export, max_length, threads, *,
           base_ms, runs, noise=0.01, thermal_from=None, stop_index=None, error=None, drift=None):
    bid = f"{device['alias']}/{variant}/L{max_length}/cw50/t{threads}"
    samples = []
    if error is None:
        prefill = export == "prefill_decode"
        median_ms = base_ms * SPEED[variant] * max_length / 64
        headroom = None if device["emulated"] else 0.35
        samples.append(_sample(rng, "warmup", 0, median_ms * 1.6, max_length, prefill=prefill, headroom=headroom))
        for i in range(runs):
            hot = 2 if thermal_from is not None and i >= thermal_from else 0
            stop = 40 if stop_index is not None and i == stop_index else None
            samples.append(_sample(rng, "measured", i, median_ms * rng.gauss(1.0, noise), max_length,
                                   thermal=hot, stop_at=stop, prefill=prefill, headroom=headroom))
    return {
        "block_id": bid, "status": "error" if error else "ok", "error": error,
        "started_at": "2026-11-25T14:45:10+00:00", "finished_at": "2026-11-25T14:46:10+00:00",
        "device": device, "app": APP,
        "model": {"source": source, "synthetic": synthetic, "variant": variant, "export": export,
                  "max_length": max_length,
                  "sha256": (variant[:2] + str(max_length)).ljust(64, "a"),
                  "size_bytes": SIZES[variant] if not synthetic else SIZES[variant] // 1000,
                  "conversion_id": f"conv-{variant}-{max_length}",
                  "weight_bytes_by_dtype": WEIGHTS[variant],
                  "op_counts": {"FULLY_CONNECTED": 48, "BATCH_MATMUL": 24, "SOFTMAX": 12}},
        "params": {"context_window_words": 50, "warmup_runs": 1, "measured_runs": runs,
                   "threads_requested": threads, "threads_used": threads,
                   "delegate_requested": "cpu", "delegate_used": "cpu", "prompts_sha256": "p" * 64},
        "load_ms": None if error else round(base_ms * 2.5 * SPEED[variant], 1),
        # Synthetic blocks come from an app that reports its memory before the load; the
        # others from one that does not (the field is optional).
        "memory": {"vmhwm_kb": None if error else int(SIZES[variant] / 1024 * 1.3) if not synthetic
                   else 90_000, "pss_kb": None,
                   **({"rss_before_load_kb": None if error else 40_000} if synthetic else {})},
        "env_before": {"thermal_status": 0, "battery_level": 90, "battery_temp_c": 31.0},
        "env_after": {"thermal_status": 0, "battery_level": 89, "battery_temp_c": 31.5},
        "samples": samples,
        "drift": drift,
    }


def _run(run_id, device, source, synthetic, export, max_lengths, threads, blocks, status):
    return {
        "schema_version": 2, "run_id": run_id, "status": status,
        "started_at": "2026-11-25T14:45:00+00:00", "finished_at": "2026-11-25T15:05:00+00:00",
        "harness": {"version": "0.1.0", "git_commit": "0123456789abcdef0123456789abcdef01234567"},
        "command": ["harness", "run", "--device", device["alias"]],
        "host": {"os": "Linux", "python": "3.11.7", "tensorflow": "2.18.1", "tensorflow_text": "2.18.1",
                 "keras_hub": "0.31.0", "cpu": "golden", "cpu_count": 2},
        "plan": {"model": source, "devices": [device["alias"]], "variants": ["fp32", "dynamic", "fp16"],
                 "export": export, "max_lengths": max_lengths, "context_windows": [50],
                 "threads": [threads], "warmup": 1, "runs": 6, "prompts_source": "builtin:en",
                 "prompts": ["The weather today", "Once upon a time"], "prompts_sha256": "p" * 64},
        "skipped": [],
        "blocks": blocks,
    }


def build() -> dict[str, dict]:
    rng = random.Random(SEED)
    phone_blocks = []
    for L in (64, 128):
        phone_blocks.append(_block(rng, PHONE, "preset:gpt2_base_en", False, "fp32", "oneshot", L, 4,
                                   base_ms=820.0, runs=6))
        phone_blocks.append(_block(rng, PHONE, "preset:gpt2_base_en", False, "dynamic", "oneshot", L, 4,
                                   base_ms=820.0, runs=6, noise=0.12 if L == 128 else 0.01,
                                   stop_index=2 if L == 64 else None,
                                   drift={"token_agreement": 0.94, "exact_match": 0.5}))
        phone_blocks.append(_block(rng, PHONE, "preset:gpt2_base_en", False, "fp16", "oneshot", L, 4,
                                   base_ms=820.0, runs=6, thermal_from=4 if L == 128 else None,
                                   drift={"token_agreement": 1.0, "exact_match": 1.0}))
    emu_blocks = [
        _block(rng, EMULATOR, "synthetic:tiny", True, "fp32", "prefill_decode", 64, 2, base_ms=40.0, runs=3),
        _block(rng, EMULATOR, "synthetic:tiny", True, "dynamic", "prefill_decode", 64, 2, base_ms=40.0, runs=3),
        _block(rng, EMULATOR, "synthetic:tiny", True, "fp16", "prefill_decode", 64, 2, base_ms=40.0, runs=3,
               error="emu: app exited with status 134 (Flex delegate not linked)"),
    ]
    return {
        "20261125T144500Z-phone1": _run("20261125T144500Z-phone1", PHONE, "preset:gpt2_base_en", False,
                                        "oneshot", [64, 128], 4, phone_blocks, "complete"),
        "20261125T150000Z-emu001": _run("20261125T150000Z-emu001", EMULATOR, "synthetic:tiny", True,
                                        "prefill_decode", [64], 2, emu_blocks, "failed"),
    }


def main() -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    for run_id, doc in build().items():
        (RESULTS_DIR / f"{run_id}.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
