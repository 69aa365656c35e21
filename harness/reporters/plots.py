"""The report page's figures as inline SVG (``reporters.svg``), one panel per device.

Each figure says which cells it shows, so the page can list their warnings beside it:
speedup against fp32 (forest plot with 95 % intervals and the minimum-effect band),
latency per variant (box and samples), latency against max length and against context
window for sweeps, time to first token and decode speed where measured, latency against
model size with labelled points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.cells import CELL_KEYS, REFERENCE_VARIANT, key_of
from harness.analysis.compare import DEFAULT_MIN_EFFECT
from harness.analysis.summary import Report, cell_label
from harness.convert import variants as variants_mod
from harness.reporters.svg import PALETTE, Chart, padded
from harness.reporters.table import fmt_num

PANEL_KEYS = ["device_alias", "model_source", "export"]
MAX_STRIP_POINTS = 60            # samples drawn per cell (evenly spaced order statistics)
ROW_PX = 22                      # height of one row in the forest and bar plots


@dataclass
class Figure:
    """One figure: its anchor id, title, caption, SVG, and the labels of the cells it shows."""

    key: str
    title: str
    caption: str
    svg: str
    cells: set[str] = field(default_factory=set)


Cell = dict          # one row of ``report.cells`` as a plain dict (pandas rows are slow to read)


def _records(cells: pd.DataFrame) -> list[Cell]:
    return cells.to_dict("records")


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _colors(cells: list[Cell]) -> dict[str, str]:
    ordered = sorted({str(c["variant"]) for c in cells}, key=variants_mod.rank)
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(ordered)}


def _group(cells: list[Cell], keys: list[str]) -> dict[tuple, list[Cell]]:
    """Cells by the values of ``keys``, in order of appearance."""
    out: dict[tuple, list[Cell]] = {}
    for c in cells:
        out.setdefault(key_of(c[k] for k in keys), []).append(c)
    return out


def _panels(cells: list[Cell], keys: list[str] = PANEL_KEYS):
    """(title, cells of the panel) per device x model x export (x any extra key)."""
    for key, g in _group(cells, keys).items():
        dev, model, export = key[:3]
        tag = (" (EMULATED)" if any(c["emulated"] for c in g) else "") + \
              (" (SYNTHETIC)" if any(c["synthetic"] for c in g) else "")
        extra = "".join(f" · {k[0]}{v}" for k, v in zip(keys[3:], key[3:]))
        yield f"{dev} · {model} · {export}{extra}{tag}", g


def _varies(group: list[Cell], col: str) -> bool:
    return len({key_of([c[col]]) for c in group}) > 1


def _short(c: Cell, group: list[Cell], sep: str = " ") -> str:
    """The variant, plus whichever of max length / context window / threads / delegate varies in the panel."""
    s = str(c["variant"])
    for col, prefix in (("max_length", "L"), ("context_window_words", "cw"), ("threads", "t"), ("delegate", "")):
        if _varies(group, col):
            s += f"{sep}{prefix}{c[col]}"
    return s


def _flagged(c: Cell) -> bool:
    """A cell whose own warnings (not the page banners) make its figures doubtful: drawn hollow."""
    return any(n in (c["notes"] or "") for n in ("high CV", "few samples", "throttled", "FAILED", "stopped early"))


def _labels(cells: list[Cell]) -> set[str]:
    return {cell_label(c) for c in cells}


def forest(cells: list[Cell], min_effect: float = DEFAULT_MIN_EFFECT) -> Figure | None:
    """Speedup against fp32 per variant: Hodges-Lehmann point, 95 % interval, the min-effect band."""
    rows = [c for c in cells if c["variant"] != REFERENCE_VARIANT and not _missing(c.get("speedup_low"))]
    if not rows:
        return None
    colors = _colors(cells)
    band = (1 / (1 + min_effect), 1 / (1 - min_effect))
    xlim = padded([*(c["speedup_low"] for c in rows), *(c["speedup_high"] for c in rows)], log=True, include=band)
    chart = Chart()
    for title, g in _panels(rows):
        ax = chart.add(xlim, (-0.5, len(g) - 0.5), height=ROW_PX * len(g) + 10, xlog=True, title=title,
                       xlabel="speedup ×fp32 (fp32 time ÷ this time; right of 1 = faster)", right=70)
        ax.xband(*band, label=f"within ±{min_effect * 100:g} %: the gate's minimum effect")
        ax.segment(1, -0.5, 1, len(g) - 0.5, "#444", 1, "4 3")
        ax.yticks = []
        for i, c in enumerate(g):
            y = len(g) - 1 - i
            color, significant = colors[str(c["variant"])], c["speedup_low"] > 1 or c["speedup_high"] < 1
            ax.segment(c["speedup_low"], y, c["speedup_high"], y, color, 2.2)
            ax.point(c["speedup"], y, color, 4.5, shape="diamond", hollow=_flagged(c),
                     tip=f"{c['speedup']:.3f}× ({c['speedup_low']:.3f}–{c['speedup_high']:.3f})")
            ax.text(xlim[0], y, _short(c, g), dx=-6, dy=3.5, anchor="end")
            ax.text(c["speedup_high"], y, f"{c['speedup']:.2f}×" + (" ★" if significant else " ns"), dx=6, dy=3.5)
    chart.legend(f"±{min_effect * 100:g} % (min effect)", "#2ca02c", "band")
    return Figure("speedup", "Speedup against fp32",
                  "Diamond: Hodges-Lehmann speedup, matched prompt by prompt; bar: its 95 % interval; ★ = the "
                  "interval excludes 1, ns = not significant. Hollow: the cell has a warning.", chart.svg(),
                  _labels(rows))


def _strip(values: np.ndarray) -> np.ndarray:
    if len(values) > MAX_STRIP_POINTS:
        values = np.sort(values)[np.linspace(0, len(values) - 1, MAX_STRIP_POINTS).astype(int)]
    return values


def distribution(cells: list[Cell], samples: dict) -> Figure:
    """Wall time per generation per cell: box (quartiles, 5th-95th percentile whiskers) and samples."""
    colors = _colors(cells)
    most = max(len(g) for _, g in _panels(cells))
    chart = Chart(width=max(760, 190 + 64 * most))
    for title, g in _panels(cells):
        walls = [samples.get(key_of(c[k] for k in CELL_KEYS), (np.array([]),))[0] for c in g]
        top = max((float(np.max(w)) for w in walls if len(w)), default=1.0)
        ax = chart.add((0.4, len(g) + 0.6), (0, padded([0, top])[1]), height=200, title=title,
                       ylabel="wall time per generation (ms)")
        chart.height += 24       # room for two-line labels
        ax.xticks = [(i + 1, _short(c, g, "\n")) for i, c in enumerate(g)]
        for i, (c, w) in enumerate(zip(g, walls), start=1):
            if not len(w):
                continue
            color = colors[str(c["variant"])]
            p5, q1, med, q3, p95 = np.percentile(w, [5, 25, 50, 75, 95])
            ax.box(i, q1, med, q3, p5, p95, color)
            for j, v in enumerate(_strip(w)):
                ax.point(i + ((j * 0.6180339) % 1 - 0.5) * 0.4, v, color, 2.2)
    return Figure("latency", "Latency per variant",
                  "Box: quartiles and median; whiskers: 5th–95th percentile; dots: measured generations (at most "
                  f"{MAX_STRIP_POINTS} per cell). Prompts of different lengths spread the dots by design.",
                  chart.svg(), _labels(cells))


def _sweep_series(g: list[Cell], x: str, other: str) -> list[tuple[str, list[Cell]]]:
    """Lines of a sweep along ``x``: per variant, and per ``other`` value when it is held fixed.

    The context window defaults to half the max length, so in a max-length sweep each max
    length has its own context window: then the variant's cells form ONE line, not one point
    per context window. A context-window sweep needs a max length held fixed."""
    out = []
    for (v,), gv in _group(g, ["variant"]).items():
        fixed = [(o, go) for (o,), go in _group(gv, [other]).items() if _varies(go, x)]
        xs = [c[x] for c in gv]
        if fixed:
            prefix = "L" if other == "max_length" else "cw"
            out += [(f"{v} {prefix}{o}" if len(fixed) > 1 or _varies(gv, other) else str(v), go) for o, go in fixed]
        elif x == "max_length" and len(set(xs)) > 1 and len(set(xs)) == len(xs):
            out.append((f"{v} (cw varies with it)", gv))
    return [(label, sorted(s, key=lambda c: c[x])) for label, s in out]


def sweep(cells: list[Cell], x: str) -> Figure | None:
    """Median time (± MAD) against max length or context window, one line per series."""
    other = "context_window_words" if x == "max_length" else "max_length"
    what = "max length (tokens)" if x == "max_length" else "context window (words of the prompt kept)"
    colors = _colors(cells)
    chart, shown = Chart(), set()
    for title, g in _panels(cells, [*PANEL_KEYS, "threads"]):
        series = _sweep_series([c for c in g if not _missing(c["median_ms"])], x, other)
        if not series:
            continue
        xs = [c[x] for _, s in series for c in s]
        ys = [c["median_ms"] + (0 if _missing(c["mad_ms"]) else c["mad_ms"]) for _, s in series for c in s]
        ax = chart.add(padded(xs), padded(ys, include=[0]), height=220, title=title.replace(" · t", " · threads "),
                       xlabel=what, ylabel="median wall time (ms) ± MAD")
        for i, (label, s) in enumerate(series):
            color = colors[str(s[0]["variant"])] if len(series) <= len(colors) else PALETTE[i % len(PALETTE)]
            ax.polyline([c[x] for c in s], [c["median_ms"] for c in s], color)
            for c in s:
                if not _missing(c["mad_ms"]):
                    ax.segment(c[x], c["median_ms"] - c["mad_ms"], c[x], c["median_ms"] + c["mad_ms"], color, 1.2)
                ax.point(c[x], c["median_ms"], color, 3.5, hollow=_flagged(c),
                         tip=f"{label} {x}={c[x]}: {c['median_ms']:.3g} ms")
                shown.add(cell_label(c))
            chart.legend(label, color)
    if not shown:
        return None
    return Figure("sweep-length" if x == "max_length" else "sweep-context", f"Latency against {what}",
                  "Median wall time per generation ± MAD; one line per variant (and per fixed value of the other "
                  "parameter). Hollow: the cell has a warning.", chart.svg(), shown)


def _bars(chart: Chart, g: list[Cell], col: str, title: str, xlabel: str, colors: dict) -> None:
    ax = chart.add(padded([c[col] for c in g], include=[0], pad=0.12), (-0.5, len(g) - 0.5),
                   height=ROW_PX * len(g) + 10, title=title, xlabel=xlabel, right=60)
    ax.yticks = []
    for i, c in enumerate(g):
        y = len(g) - 1 - i
        ax.rect(0, y - 0.32, c[col], y + 0.32, colors[str(c["variant"])], 0.85 if not _flagged(c) else 0.35,
                tip=f"{c[col]:.4g}")
        ax.text(ax.xlim[0], y, _short(c, g), dx=-6, dy=3.5, anchor="end")
        ax.text(c[col], y, fmt_num(c[col]), dx=4, dy=3.5)


def first_token(cells: list[Cell]) -> Figure | None:
    """Time to first token (prefill) and decode tokens/s, where the export measures them."""
    rows = [c for c in cells if not (_missing(c["prefill_ms"]) and _missing(c["decode_tokens_per_s"]))]
    if not rows:
        return None
    colors, chart = _colors(cells), Chart()
    for title, g in _panels(rows):
        for col, what, xlabel in (("prefill_ms", "time to first token", "prefill ms (median; lower is better)"),
                                  ("decode_tokens_per_s", "decode speed",
                                   "decode tokens/s (median; higher is better)")):
            measured = [c for c in g if not _missing(c[col])]
            if measured:
                _bars(chart, measured, col, f"{title} — {what}", xlabel, colors)
    return Figure("first-token", "Time to first token and decode speed",
                  "Prefill = the prompt's pass, up to the first generated token; decode = the following tokens. "
                  "Pale bars: the cell has a warning.", chart.svg(), _labels(rows))


def size(cells: list[Cell]) -> Figure | None:
    """Median latency against model size, each point labelled."""
    rows = [c for c in cells if not (_missing(c["size_mb"]) or _missing(c["median_ms"]))]
    if not rows:
        return None
    colors, chart = _colors(cells), Chart()
    wide = lambda v: max(v) / max(min(v), 1e-9) >= 10  # noqa: E731  log axes only across a decade
    for title, g in _panels(rows):
        sizes, times = [c["size_mb"] for c in g], [c["median_ms"] for c in g]
        xlog, ylog = wide(sizes), wide(times)
        ax = chart.add(padded(sizes, xlog, 0.15), padded(times, ylog, 0.15), height=230, xlog=xlog, ylog=ylog,
                       title=title, xlabel="model size (MB)", ylabel="median wall time (ms)")
        for c in g:
            color = colors[str(c["variant"])]
            ax.point(c["size_mb"], c["median_ms"], color, 4.5, hollow=_flagged(c),
                     tip=f"{_short(c, g)}: {c['size_mb']:.3g} MB, {c['median_ms']:.3g} ms")
            ax.text(c["size_mb"], c["median_ms"], _short(c, g), dx=7, dy=-5, color=color)
    return Figure("size", "Latency against model size",
                  "Each point is a cell, labelled with its variant. Hollow: the cell has a warning.", chart.svg(),
                  _labels(rows))


def figures(report: Report, samples: dict, min_effect: float = DEFAULT_MIN_EFFECT) -> list[Figure]:
    """Every figure that has data, in page order."""
    cells = [c for c in _records(report.cells) if c["n"] > 0] if len(report.cells) else []
    if not cells:
        return []
    found = [forest(cells, min_effect), distribution(cells, samples), sweep(cells, "max_length"),
             sweep(cells, "context_window_words"), first_token(cells), size(cells)]
    return [f for f in found if f is not None]
