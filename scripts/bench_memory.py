"""Where the memory of a prefill/decode model goes on this host, MiB by MiB, per variant.

    .venv/bin/python scripts/bench_memory.py [--model synthetic:gpt2-base] [--max-length 100]
        [--variants fp32,dynamic] [--threads 1] [--json out.json] [--allow-busy]

Each model is loaded in a fresh child process, once with TFLite's default XNNPACK delegate
and once without it (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``, what ``harness run --delegate
cpu-builtin`` runs: what memory that saves and what decode speed it costs), and ``/proc/self/smaps`` is
read after each step (interpreter built, tensors allocated, one generation through every
prefill signature and decode): resident pages of the model file's mapping (the weights the
kernels read in place), anonymous memory (XNNPACK's repacked weights, the interpreter's
arenas, the KV cache tensors, the heap), and the peak (VmHWM). What XNNPACK adds is the
difference of the two loads' anonymous memory; the KV cache is computed from its shape.
Goal (issue #16): peak above the runtime ≤ 1.5 × the model file + one KV cache.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import benchkit  # noqa: E402

MIB = 1024 * 1024


def smaps(model_path: str) -> dict:
    """Resident KiB of the model file's mapping and of anonymous memory, and VmRSS/VmHWM."""
    real = os.path.realpath(model_path)
    mapped = anon = 0
    current = None
    with open("/proc/self/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                current = parts[5] if len(parts) >= 6 else ""
            elif parts[:1] == ["Rss:"] and current == real:
                mapped += int(parts[1])
            elif parts[:1] == ["Anonymous:"]:
                anon += int(parts[1])
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                status[k] = int(v.split()[0])
    return {"model_mapped_kb": mapped, "anon_kb": anon, "rss_kb": status["VmRSS"], "hwm_kb": status["VmHWM"]}


def measure(job: dict) -> dict:
    import numpy as np
    from tensorflow.lite.python.interpreter import Interpreter

    from harness import contract
    from harness.devices.host.generate import PrefillDecodeRunner, op_resolver

    path = job["model"]
    steps = {"runtime": smaps(path)}
    # The two ways `harness run --delegate` runs a model: cpu (XNNPACK) and cpu-builtin.
    kind = op_resolver(contract.DELEGATE_DEFAULT if job["xnnpack"] else contract.DELEGATE_BUILTIN)
    interpreter = Interpreter(model_path=path, num_threads=job["threads"], experimental_op_resolver_type=kind)
    steps["built"] = smaps(path)
    interpreter.allocate_tensors()
    steps["allocated"] = smaps(path)
    gen = PrefillDecodeRunner(interpreter, job["max_length"])
    decode_ms = []
    for n in (1, 8, job["max_length"] - 1):     # short, medium and full prompts, decode to the end
        decode_ms += [d / 1e6 for d in gen.run(list(range(1, n + 1)))["decode_ns"]]
    steps["generated"] = smaps(path)
    shape = gen.decode.get_input_details()["cache"]["shape"] if not gen.stateful else None
    cache_bytes = int(np.prod(shape)) * 4 if shape is not None else None
    return {"steps": steps, "kv_cache_bytes": cache_bytes,
            "decode_ms_median": sorted(decode_ms)[len(decode_ms) // 2] if decode_ms else None}


def run_child(job: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"measuring {job['model']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


def breakdown(variant: str, size_bytes: int, kv_bytes: int | None, xnn: dict, plain: dict) -> dict:
    """MiB above the runtime, split into what the measurements can tell apart."""
    def mib(kb):
        return round(kb / 1024, 1)

    base, done = xnn["steps"]["runtime"], xnn["steps"]["generated"]
    pbase, pdone = plain["steps"]["runtime"], plain["steps"]["generated"]
    anon_xnn = done["anon_kb"] - base["anon_kb"]
    anon_plain = pdone["anon_kb"] - pbase["anon_kb"]
    kv = (kv_bytes or 0) / MIB
    peak_above = mib(done["hwm_kb"] - base["rss_kb"])
    return {"variant": variant, "file_mib": round(size_bytes / MIB, 1), "kv_cache_mib": round(kv, 1),
            "peak_above_runtime_mib": peak_above,
            "model_file_resident_mib": mib(done["model_mapped_kb"]),
            "xnnpack_packed_mib": mib(anon_xnn - anon_plain),
            "anon_without_xnnpack_mib": mib(anon_plain),
            "peak_above_runtime_without_xnnpack_mib": mib(pdone["hwm_kb"] - pbase["rss_kb"]),
            "goal_mib": round(1.5 * size_bytes / MIB + kv, 1),
            "decode_ms_xnnpack": xnn.get("decode_ms_median"), "decode_ms_without_xnnpack": plain.get("decode_ms_median"),
            "met": peak_above <= 1.5 * size_bytes / MIB + kv}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="synthetic:gpt2-base")
    p.add_argument("--max-length", type=int, default=100)
    p.add_argument("--variants", default="fp32,dynamic")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--stateful", action="store_true", help="measure the stateful form instead")
    p.add_argument("--json", type=Path)
    p.add_argument("--child", help=argparse.SUPPRESS)
    benchkit.add_arguments(p)
    args = p.parse_args()
    if args.child:
        print("RESULT " + json.dumps(measure(json.loads(args.child))))
        return 0
    start = benchkit.check_start(args, "bench_memory")
    from harness import convert
    from harness.model import sources

    source = sources.resolve(args.model)
    rows = []
    watch = benchkit.Watch(start)
    for variant in args.variants.split(","):
        (c,) = convert.convert(source, [variant], args.max_length, export="prefill_decode", stateful=args.stateful,
                               progress=lambda m: print(m, file=sys.stderr, flush=True))
        job = {"model": str(c.path), "threads": args.threads, "max_length": args.max_length}
        xnn = run_child({**job, "xnnpack": True})
        plain = run_child({**job, "xnnpack": False})
        rows.append(dict(breakdown(variant, c.size_bytes, xnn["kv_cache_bytes"], xnn, plain), raw=[xnn, plain]))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "raw"}), file=sys.stderr, flush=True)
    machine = watch.stop()
    print(f"{args.model}, max length {args.max_length}, {args.threads} thread(s), "
          f"{'stateful' if args.stateful else 'stateless'}; machine {benchkit.label(machine)}\n")
    print("| variant | file MiB | peak above runtime MiB | model file resident | XNNPACK repacked weights | "
          "anonymous without XNNPACK (arenas, KV tensors, heap) | one KV cache | goal 1.5×file+KV | met | "
          "peak above runtime without XNNPACK | decode ms/token with / without XNNPACK |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['file_mib']} | {r['peak_above_runtime_mib']} | {r['model_file_resident_mib']} | "
              f"{r['xnnpack_packed_mib']} | {r['anon_without_xnnpack_mib']} | {r['kv_cache_mib']} | {r['goal_mib']} | "
              f"{'yes' if r['met'] else 'no'} | {r['peak_above_runtime_without_xnnpack_mib']} | "
              f"{r['decode_ms_xnnpack']:.2f} / {r['decode_ms_without_xnnpack']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"start": start, "machine": machine, "rows": rows,
                                         "command": " ".join(["python", *sys.argv])}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
