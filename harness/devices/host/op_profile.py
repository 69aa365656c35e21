"""Per-op time of a TFLite interpreter on this host: TFLite's own profiler events, from Python.

TF 2.18.1's Python interpreter exposes no profiler (its wrapper has no such method, and
``benchmark_model --enable_op_profiling`` is a C++ tool that cannot be built offline).
The interpreter itself emits an event around every op it runs — and XNNPACK one per
operator inside its delegate — to a ``tflite::Profiler`` installed with
``Interpreter::SetProfilerImpl``. That function is in the Python wrapper's own
shared library (``_pywrap_tensorflow_interpreter_wrapper.so``), not exported but listed
in its ELF symbol table; this module finds it there, builds a ``tflite::Profiler`` whose
virtual methods are ctypes callbacks (vtable layout of TF 2.18: two destructors,
``BeginEvent``, ``EndEvent`` ×2, ``AddEvent``, ``AddEventWithData``), installs it before
the tensors are allocated (so XNNPACK sees it when it takes the graph), and sums the
events per op name.

Each event's time includes the Python callbacks' own cost (``callback_overhead_us``,
measured at attach: about a microsecond per op); the report states it. Refused (with a
``ProfilerUnavailable``) on any other TensorFlow version: the layout is checked there only.
"""
from __future__ import annotations

import ctypes
import os
import struct
import time
from collections import defaultdict

from harness import contract

SUPPORTED_TF = ("2.18.",)
SET_PROFILER = "_ZN6tflite4impl11Interpreter15SetProfilerImplESt10unique_ptrINS_8ProfilerESt14default_deleteIS3_EE"
BASE_DESTRUCTOR = "_ZN6tflite8ProfilerD2Ev"   # tflite::Profiler::~Profiler(): frees nothing
# tflite::Profiler::EventType as TF 2.18.1 emits them (seen: 1 "Invoke", 2 every TFLite
# kernel, 8 every XNNPACK operator through AddEvent with its time in µs, 32 "Invoke" again).
DEFAULT, OPERATOR, DELEGATE_OPERATOR, DELEGATE_PROFILED_OPERATOR = 1, 2, 4, 8

_BEGIN = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                          ctypes.c_int64, ctypes.c_int64)
_END3 = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int64, ctypes.c_int64)
_END1 = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32)
_ADD = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint64,
                        ctypes.c_int64, ctypes.c_int64)
_ADD_DATA = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p)
_KEEP: list = []   # profilers live as long as the process: the interpreter may outlive a caller


class ProfilerUnavailable(RuntimeError):
    """This TensorFlow build offers no way to install an op profiler from Python."""


