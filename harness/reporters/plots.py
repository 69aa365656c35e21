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


def _colors(cells: pd.DataFrame) -> dict[str, str]:
    ordered = sorted({str(v) for v in cells["variant"]}, key=variants_mod.rank)
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(ordered)}


def _panels(cells: pd.DataFrame, keys: list[str] = PANEL_KEYS):
    """(title, cells of the panel) per device x model x export."""
    for key, g in cells.groupby(keys, sort=False, dropna=False):
        dev, model, export = key[:3]
        tag = (" (EMULATED)" if g["emulated"].any() else "") + (" (SYNTHETIC)" if g["synthetic"].any() else "")
        extra = "".join(f" · {k[0]}{v}" for k, v in zip(keys[3:], key[3:]))
        yield f"{dev} · {model} · {export}{extra}{tag}", g


def _short(c: Any, group: pd.DataFrame, sep: str = " ") -> str:
    """The variant, plus whichever of max length / context window / threads varies in the panel."""
    s = str(c["variant"])
    for col, prefix in (("max_length", "L"), ("context_window_words", "cw"), ("threads", "t")):
        if group[col].nunique(dropna=False) > 1:
            s += f"{sep}{prefix}{c[col]}"
    return s


def _flagged(c: Any) -> bool:
    """A cell whose own warnings (not the page banners) make its figures doubtful: drawn hollow."""
    return any(n in (c["notes"] or "") for n in ("high CV", "few samples", "throttled", "FAILED", "stopped early"))


def forest(cells: pd.DataFrame, min_effect: float = DEFAULT_MIN_EFFECT) -> Figure | None:
    """Speedup against fp32 per variant: Hodges-Lehmann point, 95 % interval, the min-effect band."""
    rows = cells[(cells["variant"] != REFERENCE_VARIANT) & cells["speedup_low"].notna()] \
        if "speedup_low" in cells else cells.iloc[0:0]
    if rows.empty:
        return None
    colors = _colors(cells)
    band = (1 / (1 + min_effect), 1 / (1 - min_effect))
    xlim = padded([*rows["speedup_low"], *rows["speedup_high"]], log=True, include=band)
    chart = Chart()
    for title, g in _panels(rows):
        ax = chart.add(xlim, (-0.5, len(g) - 0.5), height=ROW_PX * len(g) + 10, xlog=True, title=title,
                       xlabel="speedup ×fp32 (fp32 time ÷ this time; right of 1 = faster)", right=70)
        ax.xband(*band, label=f"within ±{min_effect * 100:g} %: the gate's minimum effect")
        ax.segment(1, -0.5, 1, len(g) - 0.5, "#444", 1, "4 3")
        ax.yticks = []
        for i, (_, c) in enumerate(g.iterrows()):
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
                  {cell_label(c) for _, c in rows.iterrows()})


def _strip(values: np.ndarray) -> np.ndarray:
    if len(values) > MAX_STRIP_POINTS:
        values = np.sort(values)[np.linspace(0, len(values) - 1, MAX_STRIP_POINTS).astype(int)]
    return values


def distribution(cells: pd.DataFrame, samples: dict) -> Figure:
    """Wall time per generation per cell: box (quartiles, 5th-95th percentile whiskers) and samples."""
    colors = _colors(cells)
    most = max(len(g) for _, g in _panels(cells))
    chart = Chart(width=max(760, 190 + 64 * most))
    for title, g in _panels(cells):
        walls = [samples.get(key_of(c[k] for k in CELL_KEYS), (np.array([]),))[0] for _, c in g.iterrows()]
        ylim = padded([v for w in walls for v in (np.percentile(w, [0, 100]) if len(w) else [])],
                      log=False, include=[0])
        ax = chart.add((0.4, len(g) + 0.6), (0, ylim[1]), height=200, title=title,
                       ylabel="wall time per generation (ms)")
        chart.height += 24       # room for two-line labels
        ax.xticks = [(i + 1, _short(c, g, "\n")) for i, (_, c) in enumerate(g.iterrows())]
        for i, ((_, c), w) in enumerate(zip(g.iterrows(), walls), start=1):
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
                  chart.svg(), {cell_label(c) for _, c in cells.iterrows()})


def _sweep_series(g: pd.DataFrame, x: str, other: str) -> list[tuple[str, pd.DataFrame]]:
    """Lines of a sweep along ``x``: per variant, and per ``other`` value when it is held fixed.

    The context window defaults to half the max length, so in a max-length sweep each max
    length has its own context window: then the variant's cells form ONE line, not one point
    per context window. A context-window sweep needs a max length held fixed."""
    out = []
    for v, gv in g.groupby("variant", sort=False):
        fixed = [(o, go) for o, go in gv.groupby(other, sort=False, dropna=False) if go[x].nunique() > 1]
        if fixed:
            prefix = "L" if other == "max_length" else "cw"
            out += [(f"{v} {prefix}{o}" if len(fixed) > 1 or gv[other].nunique() > 1 else str(v), go)
                    for o, go in fixed]
        elif x == "max_length" and gv[x].nunique() > 1 and not gv[x].duplicated().any():
            out.append((f"{v} (cw varies with it)", gv))
    return [(label, s.sort_values(x)) for label, s in out]


