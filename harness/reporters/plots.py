"""The report's plots as inline SVG (matplotlib, no JavaScript)."""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.summary import CELL_KEYS, Report
from harness.convert import variants as variants_mod

MAX_PLOT_WIDTH_IN = 18.0         # inches; wider sweeps get narrower boxes
MAX_STRIP_POINTS = 150           # points drawn per cell in the strip plot (SVG size)


def _log_scale_if_wide(set_scale, values) -> None:
    """Log scale (``ax.set_xscale``/``set_yscale``) when the values span a decade or more;
    below that a log axis gets no labelled major tick, so it stays linear."""
    vals = [float(v) for v in values if v and v > 0]
    if vals and max(vals) / min(vals) >= 10:
        set_scale("log")


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _variant_colors(variants: list[str]) -> dict[str, str]:
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    ordered = sorted(set(variants), key=variants_mod.rank)
    return {v: palette[i % len(palette)] for i, v in enumerate(ordered)}


def _short_label(c: Any, group: pd.DataFrame) -> str:
    """Variant, plus whichever of max length / context window / threads varies within the panel."""
    s = str(c["variant"])
    for col, prefix in (("max_length", "L"), ("context_window_words", "cw"), ("threads", "t")):
        if group[col].nunique(dropna=False) > 1:
            s += f"\n{prefix}{c[col]}"
    return s


def plot_svgs(report: Report, df: pd.DataFrame) -> list[tuple[str, str]]:
    """(title, inline SVG) for each plot that has data."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    cells = report.cells[report.cells["n"] > 0] if len(report.cells) else report.cells
    if cells.empty:
        return []
    measured = df[(df["phase"] == "measured") & df["wall_ms"].notna()]
    by_cell = {tuple(map(str, k)): g["wall_ms"].to_numpy()
               for k, g in measured.groupby(CELL_KEYS, dropna=False, sort=False)}
    colors = _variant_colors([str(v) for v in cells["variant"]])
    out = []
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "harness", "font.size": 9}):
        # 1. latency distribution per variant (box + strip), one panel per device x model x export
        groups = list(cells.groupby(["device_alias", "model_source", "export"], sort=False))
        # panels stacked vertically, so many cells never make the page scroll sideways
        most = max(len(gc) for _, gc in groups)
        fig = Figure(figsize=(min(MAX_PLOT_WIDTH_IN, max(6.0, 0.7 * most + 1.5)), 3.6 * len(groups) + 0.6))
        axes = fig.subplots(len(groups), 1, squeeze=False)[:, 0]
        for ax, ((dev, model, export), gc) in zip(axes, groups):
            data, labels, cols = [], [], []
            for _, c in gc.iterrows():
                key = tuple(str(c[k]) for k in CELL_KEYS)
                data.append(by_cell[key] if key in by_cell else np.array([]))
                labels.append(_short_label(c, gc))
                cols.append(colors[str(c["variant"])])
            ax.boxplot(data, showfliers=False, widths=0.55)
            ax.set_xticks(range(1, len(labels) + 1), labels)
            for i, (vals, col) in enumerate(zip(data, cols), start=1):
                if len(vals) > MAX_STRIP_POINTS:   # keep the SVG small: evenly spaced order statistics
                    vals = np.sort(vals)[np.linspace(0, len(vals) - 1, MAX_STRIP_POINTS).astype(int)]
                jitter = [i + ((j * 0.6180339) % 1 - 0.5) * 0.3 for j in range(len(vals))]
                ax.scatter(jitter, vals, s=10, color=col, alpha=0.75, zorder=3)
            tag = " [EMULATED]" if gc["emulated"].any() else ""
            tag += " [SYNTHETIC]" if gc["synthetic"].any() else ""
            ax.set_title(f"{dev} · {model} · {export}{tag}", fontsize=9)
            ax.set_ylabel("wall time per generation (ms)")
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle("Latency distribution per variant (measured samples)")
        fig.tight_layout()
        out.append(("Latency distribution per variant", _svg(fig)))

        # 2. latency vs model size
        sized = cells[cells["size_mb"].notna() & cells["median_ms"].notna()]
        if len(sized):
            fig = Figure(figsize=(7, 4.5))
            ax = fig.subplots()
            markers = "osD^v<>"
            devices = list(dict.fromkeys(sized["device_alias"]))
            for _, c in sized.iterrows():
                ax.scatter(c["size_mb"], c["median_ms"], color=colors[str(c["variant"])],
                           marker=markers[devices.index(c["device_alias"]) % len(markers)], s=40, zorder=3)
            from matplotlib.lines import Line2D
            handles = [Line2D([], [], color=colors[v], marker="o", ls="", label=v) for v in colors] + \
                      [Line2D([], [], color="#555", marker=markers[i % len(markers)], ls="",
                              label=f"{d}{' (emulated)' if sized.loc[sized.device_alias == d, 'emulated'].any() else ''}")
                       for i, d in enumerate(devices)]
            ax.legend(handles=handles, fontsize=8)
            _log_scale_if_wide(ax.set_xscale, sized["size_mb"]); _log_scale_if_wide(ax.set_yscale, sized["median_ms"])
            ax.set_xlabel("model size (MB)"); ax.set_ylabel("median wall time (ms)")
            ax.set_title("Latency vs model size"); ax.grid(alpha=0.3, which="both")
            out.append(("Latency vs model size", _svg(fig)))

        # 3. tokens/s per device
        tps = cells[cells["tokens_per_s"].notna()]
        if len(tps):
            fig = Figure(figsize=(8, 0.32 * len(tps) + 1.6))
            ax = fig.subplots()
            labels = [f"{c['device_alias']}{' [EMULATED]' if c['emulated'] else ''} · {c['variant']} · "
                      f"L{c['max_length']} t{c['threads']}" for _, c in tps.iterrows()]
            ys = list(range(len(tps)))[::-1]
            ax.barh(ys, tps["tokens_per_s"], color=[colors[str(v)] for v in tps["variant"]])
            ax.set_yticks(ys, labels)
            ax.set_xlabel("tokens/s (median of measured samples)")
            ax.set_title("Tokens per second per device")
            ax.grid(axis="x", alpha=0.3)
            out.append(("Tokens per second per device", _svg(fig)))

        # 4. time vs max length, when a sweep has several max lengths
        sweep_keys = ["device_alias", "model_source", "export", "context_window_words", "threads"]
        sweeps = [(k, g) for k, g in cells.groupby(sweep_keys, sort=False) if g["max_length"].nunique() > 1]
        if sweeps:
            fig = Figure(figsize=(max(6.0, 4.5 * len(sweeps)), 4.2))
            axes = fig.subplots(1, len(sweeps), squeeze=False)[0]
            for ax, (key, g) in zip(axes, sweeps):
                for v, gv in g.groupby("variant", sort=False):
                    gv = gv.sort_values("max_length")
                    ax.errorbar(gv["max_length"], gv["median_ms"], yerr=gv["mad_ms"], marker="o",
                                capsize=3, color=colors[str(v)], label=str(v))
                ax.set_xlabel("max length (tokens)"); ax.set_ylabel("median wall time (ms, ± MAD)")
                ax.set_title(f"{key[0]} · {key[1]} · {key[2]} · cw{key[3]} · t{key[4]}", fontsize=9)
                ax.legend(fontsize=8); ax.grid(alpha=0.3)
            fig.suptitle("Time vs max length")
            out.append(("Time vs max length", _svg(fig)))
    return out