def _elf_symbols(path: str, wanted: set[str]) -> dict[str, int]:
    """Values of the named symbols in an ELF64 little-endian file's .symtab."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ProfilerUnavailable(f"{path}: not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    found = {}
    for sh in sections:
        if sh[1] != 2:   # SHT_SYMTAB
            continue
        strtab = sections[sh[6]]
        str_off = strtab[4]
        for k in range(sh[5] // 24):
            name_off, _info, _other, _shndx, value, _size = struct.unpack_from("<IBBHQQ", data, sh[4] + 24 * k)
            end = data.index(b"\0", str_off + name_off)
            name = data[str_off + name_off:end].decode("ascii", "replace")
            if name in wanted:
                found[name] = value
    missing = wanted - set(found)
    if missing:
        raise ProfilerUnavailable(f"{os.path.basename(path)} has no symbol {sorted(missing)[0]}")
    return found


def _load_base(path: str) -> int:
    """Where the shared library at ``path`` is mapped in this process (its offset-0 mapping)."""
    real = os.path.realpath(path)
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[-1] == real and int(parts[2], 16) == 0:
                return int(parts[0].split("-")[0], 16)
    raise ProfilerUnavailable(f"{real} is not mapped in this process")


def _set_profiler_impl():
    import tensorflow as tf
    from tensorflow.lite.python.interpreter_wrapper import _pywrap_tensorflow_interpreter_wrapper as wrapper

    if not tf.__version__.startswith(SUPPORTED_TF):
        raise ProfilerUnavailable(f"op profiling is checked on TensorFlow {SUPPORTED_TF} only, not {tf.__version__}")
    syms = _elf_symbols(wrapper.__file__, {SET_PROFILER, BASE_DESTRUCTOR})
    base = _load_base(wrapper.__file__)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(base + syms[SET_PROFILER])
    return fn, base + syms[BASE_DESTRUCTOR]


class OpProfiler:
    """Collects TFLite's per-op events for one interpreter; ``attach`` before ``allocate_tensors``."""

    def __init__(self):
        self.events: list[list] = []     # [tag, type, node, subgraph, start_ns, end_ns]
        self.delegate_events: list[tuple[str, float]] = []
        self.recording = False
        self.callback_overhead_us = 0.0
        clock = time.perf_counter_ns

        def begin(_this, tag, etype, m1, m2):
            self.events.append([tag, etype, m1, m2, clock(), 0])
            return len(self.events) - 1

        def end(_this, handle, *_meta):
            if handle < len(self.events):
                self.events[handle][5] = clock()

        def add(_this, tag, etype, elapsed, m1, m2):
            self.events.append([tag, etype, m1, m2, 0, int(elapsed) * 1000])

        self._callbacks = (_BEGIN(begin), _END3(end), _END1(end), _ADD(add),
                           _ADD_DATA(lambda *_a: None))

    def attach(self, interpreter) -> "OpProfiler":
        """Install on a ``tf.lite.Interpreter`` whose tensors are not yet allocated."""
        set_profiler, destructor = _set_profiler_impl()
        vtable = (ctypes.c_void_p * 9)(0, 0, destructor, destructor,
                                       *[ctypes.cast(cb, ctypes.c_void_p).value for cb in self._callbacks])
        obj = ctypes.c_void_p(ctypes.addressof(vtable) + 2 * ctypes.sizeof(ctypes.c_void_p))
        owner = ctypes.c_void_p(ctypes.addressof(obj))   # the std::unique_ptr<Profiler> argument
        _KEEP.append((self, vtable, obj, owner))
        set_profiler(interpreter._interpreter.interpreter(), ctypes.addressof(owner))
        self.callback_overhead_us = self._measure_overhead()
        self.events.clear()
        return self

    def _measure_overhead(self, n: int = 2000) -> float:
        begin, end = self._callbacks[0], self._callbacks[2]
        t = time.perf_counter_ns()
        for _ in range(n):
            end(None, begin(None, b"x", DEFAULT, 0, 0))
        return (time.perf_counter_ns() - t) / n / 1e3

    def clear(self) -> None:
        self.events.clear()

    def summary(self, invokes: int = 1) -> list[dict]:
        """[{op, count, ms}] per op name over the recorded events, time per invoke, largest first.

        Ops are TFLite's own kernels (``FULLY_CONNECTED``, ``DYNAMIC_UPDATE_SLICE``, ...)
        and the operators XNNPACK runs for the parts of the graph it took (``xnnpack:
        Fully Connected (NC, QD8, F32, QC8W) GEMM``, ...; XNNPACK reports whole µs). TF
        2.18 reports no separate event for the delegate partition, so the rows add up to
        the time spent in ops.
        """
        total: dict[str, list] = defaultdict(lambda: [0, 0])
        for tag, etype, _n, _s, start, end in self.events:
            if etype not in (OPERATOR, DELEGATE_OPERATOR, DELEGATE_PROFILED_OPERATOR):
                continue
            if end <= start and etype != DELEGATE_PROFILED_OPERATOR:   # XNNPACK's 0 µs still counts
                continue
            name = tag.decode("utf-8", "replace") if isinstance(tag, bytes) else str(tag)
            if etype != OPERATOR:
                name = "xnnpack: " + name
            total[name][0] += 1
            total[name][1] += end - start
        rows = [{"op": k, "count": c // max(1, invokes), "ms": round(ns / 1e6 / max(1, invokes), 4)}
                for k, (c, ns) in total.items()]
        return sorted(rows, key=lambda r: -r["ms"])


def profile_prefill_decode(model_path, max_length: int, threads: int, token_id_lists: list[list[int]],
                           runs: int = 1, delegate: str = contract.DELEGATE_DEFAULT) -> dict:
    """The per-op profile of greedy generation on a prefill/decode model, per phase.

    One warm-up generation per prompt (not recorded), then ``runs`` passes over the
    prompts under the profiler. Returns ``{"prefill": [{op, count, ms}], "decode":
    [...], ...}`` with times per call of the phase (per prefill, per decode step) and
    the measured wall time per call beside the ops' sum, so the share the profile
    covers is visible.
    """
    from tensorflow.lite.python.interpreter import Interpreter

    from harness.devices.host.generate import PrefillDecodeRunner, op_resolver

    interpreter = Interpreter(model_path=str(model_path), num_threads=threads,
                              experimental_op_resolver_type=op_resolver(delegate))
    prof = OpProfiler().attach(interpreter)
    interpreter.allocate_tensors()
    gen = PrefillDecodeRunner(interpreter, max_length)
    for ids in token_id_lists:
        gen.run(ids)
    phases = {"prefill": [[], 0, 0], "decode": [[], 0, 0]}   # events, calls, wall ns
    for _ in range(runs):
        for ids in token_id_lists:
            prof.clear()
            r = gen.run(ids)
            # The first OPERATOR/XNNPACK events up to the first decode belong to prefill:
            # split at the "Invoke" runtime events, one per signature call.
            calls = _split_invokes(prof.events)
            phases["prefill"][0] += calls[0]
            phases["prefill"][1] += 1
            phases["prefill"][2] += r["prefill_ns"]
            for c in calls[1:]:
                phases["decode"][0] += c
            phases["decode"][1] += len(r["decode_ns"])
            phases["decode"][2] += sum(r["decode_ns"])
    out = {"threads": threads, "delegate": delegate, "device": "host", "callback_overhead_us": round(prof.callback_overhead_us, 3),
           "source": "tflite profiler events (harness.devices.host.op_profile)"}
    for phase, (events, calls, wall_ns) in phases.items():
        prof.events = events
        rows = prof.summary(invokes=max(1, calls))
        out[phase] = rows
        out[phase + "_calls"] = calls
        out[phase + "_wall_ms"] = round(wall_ns / 1e6 / max(1, calls), 4)
        out[phase + "_ops_ms"] = round(sum(r["ms"] for r in rows), 4)
    prof.events = []
    return out


def _split_invokes(events: list) -> list[list]:
    """Events grouped per signature call: each call opens with a DEFAULT "Invoke" event."""
    calls: list[list] = []
    for e in events:
        if e[1] == DEFAULT and e[0] == b"Invoke":
            calls.append([])
        elif calls:
            calls[-1].append(e)
    return calls or [[]]


def top_ops_table(profile: dict, phase: str = "decode", n: int = 10) -> str:
    """A small markdown table of the ``n`` costliest ops of one phase of a profile."""
    rows = profile.get(phase) or []
    wall = profile.get(phase + "_wall_ms") or 0.0
    lines = [f"{phase}: {wall:.3f} ms per call, ops {profile.get(phase + '_ops_ms', 0):.3f} ms "
             f"(callbacks ~{profile.get('callback_overhead_us', 0):.1f} µs per op event)",
             "| op | count per call | ms per call | share of call |", "|---|---|---|---|"]
    for r in rows[:n]:
        share = f"{r['ms'] / wall:.1%}" if wall else "—"
        lines.append(f"| {r['op']} | {r['count']} | {r['ms']:.3f} | {share} |")
    return "\n".join(lines)
