"""The TensorFlow side of conversion: one step per fresh process (``python -m harness.convert.worker``).

``export`` builds the model and saves the export's graph as a SavedModel whose weights
stay variables; ``convert`` turns that SavedModel into one variant, letting the converter
freeze the weights, and stops before the converter's post-processing; ``calibrate``
(variants that need it) and ``finish`` do the rest (``harness.convert.staged``). One
process per step keeps peak memory at what that step needs (FINDINGS §3a: 2.7–3.5 GiB
on the GPT-2 base shape instead of ~15 GiB for freeze-first) and lets the parent report
each step's own peak.

Each command prints one JSON line on stdout as its last line: what it did, its wall
time and its peak resident memory. Errors are printed as ``{"error": "..."}``, exit 3.
``serve`` runs the steps the parent sends over stdin in one process instead (small
models, where importing TensorFlow per step would cost more than the step itself).
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


def _dataset(args, float_model=None):
    """The variant's representative data set, made by the export (int8 calibration);
    ``float_model`` is the float TFLite model being calibrated (None in ``convert``, which
    stops before the data set is read)."""
    from harness.convert import exports

    prompts = json.loads(args.prompts_json) if args.prompts_json else None
    if not prompts:
        return None
    return exports.get(args.export).representative_dataset(prompts, args.saved_model,
                                                               float_model=float_model)


def cmd_export(args) -> dict:
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

    from harness.convert import exports
    from harness.model import sources

    source = sources.ModelSource(**json.loads(args.source_json))
    t0 = time.monotonic()
    causal_lm = sources.load(source)
    limit = causal_lm.backbone.max_sequence_length
    if args.max_length > limit:
        from harness.errors import UserError

        raise UserError(f"max length {args.max_length} exceeds the model's {limit} positions")
    exports.get(args.export).export(causal_lm, args.max_length, args.out, stateful=args.stateful,
                                    quantizable_mask=args.quantizable_mask)
    return {
        "wall_s": time.monotonic() - t0,
        "peak_rss_kb": _peak_rss_kb(),
        "parameters": int(causal_lm.count_params()),
        "vocabulary_size": int(causal_lm.backbone.vocabulary_size),
        "max_sequence_length": int(limit),
    }


def cmd_convert(args) -> dict:
    """The converter proper, stopped before its post-processing (see ``harness.convert.staged``)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the converter needs the TF Text ops registered)

    from harness.convert import staged, variants

    t0 = time.monotonic()
    signature_keys = args.signature_keys.split(",") if args.signature_keys else None
    converter = tf.lite.TFLiteConverter.from_saved_model(args.saved_model, signature_keys=signature_keys)
    variants.get(args.variant).configure(converter, args.export, _dataset(args))
    staged.stop_before_post_processing(converter, args.out, args.state)
    try:
        converter.convert()
    except staged.ConverterStopped:
        return {"wall_s": time.monotonic() - t0, "peak_rss_kb": _peak_rss_kb()}
    raise RuntimeError("the converter finished without reaching its post-processing step")


def cmd_calibrate(args) -> dict:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the Flex delegate needs the TF Text kernels)

    from harness.convert import staged

    t0 = time.monotonic()
    state = json.loads(open(args.state).read())
    with open(args.model, "rb") as f:
        model = f.read()
    calibrated = staged.calibrate(model, state, tf.lite.RepresentativeDataset(_dataset(args, args.model)).input_gen)
    del model
    _write_atomic(args.out, calibrated)
    return {"wall_s": time.monotonic() - t0, "peak_rss_kb": _peak_rss_kb()}


def cmd_finish(args) -> dict:
    from harness.convert import exports, staged, tied

    t0 = time.monotonic()
    state = json.loads(open(args.state).read())
    with open(args.model, "rb") as f:
        model = f.read()
    model = staged.finish(model, state)
    model, tied_lookups = tied.tie_embeddings(model)   # quantized: the tied embedding stored once
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model)
    try:   # the export's own checks (weights present, signatures consistent) before the model counts
        exports.get(args.export).check_converted(tmp, args.saved_model)
    except Exception:
        os.remove(tmp)
        raise
    os.replace(tmp, args.out)
    return {"wall_s": time.monotonic() - t0, "peak_rss_kb": _peak_rss_kb(), "tied_lookups": tied_lookups}


def _write_atomic(path: str, data: bytes) -> None:
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.convert.worker")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--source-json", required=True)
    e.add_argument("--max-length", type=int, required=True)
    e.add_argument("--export", default="oneshot")
    e.add_argument("--stateful", action="store_true")
    e.add_argument("--quantizable-mask", action="store_true",
                   help="attention masks int8 can calibrate (harness/convert/exports/masking.py)")
    e.add_argument("--out", required=True)
    c = sub.add_parser("convert")
    c.add_argument("--saved-model", required=True)
    c.add_argument("--variant", required=True)
    c.add_argument("--export", default="oneshot")
    c.add_argument("--signature-keys", default="")
    c.add_argument("--prompts-json", default="")
    c.add_argument("--state", required=True, help="where to save the arguments of the later steps")
    c.add_argument("--out", required=True, help="the model as the converter has it before post-processing")
    for name in ("calibrate", "finish"):   # the later steps: a model file in, one out
        k = sub.add_parser(name)
        for flag in ("--model", "--state", "--saved-model", "--out"):
            k.add_argument(flag, required=True)
        k.add_argument("--export", default="oneshot")
        k.add_argument("--prompts-json", default="")
    return p


COMMANDS = {"export": cmd_export, "convert": cmd_convert, "calibrate": cmd_calibrate, "finish": cmd_finish}


def run_step(argv: list[str]) -> tuple[int, dict]:
    """One step: (exit status, its report) — an error is ``{"error", "kind"}`` with status 3."""
    try:
        args = build_parser().parse_args(argv)
        return 0, COMMANDS[args.cmd](args)
    except SystemExit as e:      # argparse: a malformed request from the parent
        return int(e.code or 0) or 2, {"error": f"bad worker arguments {argv[:1]}", "kind": "usage"}
    except Exception as e:  # reported to the parent as one line; the parent decides
        from harness.errors import UserError

        kind = "user" if isinstance(e, UserError) else type(e).__name__
        msg = str(e).strip().splitlines()
        return 3, {"error": (msg[-1] if msg else kind)[:2000], "kind": kind}


def serve() -> int:
    """Run the steps the parent sends, one JSON line each (``{"argv": [...], "log": path}``),
    in this one process, answering each with its report line (plus ``"status"``). The
    step's own output goes to its log. For small models: TensorFlow is imported once."""
    answer = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        with open(request["log"], "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        code, report = run_step(request["argv"])
        sys.stdout.flush()
        sys.stderr.flush()
        answer.write(json.dumps({**report, "status": code}) + "\n")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["serve"]:
        return serve()
    code, report = run_step(argv)
    print(json.dumps(report))
    return code


if __name__ == "__main__":
    sys.exit(main())
