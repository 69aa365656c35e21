"""Ours against llama.cpp (the best CPU engine for GPT-2) on the same weights, in one run.

    .venv/bin/pip install -e '.[peer]'  # once (-e: keep the editable install): gguf + llama-cpp-python (compiles llama.cpp, minutes)
    .venv/bin/python scripts/bench_peer.py [--model synthetic:gpt2-base] [--max-length 100]
        [--threads 1,2] [--runs 3] [--rounds 3] [--ttft-lengths 1,5,16,32,64,99] [--json out.json]
        [--allow-busy]

Our side: the prefill/decode export (``harness.convert``, cached) run greedily through
``harness.devices.host.generate.PrefillDecodeRunner``: fp32 and dynamic. The peer: the same
Keras weights written as GGUF (``scripts/peer_gguf.py``), f32, and q8_0 quantized by
llama.cpp itself, run through llama-cpp-python's ``Llama.eval`` with greedy argmax. Both
sides time the same calls (one prompt evaluation = prefill ≈ time to first token; one
token evaluation = one decode step) at the same thread counts, prompts and max length,
every model in a fresh child process (its peak memory is its own). Pairs are measured
back to back (f32 then fp32, q8_0 then dynamic) so drift in machine speed hits both; with
``--rounds N`` every measurement is repeated N times, interleaved, and the decode ratio is
the median of each round's ratio (a single round moved by up to 15 % between runs here).

The machine's streaming rate comes from the peer: f32 weight bytes read per token ÷ its
time per token (what a decode step that streams every weight once reaches here);
numpy's 1-thread float32 matrix-vector product on a 512 MB matrix is reported beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import benchkit  # noqa: E402

PAIRS = (("fp32", "f32"), ("dynamic", "q8_0"))


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- children

def measure_ours(job: dict) -> dict:
    from tensorflow.lite.python import interpreter as _runtime  # noqa: F401  (the runtime is not the model)

    from harness.devices.host.generate import PrefillDecodeRunner, load_interpreter

    rss0 = _status_kb("VmRSS")
    t = time.perf_counter()
    gen = PrefillDecodeRunner(load_interpreter(job["model"], job["threads"]), job["max_length"])
    load_s = time.perf_counter() - t

    def prefill_ms(ids):
        import numpy as np

        tok = np.zeros([1, gen.prefill_length(len(ids))], np.int32)
        tok[0, :len(ids)] = ids
        t0 = time.perf_counter_ns()
        gen.prefill(token_ids=tok, prompt_length=np.array(len(ids), np.int32))
        return (time.perf_counter_ns() - t0) / 1e6

    def generate(ids):
        r = gen.run(ids)
        return r["output_token_ids"], [d / 1e6 for d in r["decode_ns"]], r["prefill_ns"] / 1e6

    return _common(job, generate, prefill_ms, load_s, rss0)


def measure_peer(job: dict) -> dict:
    import numpy as np
    from llama_cpp import Llama

    rss0 = _status_kb("VmRSS")
    t = time.perf_counter()
    llm = Llama(model_path=job["model"], n_ctx=job["max_length"], n_batch=job["max_length"],
                n_threads=job["threads"], n_threads_batch=job["threads"], verbose=False)
    load_s = time.perf_counter() - t
    L = job["max_length"]
    vocab = llm.n_vocab()

    def next_token() -> int:
        # The last evaluated token's logits (Llama.eval keeps no scores without logits_all).
        return int(np.argmax(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(vocab,))))

    def prefill_ms(ids):
        llm.reset()
        t0 = time.perf_counter_ns()
        llm.eval(ids)
        return (time.perf_counter_ns() - t0) / 1e6

    def generate(ids):
        pp = prefill_ms(ids)
        out, steps = list(ids), []
        nxt = next_token()
        while len(out) < L:
            out.append(nxt)
            if len(out) == L:
                break
            t0 = time.perf_counter_ns()
            llm.eval([nxt])
            steps.append((time.perf_counter_ns() - t0) / 1e6)
            nxt = next_token()
        return out, steps, pp

    return _common(job, generate, prefill_ms, load_s, rss0)


def _common(job, generate, prefill_ms, load_s, rss0) -> dict:
    ids, runs = job["ids"], job["runs"]
    generate(ids[0])                                   # warm-up, not reported
    steps, prefills, outputs = [], [], []
    for r in range(runs * len(ids)):
        out, st, pp = generate(ids[r % len(ids)])
        steps += st
        prefills.append(pp)
        outputs.append(out)
    ttft = {}
    for n in job["ttft_lengths"]:
        prefill_ms(job["long_ids"][:n])               # warm this length
        ttft[n] = statistics.median(prefill_ms(job["long_ids"][:n]) for _ in range(max(3, runs)))
    return {"load_s": load_s, "decode_ms_median": statistics.median(steps),
            "decode_ms_p90": sorted(steps)[int(0.9 * (len(steps) - 1))], "decode_steps": len(steps),
            "prefill_ms_median": statistics.median(prefills), "ttft_ms": ttft,
            "outputs": outputs[:len(ids)], "rss_before_load_kb": rss0, "vmhwm_kb": _status_kb("VmHWM")}


def sgemv_gb_s(size_mb: int = 512, repeats: int = 5) -> float:
    """numpy float32 matrix-vector product, 1 BLAS thread, on a matrix far beyond the caches."""
    import numpy as np

    w = np.ones((size_mb * (1 << 20) // 4 // 4096, 4096), np.float32)
    x = np.ones(4096, np.float32)
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        w @ x
        best = max(best, w.nbytes / (time.perf_counter() - t) / 1e9)
    return best


def child(args) -> int:
    job = json.loads(args.child)
    kind = job.pop("kind")
    if kind == "gguf":
        from harness.model import sources
        import peer_gguf

        source = sources.resolve(job["model"])
        lm = sources.load(source)
        vocab, merges = _vocabulary(source)
        peer_gguf.write_gpt2(lm, vocab, merges, Path(job["out"]), job["model"])
        out = {"path": job["out"]}
    elif kind == "quantize":
        import llama_cpp

        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
        params.nthread = 1
        rc = llama_cpp.llama_model_quantize(job["src"].encode(), job["out"].encode(), params)
        out = {"rc": int(rc)}
    elif kind == "sgemv":
        out = {"gb_s": sgemv_gb_s()}
    else:
        out = (measure_ours if kind == "ours" else measure_peer)(job)
    print("RESULT " + json.dumps(out))
    return 0


def _vocabulary(source):
    from harness.model import sources

    if source.kind == "synthetic" and sources.SYNTHETIC_SHAPES[source.name]["tokenizer"] == "gpt2":
        return sources.gpt2_vocabulary()
    return sources.bytes_vocabulary()


def run_child(job: dict, threads: int = 1) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OPENBLAS_NUM_THREADS": str(threads),
           "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], capture_output=True,
                          text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{job.get('kind')} {job.get('model', '')} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


# --------------------------------------------------------------------------- main

def prepare(args, log) -> tuple[dict, dict]:
    """Our converted models {variant: Converted} and the peer's {type: GGUF path}, made once."""
    from harness import convert, paths
    from harness.model import sources

    source = sources.resolve(args.model)
    ours = {}
    for variant, _ in PAIRS:
        (c,) = convert.convert(source, [variant], args.max_length, export="prefill_decode", progress=log)
        ours[variant] = c
    work = paths.cache_root() / "peer" / source.identity.replace(":", "-")
    work.mkdir(parents=True, exist_ok=True)
    f32, q8 = work / "model-f32.gguf", work / "model-q8_0.gguf"
    if not f32.is_file():
        log(f"writing {f32}")
        run_child({"kind": "gguf", "model": args.model, "out": str(f32) + ".tmp"})
        os.replace(str(f32) + ".tmp", f32)
    if not q8.is_file():
        log(f"quantizing {q8} with llama.cpp")
        if run_child({"kind": "quantize", "src": str(f32), "out": str(q8) + ".tmp"})["rc"] != 0:
            raise RuntimeError("llama.cpp's quantization failed")
        os.replace(str(q8) + ".tmp", q8)
    return ours, {"f32": f32, "q8_0": q8}


