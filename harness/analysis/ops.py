"""Top ops by time per cell, from the blocks' ``op_profile`` (``harness report --top-ops N``)."""
from __future__ import annotations

PHASES = ("decode", "prefill", "generate")


def top_ops(docs, n: int = 10) -> list[dict]:
    """One entry per profiled (device, variant, export, max length, threads, phase): its ``n``
    costliest ops per call, with the phase's wall time per call and each op's share of it.

    ``docs`` are RunDocuments; the first profiled block of a cell stands for it (every
    block of a cell runs the same file with the same settings)."""
    seen: dict[tuple, dict] = {}
    for doc in docs:
        for b in doc.blocks:
            prof = b.op_profile
            if not b.ok or not prof or "error" in prof:
                continue
            cell = (b.device.get("alias"), b.model.get("variant"), b.model.get("export"),
                    b.model.get("max_length"), prof.get("threads"))
            for phase in PHASES:
                if phase in prof and (cell, phase) not in seen:
                    wall = prof.get(phase + "_wall_ms") or 0.0
                    rows = [dict(r, share=(r["ms"] / wall if wall else None)) for r in prof[phase][:n]]
                    seen[(cell, phase)] = {"device": cell[0], "variant": cell[1], "export": cell[2],
                                           "max_length": cell[3], "threads": cell[4], "phase": phase,
                                           "wall_ms": wall, "ops_ms": prof.get(phase + "_ops_ms"),
                                           "ops": rows}
    return list(seen.values())


def render(entries: list[dict]) -> str:
    """Plain-text tables of ``top_ops`` entries."""
    if not entries:
        return "no op profile in these runs (measure with `harness run --device host --op-profile`)\n"
    out = []
    for e in entries:
        out.append(f"{e['device']} {e['variant']} {e['export']} L{e['max_length']} t{e['threads']} "
                   f"{e['phase']}: {e['wall_ms']:.3f} ms per call, ops {e['ops_ms'] or 0:.3f} ms")
        for r in e["ops"]:
            share = f"{r['share']:6.1%}" if r["share"] is not None else "     —"
            out.append(f"  {r['ms']:9.3f} ms {share}  ×{r['count']:<4} {r['op']}")
    return "\n".join(out) + "\n"
