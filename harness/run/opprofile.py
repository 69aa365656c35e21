"""The per-op profile of a run's host blocks (``harness run --op-profile``): where each call's time goes.

After the run, every ok block measured on a ``host`` device is profiled again on this host
with the block's own model file (from the conversion cache, checked by sha256), thread
count and prompts (after the context window), through TFLite's own profiler events
(``harness.devices.host.op_profile``). The profile is stored as the block's
``op_profile``: per phase (``prefill`` and ``decode`` for the prefill/decode export,
``generate`` for the one-shot graph) a list of ``{op, count, ms}`` per call, largest
first, with the phase's wall time per call beside the ops' sum. Blocks from phones are
left alone: the Android TFLite Java API has no op profiler (docs/benchmarks.md).
"""
from __future__ import annotations

from pathlib import Path

from harness import contract, paths
from harness.files import sha256_file


def profile_oneshot(model_path: Path, threads: int, prompts: list[str], runs: int = 1,
                    delegate: str = contract.DELEGATE_DEFAULT) -> dict:
    """Per-op profile of the one-shot graph (Flex + TF Text): one phase, ``generate``."""
    import time

    import numpy as np
    import tensorflow_text as tf_text
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

    from harness.devices.host.generate import op_resolver
    from harness.devices.host.op_profile import OpProfiler

    interpreter = InterpreterWithCustomOps(model_path=str(model_path), num_threads=threads,
                                           custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS,
                                           experimental_op_resolver_type=op_resolver(delegate))
    prof = OpProfiler().attach(interpreter)
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner("serving_default")
    runner(prompt=np.array(prompts[0].encode("utf-8")))
    prof.clear()
    wall = 0
    calls = runs * len(prompts)
    for i in range(calls):
        t0 = time.perf_counter_ns()
        runner(prompt=np.array(prompts[i % len(prompts)].encode("utf-8")))
        wall += time.perf_counter_ns() - t0
    rows = prof.summary(invokes=calls)
    return {"threads": threads, "delegate": delegate, "device": "host", "callback_overhead_us": round(prof.callback_overhead_us, 3),
            "source": "tflite profiler events (harness.devices.host.op_profile)", "generate": rows,
            "generate_calls": calls, "generate_wall_ms": round(wall / 1e6 / calls, 4),
            "generate_ops_ms": round(sum(r["ms"] for r in rows), 4)}


def measure_run(rec, source, *, cache: Path | None = None, progress=None) -> dict:
    """Profile every ok host block of the run; store each as the block's ``op_profile``."""
    from harness.contract import apply_context_window
    from harness.devices.host.op_profile import profile_prefill_decode
    from harness.model.tokens import PromptTokenIds
    from harness.run.plan import Cell

    progress = progress or (lambda _m: None)
    cache = cache or paths.cache_root()
    prompts = rec.doc.plan["prompts"]
    tokens = PromptTokenIds(source)
    done: dict[tuple, dict] = {}
    out = {}
    for b in rec.doc.blocks:
        if not b.ok or b.device.get("kind") != "host":
            continue
        threads = int(b.params.get("threads_used") or b.params.get("threads_requested") or 1)
        cw = b.params.get("context_window_words")
        delegate = b.delegate
        key = (b.model["conversion_id"], threads, cw, delegate)
        if key not in done:
            path = cache / "models" / b.model["conversion_id"] / "model.tflite"
            progress(f"op profile {b.model['variant']} (max length {b.model['max_length']}, {threads} thread(s), "
                     f"{delegate})")
            try:
                if not path.is_file() or sha256_file(path) != b.model["sha256"]:
                    raise FileNotFoundError(f"{path} is not the file this block measured")
                if b.model["export"] == "oneshot":
                    done[key] = profile_oneshot(path, threads, [apply_context_window(p, cw) for p in prompts],
                                                delegate=delegate)
                else:
                    ids = tokens(Cell(b.model["variant"], b.model["max_length"], cw, threads), prompts)
                    done[key] = profile_prefill_decode(path, b.model["max_length"], threads, ids, delegate=delegate)
            except Exception as e:  # noqa: BLE001 -- recorded; the run's timings stay valid
                done[key] = {"error": f"{type(e).__name__}: {e}"[:500]}
        out[b.block_id] = done[key]
    rec.set_op_profile(out)
    return out
