"""The TensorFlow side of conversion, run in a fresh process per step.

``python -m harness.convert_worker export ...`` builds the model and saves the serving
graph as a SavedModel whose weights stay variables; ``... convert ...`` turns that
SavedModel into one .tflite variant, letting the converter freeze the weights. One
process per step keeps peak memory at what that step needs (FINDINGS §3a: 2.7–3.5 GiB
on the GPT-2 base shape instead of ~15 GiB for freeze-first), and lets the parent
report each step's own peak.

Each command prints one JSON line on stdout as its last line: what it did, its wall
time and its peak resident memory. Errors are printed as ``{"error": "..."}``, exit 3.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _greedy_logits_sampler():
    """Greedy sampling on raw logits: same argmax as softmax in float, and it survives
    full-integer quantization (a softmax over 50k words quantized to int8 saturates and
    makes every token id 0, FINDINGS §3b)."""
    import keras
    import keras_hub

    class GreedyLogitsSampler(keras_hub.samplers.GreedySampler):
        def compute_probabilities(self, logits):
            return keras.ops.cast(logits, "float32")

    return GreedyLogitsSampler()


def build_oneshot_module(causal_lm, max_length: int):
    """The runbook's graph: scalar string prompt -> tokenizer -> greedy loop -> detokenizer.

    Outputs ``text`` (prompt and continuation), ``token_count`` and ``prompt_token_count``.
    Generation always runs to ``max_length`` (no stop token), so every variant does the
    same work and latencies compare.
    """
    import tensorflow as tf

    causal_lm.compile(sampler=_greedy_logits_sampler())
    preprocessor = causal_lm.preprocessor
    tokenizer = preprocessor.tokenizer

    class OneShot(tf.Module):
        def __init__(self):
            super().__init__()
            self.preprocessor = preprocessor          # tracks the tokenizer's tables
            # Track the weights as variables: the converter freezes them (light on memory).
            self.weights_ = [v.value for v in causal_lm.variables]

        @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="prompt")])
        def serve(self, prompt):
            x = preprocessor.generate_preprocess(tf.reshape(prompt, [1]), sequence_length=max_length)
            out = causal_lm.generate_step(x, stop_token_ids=None)
            ids = tf.reshape(out["token_ids"], [1, max_length])
            mask = tf.reshape(out["padding_mask"], [1, max_length])
            text = tokenizer.detokenize(tf.ragged.boolean_mask(ids, mask))
            return {
                "text": tf.reshape(text, []),
                "token_count": tf.reduce_sum(tf.cast(mask, tf.int32)),
                "prompt_token_count": tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32)),
            }

    return OneShot()


def cmd_export(args) -> dict:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

    from harness import models

    source = models.ModelSource(**json.loads(args.source_json))
    t0 = time.monotonic()
    causal_lm = models.load(source)
    limit = causal_lm.backbone.max_sequence_length
    if args.max_length > limit:
        raise SystemExit(_fail(f"max length {args.max_length} exceeds the model's {limit} positions"))
    if args.export == "oneshot":
        module = build_oneshot_module(causal_lm, args.max_length)
        signatures = {"serving_default": module.serve.get_concrete_function()}
        tf.saved_model.save(module, args.out, signatures=signatures)
    elif args.export == "prefill_decode":
        from harness import decode_export

        decode_export.export(causal_lm, args.max_length, args.out, stateful=args.stateful)
    else:
        raise SystemExit(_fail(f"unknown export {args.export!r}"))
    return {
        "wall_s": time.monotonic() - t0,
        "peak_rss_kb": _peak_rss_kb(),
        "parameters": int(causal_lm.count_params()),
        "vocabulary_size": int(causal_lm.backbone.vocabulary_size),
        "max_sequence_length": int(limit),
    }


def cmd_convert(args) -> dict:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the converter needs the TF Text ops registered)

    from harness import variants

    prompts = json.loads(args.prompts_json) if args.prompts_json else None
    t0 = time.monotonic()
    signature_keys = args.signature_keys.split(",") if args.signature_keys else None
    converter = tf.lite.TFLiteConverter.from_saved_model(args.saved_model, signature_keys=signature_keys)
    variants.configure(converter, args.variant, prompts, export=args.export)
    flatbuffer = converter.convert()
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(flatbuffer)
    if args.export == "prefill_decode":   # weights silently missing is a failure (FINDINGS §6)
        from harness import decode_export

        try:
            decode_export.check_converted(tmp, args.saved_model)
        except Exception:
            os.remove(tmp)
            raise
    os.replace(tmp, args.out)
    return {"wall_s": time.monotonic() - t0, "peak_rss_kb": _peak_rss_kb()}


def _fail(message: str) -> int:
    print(json.dumps({"error": message}))
    return 3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.convert_worker")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--source-json", required=True)
    e.add_argument("--max-length", type=int, required=True)
    e.add_argument("--export", default="oneshot")
    e.add_argument("--stateful", action="store_true")
    e.add_argument("--out", required=True)
    c = sub.add_parser("convert")
    c.add_argument("--saved-model", required=True)
    c.add_argument("--variant", required=True)
    c.add_argument("--export", default="oneshot")
    c.add_argument("--signature-keys", default="")
    c.add_argument("--prompts-json", default="")
    c.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        result = cmd_export(args) if args.cmd == "export" else cmd_convert(args)
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:  # reported to the parent as one line; the parent decides
        from harness.errors import UserError

        kind = "user" if isinstance(e, UserError) else type(e).__name__
        msg = str(e).strip().splitlines()
        print(json.dumps({"error": (msg[-1] if msg else kind)[:2000], "kind": kind}))
        return 3
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
