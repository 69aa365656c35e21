"""Generation on this host's TFLite interpreter, for both exports: what the host's benchmark
app (``reference_app``) runs and what drift measurement compares.

``Oneshot`` invokes the runbook's string graph once per generation; ``PrefillDecodeRunner``
runs the prefill/decode export greedily, one interpreter call per token, timing each.
"""
from __future__ import annotations

import time
from pathlib import Path

from harness import contract


class Oneshot:
    """The runbook's string graph: one invoke generates the whole sequence."""

    def __init__(self, interpreter):
        self.runner = interpreter.get_signature_runner("serving_default")

    def generate(self, prompt: str, _spec: dict, _i: int) -> dict:
        import numpy as np

        feed = np.array(prompt.encode("utf-8"))   # bytes: a str array silently feeds a wrong prompt
        t0 = time.perf_counter_ns()
        out = self.runner(prompt=feed)
        wall_ms = (time.perf_counter_ns() - t0) / 1e6
        text = out["text"]
        text = text.item() if hasattr(text, "item") else text
        return {"wall_ms": wall_ms,
                "output_text": text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text),
                "token_count": int(out["token_count"]) if "token_count" in out else None,
                "prompt_token_count": int(out["prompt_token_count"]) if "prompt_token_count" in out else None,
                "output_token_ids": None, "prefill_ms": None, "decode_ms": None}


class PrefillDecodeRunner:
    """Greedy generation on the ``prefill``/``decode`` signature runners of one interpreter.

    ``prefill`` gets the prompt's n tokens as ``token_ids`` [1, n] when the model takes the
    prompt's length (its input's shape signature is [1, -1]: it computes n positions), and
    padded to [1, L] for models made before (all L positions). Times each interpreter call alone
    (perf_counter_ns around the signature runner call: input copy, invoke, output copy; for
    decode also writing the step's cache rows into the cache, ``next_cache``); ``wall_ms``
    spans the whole generation including the host-side argmax between steps.
    """

    def __init__(self, interpreter, max_length: int):
        import numpy as np

        self.np = np
        self.max_length = self.L = int(max_length)
        self.decode = interpreter.get_signature_runner("decode")
        self.prefill = interpreter.get_signature_runner("prefill")
        dets = self.decode.get_input_details()
        self.stateful = contract.TENSOR_CACHE not in dets
        # The stateless cache carries the model's max length; a stateful model's is the
        # spec's (the spec names the file by sha256, and both come from one conversion).
        model_L = None if self.stateful else int(dets[contract.TENSOR_CACHE]["shape"][2])
        if model_L is not None and model_L != self.L:
            raise ValueError(f"model max length {model_L} != spec max length {self.L}")
        token_dim = self.prefill.get_input_details()["token_ids"]
        # [1, -1]: the prompt's own length (prefill computes n positions); [1, L]: padded to L.
        self.prefill_takes_prompt_length = int(token_dim["shape_signature"][1]) == -1

    def prefill_length(self, n: int) -> int:
        """How many positions the prefill call computes for an n-token prompt."""
        return min(n, self.L) if self.prefill_takes_prompt_length else self.L

    def run(self, ids: list[int], *, forced: list[int] | None = None, keep_logits: bool = False) -> dict:
        """Greedy from ``ids`` to max length; with ``forced``, feed those tokens instead
        of the argmax (teacher forcing) while still recording the model's own argmax."""
        np = self.np
        L = self.L
        ids = [int(i) for i in ids][:L]
        n = len(ids)
        P = self.prefill_length(n)
        token_ids = np.zeros([1, P], np.int32)
        token_ids[0, :n] = ids
        out_ids = list(ids)
        argmaxes: list[int] = []
        logits_seen = []
        decode_ns: list[int] = []
        clock = time.perf_counter_ns
        t_start = clock()
        t0 = clock()
        out = self.prefill(token_ids=token_ids, prompt_length=np.array(n, np.int32))
        prefill_ns = clock() - t0
        cache = out.get(contract.TENSOR_CACHE)
        for index in range(n, L):
            logits = out["logits"]
            nxt = int(np.argmax(logits[0]))
            argmaxes.append(nxt)
            if keep_logits:
                logits_seen.append(np.array(logits[0], np.float64))
            if forced is not None:
                nxt = int(forced[index - n])
            out_ids.append(nxt)
            if index == L - 1:
                break
            feed = {"token_id": np.array([[nxt]], np.int32), "index": np.array(index, np.int32)}
            if not self.stateful:
                feed[contract.TENSOR_CACHE] = cache
            t0 = clock()
            out = self.decode(**feed)
            if not self.stateful:
                cache = next_cache(cache, out, index)
            decode_ns.append(clock() - t0)
        wall_ns = clock() - t_start
        return {"wall_ns": wall_ns, "prefill_ns": prefill_ns, "decode_ns": decode_ns,
                "output_token_ids": out_ids, "argmax": argmaxes, "logits": logits_seen,
                "prompt_token_count": n, "prefill_length": P}

    def generate(self, prompt_used: str, spec: dict, prompt_index: int) -> dict:
        r = self.run(spec["prompt_token_ids"][prompt_index])
        return {"wall_ms": r["wall_ns"] / 1e6, "prefill_ms": r["prefill_ns"] / 1e6,
                "decode_ms": [d / 1e6 for d in r["decode_ns"]],
                "output_token_ids": r["output_token_ids"],
                "token_count": len(r["output_token_ids"]),
                "prompt_token_count": r["prompt_token_count"],
                "output_text": ""}