def prompt_ids(args) -> tuple[list[list[int]], list[int]]:
    from harness.contract import apply_context_window
    from harness.model import prompts as prompts_mod, sources
    from harness.model.tokens import PromptTokenIds

    tokens = PromptTokenIds(sources.resolve(args.model))
    prompts = prompts_mod.BUILTIN["en"]
    ids = [tokens.encode(apply_context_window(p, args.context_window)) for p in prompts]
    long_ids = tokens.encode(" ".join(prompts * 20))[:args.max_length]
    return ids, long_ids


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="synthetic:gpt2-base")
    p.add_argument("--max-length", type=int, default=100)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--runs", type=int, default=2, help="passes over the 3 built-in prompts")
    p.add_argument("--rounds", type=int, default=1,
                   help="rounds of every measurement (fresh processes each, interleaved): decode is the "
                        "median over rounds and the ratio the median of each round's ratio, so a drift of "
                        "the machine's speed over the run hits both engines alike")
    p.add_argument("--context-window", type=int, default=50)
    p.add_argument("--ttft-lengths", default="1,5,16,32,64,99")
    p.add_argument("--json", type=Path)
    p.add_argument("--also", action="append", default=[], metavar="VARIANT:LABEL=PATH",
                   help="another prefill/decode model of ours measured in the same run against the peer of "
                        "VARIANT (e.g. fp32:before=/tmp/before/model.tflite, a file converted by an older "
                        "commit): before and after side by side from one run")
    p.add_argument("--child", help=argparse.SUPPRESS)
    benchkit.add_arguments(p)
    args = p.parse_args()
    if args.child:
        return child(args)
    extra: dict[str, list] = {}
    for item in args.also:
        variant, _, rest = item.partition(":")
        label, _, path = rest.partition("=")
        if variant not in dict(PAIRS) or not label or not Path(path).is_file():
            p.error(f"--also {item!r}: expected VARIANT:LABEL=PATH with VARIANT in {list(dict(PAIRS))} and an existing file")
        extra.setdefault(variant, []).append((f"{variant} {label}", path))
    start = benchkit.check_start(args, "bench_peer")

    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    ours, peer = prepare(args, log)
    ids, long_ids = prompt_ids(args)
    lengths = [n for n in (int(x) for x in args.ttft_lengths.split(",")) if 0 < n < args.max_length]
    watch = benchkit.Watch(start)
    report = {"command": " ".join(["python", *sys.argv]), "model": args.model, "max_length": args.max_length,
              "runs": args.runs, "rounds": args.rounds, "prompt_token_counts": [len(i) for i in ids],
              "start": start, "cells": []}
    common = {"max_length": args.max_length, "ids": ids, "long_ids": long_ids, "runs": args.runs,
              "ttft_lengths": lengths}
    cells: dict[tuple, dict] = {}
    for rnd in range(args.rounds):
        for threads in (int(t) for t in args.threads.split(",")):
            for mine, theirs in PAIRS:
                log(f"round {rnd + 1}/{args.rounds}, {threads} thread(s): llama.cpp {theirs} "
                    f"(load {os.getloadavg()[0]:.2f})")
                b = run_child({**common, "kind": "peer", "model": str(peer[theirs]), "threads": threads}, threads)
                for label, path in [(mine, ours[mine].path), *extra.get(mine, [])]:
                    log(f"round {rnd + 1}/{args.rounds}, {threads} thread(s): ours {label} "
                        f"(load {os.getloadavg()[0]:.2f})")
                    a = run_child({**common, "kind": "ours", "model": str(path), "threads": threads}, threads)
                    cell = cells.setdefault((threads, label), {
                        "threads": threads, "ours": label, "peer": theirs,
                        "ours_size_bytes": Path(path).stat().st_size,
                        "peer_size_bytes": peer[theirs].stat().st_size,
                        "ours_result": a, "peer_result": b,       # the first round's, whole
                        "same_tokens": _agreement(a["outputs"], b["outputs"], ids), "rounds": []})
                    cell["rounds"].append({"ours_decode_ms": a["decode_ms_median"],
                                           "peer_decode_ms": b["decode_ms_median"]})
    for cell in cells.values():
        rounds = cell["rounds"]
        cell["ours_decode_ms"] = statistics.median(r["ours_decode_ms"] for r in rounds)
        cell["peer_decode_ms"] = statistics.median(r["peer_decode_ms"] for r in rounds)
        cell["ratio"] = statistics.median(r["ours_decode_ms"] / r["peer_decode_ms"] for r in rounds)
        report["cells"].append(cell)
    report["sgemv_gb_s"] = run_child({"kind": "sgemv"})["gb_s"]
    report["machine"] = watch.stop()
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def _agreement(a: list, b: list, ids: list) -> float:
    """Share of generated positions where both engines chose the same token."""
    same = total = 0
    for x, y, prompt in zip(a, b, ids):
        for u, v in zip(x[len(prompt):], y[len(prompt):]):
            same += u == v
            total += 1
    return same / total if total else 1.0


