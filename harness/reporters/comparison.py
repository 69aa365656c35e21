"""The regression gate's comparison as a terminal table and as markdown (PR comment, step summary)."""
from __future__ import annotations

import math

import pandas as pd

from harness.analysis import stats
from harness.analysis.compare import CONFIDENCE, Comparison
from harness.reporters.table import markdown_table


def _fmt(v: float, spec: str) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _verdict_text(row: pd.Series) -> str:
    v = row["verdict"]
    if v == stats.SLOWER:
        return "**slower** (regression)"
    if v == stats.FASTER:
        return "faster"
    p = row["p_value"]
    if isinstance(p, float) and math.isfinite(p) and p < row.get("_alpha", 1):
        return "no significant change (significant but below the minimum effect)"
    return "no significant change (not significant)"


def render_markdown(comparison: Comparison) -> str:
    """Markdown for a PR comment / GitHub step summary."""
    cmp = comparison
    n_slow = len(cmp.regressions)
    head = ("### Benchmark comparison: "
            + (f"{n_slow} regression{'s' if n_slow != 1 else ''}" if n_slow else "no regression"))
    parts = [head, f"Rule: a cell is **slower** only if Mann-Whitney p < {cmp.alpha:g} AND the median ratio "
                   f"candidate/baseline > {1 + cmp.min_effect:.2f} (faster: p < {cmp.alpha:g} and ratio < "
                   f"{1 - cmp.min_effect:.2f}). CI: Hodges-Lehmann ratio, {CONFIDENCE:.0%}."]
    parts += [f"> **Note:** {n}" for n in cmp.notes]
    if len(cmp.rows):
        header = ["cell", "n base", "n cand", "base ms", "cand ms", "ratio", f"{CONFIDENCE:.0%} CI", "p", "verdict",
                  "notes"]
        rows = []
        for _, r in cmp.rows.iterrows():
            r = r.copy()
            r["_alpha"] = cmp.alpha
            rows.append([r["cell"], str(r["n_baseline"]), str(r["n_candidate"]),
                         _fmt(r["median_baseline_ms"], ",.1f"), _fmt(r["median_candidate_ms"], ",.1f"),
                         _fmt(r["ratio"], ".3f"), f"{_fmt(r['ci_low'], '.3f')}–{_fmt(r['ci_high'], '.3f')}",
                         _fmt(r["p_value"], ".3g"), _verdict_text(r), r["notes"]])
        parts.append(markdown_table(header, rows))
    if cmp.only_baseline:
        parts.append("Only in baseline (not compared):\n\n" + "\n".join(f"- {c}" for c in cmp.only_baseline))
    if cmp.only_candidate:
        parts.append("Only in candidate (not compared):\n\n" + "\n".join(f"- {c}" for c in cmp.only_candidate))
    return "\n\n".join(parts) + "\n"


def render_terminal(comparison: Comparison, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for n in comparison.notes:
        console.print(f"note: {n}", style="yellow", highlight=False, markup=False)
    table = Table(title=f"slower = p < {comparison.alpha:g} and ratio > {1 + comparison.min_effect:.2f}")
    for h in ["cell", "n", "base ms", "cand ms", "ratio", "CI", "p", "verdict"]:
        table.add_column(h, justify="left" if h in ("cell", "verdict") else "right")
    for _, r in comparison.rows.iterrows():
        r = r.copy()
        r["_alpha"] = comparison.alpha
        style = {"slower": "bold red", "faster": "green"}.get(r["verdict"])
        table.add_row(r["cell"] + (f" [{r['notes']}]" if r["notes"] else ""),
                      f"{r['n_baseline']}/{r['n_candidate']}",
                      _fmt(r["median_baseline_ms"], ",.1f"), _fmt(r["median_candidate_ms"], ",.1f"),
                      _fmt(r["ratio"], ".3f"), f"{_fmt(r['ci_low'], '.3f')}–{_fmt(r['ci_high'], '.3f')}",
                      _fmt(r["p_value"], ".3g"), _verdict_text(r).replace("**", "").replace(
                          "no significant change (", "no change (").replace(
                          "significant but below the minimum effect", "below min effect"), style=style)
    console.print(table)
    for side, cells in (("baseline", comparison.only_baseline), ("candidate", comparison.only_candidate)):
        for c in cells:
            console.print(f"only in {side}: {c}", highlight=False, markup=False)