def next_cache(cache, out: dict, index: int):
    """The stateless cache for the call after the decode call at ``index`` that gave ``out``.

    A model of export code version 10 or later outputs ``cache_rows`` [layers, 2, 1, heads,
    head_dim], this position's keys and values: they are written into ``cache`` (the caller's
    own array: prefill's output) at ``index`` on the positions axis, in place. An older model
    outputs the whole updated ``cache``, which replaces it.
    """
    rows = out.get(contract.OUTPUT_CACHE_ROWS)
    if rows is None:
        return out[contract.TENSOR_CACHE]
    cache[:, :, index] = rows[:, :, 0]
    return cache


def op_resolver(delegate: str = contract.DELEGATE_DEFAULT):
    """The TFLite op resolver for a contract delegate: "cpu" is TFLite's default (its kernels
    with XNNPACK); "cpu-builtin" its built-in kernels alone (XNNPACK off, as
    ``Interpreter.Options.setUseXNNPACK(false)`` on Android). The Flex delegate is not one of
    the resolver's default delegates: the one-shot graph gets it either way."""
    from tensorflow.lite.python.interpreter import OpResolverType

    if delegate not in contract.DELEGATES:
        raise ValueError(f"unknown delegate {delegate!r} (known: {', '.join(contract.DELEGATES)})")
    return (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if delegate == contract.DELEGATE_BUILTIN
            else OpResolverType.AUTO)


def load_interpreter(model_path, threads: int = 1, delegate: str = contract.DELEGATE_DEFAULT):
    """A plain TFLite interpreter (builtin ops only), tensors allocated."""
    from tensorflow.lite.python.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path), num_threads=threads,
                              experimental_op_resolver_type=op_resolver(delegate))
    interpreter.allocate_tensors()
    return interpreter


def load_with_text_ops(model_path: Path, threads: int, delegate: str = contract.DELEGATE_DEFAULT):
    """An interpreter with the Flex delegate and TF Text ops (what the one-shot graph needs)."""
    import tensorflow_text as tf_text
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

    interpreter = InterpreterWithCustomOps(
        model_path=str(model_path), num_threads=threads,
        custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS,
        experimental_op_resolver_type=op_resolver(delegate))
    interpreter.allocate_tensors()
    return interpreter
