"""Small SVG charts written as text: axes with round ticks (linear or log), points, lines,
intervals, shaded bands, boxes, bars, labels and a legend.

Why not matplotlib: the report page must render 100,000 samples in under 2 s, and
matplotlib's import plus four figures took longer than that alone (and wrote a 1.2 MB
SVG for one strip plot). These charts are plain SVG elements: no script, no font files.
"""
from __future__ import annotations

import html
import math
from typing import Sequence

FONT = "system-ui,-apple-system,Segoe UI,Roboto,sans-serif"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 150, 20, 24, 40


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:.10g}" if float(v).is_integer() else f"{v:.3g}"
    return f"{v:.2g}"


def linear_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    return [round(start + i * step, 12) for i in range(int((hi - start) / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2, 5 x 10^k within [lo, hi] (only 1 x 10^k across many decades)."""
    if lo <= 0 or hi <= lo:
        return []
    if hi / lo < 10:              # less than a decade: round linear steps read better
        return [t for t in linear_ticks(lo, hi, 4) if t > 0]
    mults = (1, 2, 5) if math.log10(hi / lo) < 4 else (1,)
    out = [m * 10 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in mults]
    ticks = [t for t in out if lo <= t * (1 + 1e-9) and t <= hi * (1 + 1e-9)]
    return ticks if len(ticks) >= 2 else sorted({*ticks, lo, hi})


def padded(values: Sequence[float], log: bool = False, pad: float = 0.08, include: Sequence[float] = ()) -> tuple[float, float]:
    """A data range around ``values`` (finite ones) with some room on both sides."""
    vals = [float(v) for v in [*values, *include] if v is not None and math.isfinite(v) and (v > 0 or not log)]
    if not vals:
        return (0.5, 2.0) if log else (0.0, 1.0)
    lo, hi = min(vals), max(vals)
    if log:
        lo, hi = (lo / 1.5, hi * 1.5) if lo == hi else (lo, hi)
        span = math.log10(hi / lo)
        return lo / 10 ** (span * pad), hi * 10 ** (span * pad)
    if lo == hi:
        lo, hi = lo - (abs(lo) * 0.1 or 1), hi + (abs(hi) * 0.1 or 1)
    span = hi - lo
    return lo - span * pad, hi + span * pad


class Axes:
    """One plotting area in pixel box (x, y, w, h) mapping data limits onto it."""

    def __init__(self, x: float, y: float, w: float, h: float, xlim, ylim, *, xlog: bool = False, ylog: bool = False):
        self.x, self.y, self.w, self.h = x, y, w, h
        self.xlim, self.ylim, self.xlog, self.ylog = xlim, ylim, xlog, ylog
        self.items: list[str] = []
        self.xticks: list[tuple[float, str]] | None = None
        self.yticks: list[tuple[float, str]] | None = None

    def _frac(self, v: float, lim, log: bool) -> float:
        lo, hi = lim
        if log:
            return (math.log10(max(v, 1e-300)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return (v - lo) / (hi - lo) if hi != lo else 0.5

    def sx(self, v: float) -> float:
        return round(self.x + self._frac(v, self.xlim, self.xlog) * self.w, 2)

    def sy(self, v: float) -> float:
        return round(self.y + self.h - self._frac(v, self.ylim, self.ylog) * self.h, 2)

    # ------------------------------------------------------------ marks
    def point(self, x, y, color: str, r: float = 3.5, tip: str | None = None, hollow: bool = False,
              shape: str = "circle") -> None:
        fill = "white" if hollow else color
        cx, cy = self.sx(x), self.sy(y)
        title = f"<title>{esc(tip)}</title>" if tip else ""
        if shape == "diamond":
            pts = f"{cx},{cy - r * 1.3} {cx + r * 1.3},{cy} {cx},{cy + r * 1.3} {cx - r * 1.3},{cy}"
            self.items.append(f'<polygon points="{pts}" fill="{fill}" stroke="{color}" stroke-width="1.5">{title}</polygon>')
        else:
            self.items.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{fill}" stroke="{color}" '
                              f'stroke-width="1.2" fill-opacity="{0.75 if not hollow else 1}">{title}</circle>')

    def segment(self, x1, y1, x2, y2, color: str, width: float = 1.5, dash: str | None = None) -> None:
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.items.append(f'<line x1="{self.sx(x1)}" y1="{self.sy(y1)}" x2="{self.sx(x2)}" y2="{self.sy(y2)}" '
                          f'stroke="{color}" stroke-width="{width}"{d}/>')

    def polyline(self, xs, ys, color: str, width: float = 1.8) -> None:
        pts = " ".join(f"{self.sx(x)},{self.sy(y)}" for x, y in zip(xs, ys) if math.isfinite(y))
        self.items.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="{width}"/>')

    def xband(self, x1, x2, color: str = "#2ca02c", opacity: float = 0.12, label: str | None = None) -> None:
        a, b = sorted((self.sx(max(x1, self.xlim[0])), self.sx(min(x2, self.xlim[1]))))
        self.items.append(f'<rect x="{a}" y="{self.y}" width="{round(b - a, 2)}" height="{self.h}" fill="{color}" '
                          f'fill-opacity="{opacity}"><title>{esc(label or "")}</title></rect>')

    def rect(self, x1, y1, x2, y2, color: str, opacity: float = 0.85, tip: str | None = None) -> None:
        a, b = sorted((self.sx(x1), self.sx(x2)))
        c, d = sorted((self.sy(y1), self.sy(y2)))
        title = f"<title>{esc(tip)}</title>" if tip else ""
        self.items.append(f'<rect x="{a}" y="{c}" width="{round(b - a, 2)}" height="{round(d - c, 2)}" '
                          f'fill="{color}" fill-opacity="{opacity}" stroke="{color}">{title}</rect>')

    def box(self, pos: float, q1: float, med: float, q3: float, lo: float, hi: float, color: str,
            half: float = 0.28) -> None:
        """A vertical box plot at category ``pos``: whiskers lo..hi, box q1..q3, median line."""
        self.segment(pos, lo, pos, q1, "#555", 1)
        self.segment(pos, q3, pos, hi, "#555", 1)
        self.rect(pos - half, q1, pos + half, q3, color, 0.18)
        self.segment(pos - half, med, pos + half, med, color, 2.2)

    def text(self, x, y, s: str, *, anchor: str = "start", dx: float = 0, dy: float = 0, size: int = 10,
             color: str = "#222", weight: str = "normal") -> None:
        self.items.append(f'<text x="{round(self.sx(x) + dx, 2)}" y="{round(self.sy(y) + dy, 2)}" '
                          f'text-anchor="{anchor}" font-size="{size}" fill="{color}" font-weight="{weight}">'
                          f'{esc(s)}</text>')

    # ------------------------------------------------------------ frame
    def _ticks(self, lim, log: bool, given) -> list[tuple[float, str]]:
        if given is not None:
            return given
        values = log_ticks(*lim) if log else linear_ticks(*lim)
        return [(v, fmt_tick(v)) for v in values]

    def frame_svg(self, xlabel: str = "", ylabel: str = "", title: str = "") -> str:
        """Grid, ticks, axis labels and title, then the marks (clipped to the plotting area)."""
        out = [f'<rect x="{self.x}" y="{self.y}" width="{self.w}" height="{self.h}" fill="white" stroke="#999"/>']
        for v, label in self._ticks(self.xlim, self.xlog, self.xticks):
            px = self.sx(v)
            out.append(f'<line x1="{px}" y1="{self.y}" x2="{px}" y2="{self.y + self.h}" stroke="#e3e3e3"/>')
            lines = "".join(f'<tspan x="{px}" dy="{0 if i == 0 else 11}">{esc(part)}</tspan>'
                            for i, part in enumerate(str(label).split("\n")))
            out.append(f'<text x="{px}" y="{self.y + self.h + 13}" text-anchor="middle" font-size="10">{lines}</text>')
        for v, label in self._ticks(self.ylim, self.ylog, self.yticks):
            py = self.sy(v)
            out.append(f'<line x1="{self.x}" y1="{py}" x2="{self.x + self.w}" y2="{py}" stroke="#e3e3e3"/>')
            out.append(f'<text x="{self.x - 5}" y="{py + 3.5}" text-anchor="end" font-size="10">{esc(label)}</text>')
        if xlabel:
            out.append(f'<text x="{self.x + self.w / 2}" y="{self.y + self.h + 30}" text-anchor="middle" '
                       f'font-size="11">{esc(xlabel)}</text>')
        if ylabel:
            cx, cy = self.x - MARGIN_LEFT + 14, self.y + self.h / 2
            out.append(f'<text x="{cx}" y="{cy}" text-anchor="middle" font-size="11" '
                       f'transform="rotate(-90 {cx} {cy})">{esc(ylabel)}</text>')
        if title:
            out.append(f'<text x="{self.x}" y="{self.y - 8}" font-size="11.5" font-weight="600">{esc(title)}</text>')
        return "".join(out) + "".join(self.items)


class Chart:
    """A figure of panels stacked vertically, with an optional legend; ``svg()`` gives the markup."""

    def __init__(self, width: float = 760, title: str = ""):
        self.width, self.title = width, title
        self.panels: list[tuple[Axes, str, str, str]] = []
        self.legend_entries: list[tuple[str, str, str]] = []
        self.height = MARGIN_TOP + (18 if title else 0)

    def add(self, xlim, ylim, *, height: float = 220, xlog: bool = False, ylog: bool = False, xlabel: str = "",
            ylabel: str = "", title: str = "", left: float = MARGIN_LEFT, right: float = MARGIN_RIGHT) -> Axes:
        ax = Axes(left, self.height + (16 if title else 0), self.width - left - right, height, xlim, ylim,
                  xlog=xlog, ylog=ylog)
        self.panels.append((ax, xlabel, ylabel, title))
        self.height = ax.y + height + MARGIN_BOTTOM
        return ax

    def legend(self, label: str, color: str, shape: str = "circle") -> None:
        if (label, color, shape) not in self.legend_entries:
            self.legend_entries.append((label, color, shape))

    def _legend_svg(self) -> str:
        out, x, y = [], MARGIN_LEFT, self.height + 4
        for label, color, shape in self.legend_entries:
            w = 22 + 6.2 * len(label)
            if x + w > self.width:
                x, y = MARGIN_LEFT, y + 16
            mark = (f'<rect x="{x}" y="{y - 6}" width="14" height="8" fill="{color}" fill-opacity="0.2" stroke="{color}"/>'
                    if shape == "band" else f'<circle cx="{x + 5}" cy="{y - 2}" r="4" fill="{color}"/>')
            out.append(mark + f'<text x="{x + 18}" y="{y + 2}" font-size="10">{esc(label)}</text>')
            x += w
        self.height = y + 12 if self.legend_entries else self.height
        return "".join(out)

    def svg(self) -> str:
        body = "".join(ax.frame_svg(xl, yl, t) for ax, xl, yl, t in self.panels)
        legend = self._legend_svg()
        head = (f'<text x="10" y="{MARGIN_TOP - 4}" font-size="13" font-weight="600">{esc(self.title)}</text>'
                if self.title else "")
        h = round(self.height, 1)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{self.width}" height="{h}" '
                f'viewBox="0 0 {self.width} {h}" font-family="{FONT}" aria-label="{esc(self.title)}">'
                f"<title>{esc(self.title)}</title>{head}{body}{legend}</svg>")