def sweep(cells: pd.DataFrame, x: str) -> Figure | None:
    """Median time (± MAD) against max length or context window, one line per series."""
    other = "context_window_words" if x == "max_length" else "max_length"
    what = "max length (tokens)" if x == "max_length" else "context window (words of the prompt kept)"
    colors = _colors(cells)
    chart, shown = Chart(), set()
    for title, g in _panels(cells, [*PANEL_KEYS, "threads"]):
        series = _sweep_series(g[g["median_ms"].notna()], x, other)
        if not series:
            continue
        xs = [v for _, s in series for v in s[x]]
        ys = [v for _, s in series for v in (s["median_ms"] + s["mad_ms"].fillna(0))]
        ax = chart.add(padded(xs), padded(ys, include=[0]), height=220, title=title.replace(" · t", " · threads "),
                       xlabel=what, ylabel="median wall time (ms) ± MAD")
        for i, (label, s) in enumerate(series):
            color = colors[str(s["variant"].iloc[0])] if len(series) <= len(colors) else PALETTE[i % len(PALETTE)]
            ax.polyline(s[x], s["median_ms"], color)
            for _, c in s.iterrows():
                if math.isfinite(c["mad_ms"]):
                    ax.segment(c[x], c["median_ms"] - c["mad_ms"], c[x], c["median_ms"] + c["mad_ms"], color, 1.2)
                ax.point(c[x], c["median_ms"], color, 3.5, hollow=_flagged(c),
                         tip=f"{label} {x}={c[x]}: {c['median_ms']:.3g} ms")
                shown.add(cell_label(c))
            chart.legend(label, color)
    if not shown:
        return None
    key = "sweep-length" if x == "max_length" else "sweep-context"
    return Figure(key, f"Latency against {what}",
                  "Median wall time per generation ± MAD; one line per variant (and per fixed value of the other "
                  "parameter). Hollow: the cell has a warning.", chart.svg(), shown)


def _bars(chart: Chart, g: pd.DataFrame, col: str, title: str, xlabel: str, colors: dict) -> None:
    ax = chart.add(padded([*g[col]], include=[0], pad=0.12), (-0.5, len(g) - 0.5), height=ROW_PX * len(g) + 10,
                   title=title, xlabel=xlabel, right=60)
    ax.yticks = []
    for i, (_, c) in enumerate(g.iterrows()):
        y = len(g) - 1 - i
        ax.rect(0, y - 0.32, c[col], y + 0.32, colors[str(c["variant"])], 0.85 if not _flagged(c) else 0.35,
                tip=f"{c[col]:.4g}")
        ax.text(ax.xlim[0], y, _short(c, g), dx=-6, dy=3.5, anchor="end")
        ax.text(c[col], y, fmt_num(c[col]), dx=4, dy=3.5)


def first_token(cells: pd.DataFrame) -> Figure | None:
    """Time to first token (prefill) and decode tokens/s, where the export measures them."""
    rows = cells[cells["prefill_ms"].notna() | cells["decode_tokens_per_s"].notna()]
    if rows.empty:
        return None
    colors, chart = _colors(cells), Chart()
    for title, g in _panels(rows):
        if g["prefill_ms"].notna().any():
            _bars(chart, g[g["prefill_ms"].notna()], "prefill_ms", f"{title} — time to first token",
                  "prefill ms (median; lower is better)", colors)
        if g["decode_tokens_per_s"].notna().any():
            _bars(chart, g[g["decode_tokens_per_s"].notna()], "decode_tokens_per_s", f"{title} — decode speed",
                  "decode tokens/s (median; higher is better)", colors)
    return Figure("first-token", "Time to first token and decode speed",
                  "Prefill = the prompt's pass, up to the first generated token; decode = the following tokens. "
                  "Pale bars: the cell has a warning.", chart.svg(), {cell_label(c) for _, c in rows.iterrows()})


def size(cells: pd.DataFrame) -> Figure | None:
    """Median latency against model size, each point labelled."""
    rows = cells[cells["size_mb"].notna() & cells["median_ms"].notna()]
    if rows.empty:
        return None
    colors, chart = _colors(cells), Chart()
    wide = lambda v: bool(len(v)) and max(v) / max(min(v), 1e-9) >= 10  # noqa: E731
    for title, g in _panels(rows):
        xlog, ylog = wide(list(g["size_mb"])), wide(list(g["median_ms"]))
        ax = chart.add(padded(g["size_mb"], xlog, 0.15), padded(g["median_ms"], ylog, 0.15), height=230,
                       xlog=xlog, ylog=ylog, title=title, xlabel="model size (MB)", ylabel="median wall time (ms)")
        for _, c in g.iterrows():
            color = colors[str(c["variant"])]
            ax.point(c["size_mb"], c["median_ms"], color, 4.5, hollow=_flagged(c),
                     tip=f"{_short(c, g)}: {c['size_mb']:.3g} MB, {c['median_ms']:.3g} ms")
            ax.text(c["size_mb"], c["median_ms"], _short(c, g), dx=7, dy=-5, color=color)
    return Figure("size", "Latency against model size",
                  "Each point is a cell, labelled with its variant. Hollow: the cell has a warning.", chart.svg(),
                  {cell_label(c) for _, c in rows.iterrows()})


def figures(report: Report, samples: dict, min_effect: float = DEFAULT_MIN_EFFECT) -> list[Figure]:
    """Every figure that has data, in page order."""
    cells = report.cells[report.cells["n"] > 0] if len(report.cells) else report.cells
    if cells.empty:
        return []
    found = [forest(cells, min_effect), distribution(cells, samples), sweep(cells, "max_length"),
             sweep(cells, "context_window_words"), first_token(cells), size(cells)]
    return [f for f in found if f is not None]