def table(r: dict) -> str:
    m = r["machine"]
    f32 = next((c for c in r["cells"] if c["peer"] == "f32" and c["threads"] == 1), None)
    stream = (f32["peer_size_bytes"] / (f32["peer_decode_ms"] / 1e3) / 1e9) if f32 else None
    lines = [f"{r['model']}, max length {r['max_length']}, prompts {r['prompt_token_counts']} tokens; "
             f"machine {benchkit.label(m)}; decode: median of {r.get('rounds', 1)} round(s), ratio: median of "
             "each round's ratio; the other columns: the first round",
             "", "| threads | ours | llama.cpp | decode ms/token ours | llama.cpp | ratio | prefill ms ours "
             "(built-in prompts, median) | llama.cpp | file MB ours | llama.cpp | peak above runtime MiB ours | "
             "llama.cpp | same greedy tokens |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in r["cells"]:
        a, b = c["ours_result"], c["peer_result"]
        lines.append(
            f"| {c['threads']} | {c['ours']} | {c['peer']} | {c['ours_decode_ms']:.2f} | {c['peer_decode_ms']:.2f} | "
            f"{c['ratio']:.2f}× | {a['prefill_ms_median']:.1f} | "
            f"{b['prefill_ms_median']:.1f} | {c['ours_size_bytes'] / 1e6:.1f} | {c['peer_size_bytes'] / 1e6:.1f} | "
            f"{(a['vmhwm_kb'] - a['rss_before_load_kb']) / 1024:.0f} | {(b['vmhwm_kb'] - b['rss_before_load_kb']) / 1024:.0f} | "
            f"{c['same_tokens']:.0%} |")
    lengths = sorted({int(n) for c in r["cells"] for n in c["ours_result"]["ttft_ms"]})
    lines += ["", "Time to first token (prompt evaluation) by prompt length, ms:", "",
              "| threads | ours | llama.cpp | " + " | ".join(f"{n} tok ours / llama.cpp" for n in lengths) + " |",
              "|---|---|---|" + "---|" * len(lengths)]
    for c in r["cells"]:
        a, b = c["ours_result"]["ttft_ms"], c["peer_result"]["ttft_ms"]
        lines.append(f"| {c['threads']} | {c['ours']} | {c['peer']} | "
                     + " | ".join(f"{a[str(n)] if str(n) in a else a[n]:.1f} / {b[str(n)] if str(n) in b else b[n]:.1f}"
                                  for n in lengths) + " |")
    if stream:
        lines += ["", f"Streaming rate reached by llama.cpp f32 decode (file bytes per token ÷ ms per token, "
                      f"1 thread): {stream:.1f} GB/s; numpy float32 matrix-vector, 1 thread: {r['sgemv_gb_s']:.1f} GB/s."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
