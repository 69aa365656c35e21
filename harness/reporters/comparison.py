"""The regression gate's comparison for people: a terminal table and markdown (PR comment, step summary).

Both say the same things in the same order: what is compared (names, runs, dates, commits),
the cells' shared parts once, warnings, the table, the rule, and ONE summary line at the end.
"""
from __future__ import annotations

import math
import sys
from typing import Any

from harness.analysis import stats
from harness.analysis.compare import Comparison, summary_line
from harness.reporters.table import markdown_table, md_escape

HEADER = ["cell", "blocks", "n", "base ms", "cand ms", "change", "95 % CI", "p", "verdict"]
VERDICT_TEXT = {stats.SLOWER: "SLOWER", stats.FASTER: "faster", stats.SAME: "same", stats.UNSTABLE: "unstable"}
NOT_A_TERMINAL_WIDTH = 400    # CI logs: never cut a line


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _ms(v: Any) -> str:
    if not _finite(v):
        return "—"
    return f"{v:,.0f}" if v >= 1000 else f"{v:.3g}" if v < 10 else f"{v:.1f}"


def _change(ratio: Any) -> str:
    return f"{(ratio - 1) * 100:+.1f} %".replace("-", "−") if _finite(ratio) else "—"


def _ci(low: Any, high: Any) -> str:
    if not (_finite(low) and _finite(high)):
        return "—"
    return f"{(low - 1) * 100:+.1f} to {(high - 1) * 100:+.1f} %".replace("-", "−")


def _p(v: Any) -> str:
    if not _finite(v):
        return "—"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def table_rows(cmp: Comparison) -> list[list[str]]:
    rows = []
    for _, r in cmp.rows.iterrows():
        rows.append([r["cell"] + (f" ({r['notes']})" if r["notes"] else ""),
                     f"{r['blocks_baseline']}/{r['blocks_candidate']}", f"{r['n_baseline']}/{r['n_candidate']}",
                     _ms(r["median_baseline_ms"]), _ms(r["median_candidate_ms"]), _change(r["ratio"]),
                     _ci(r["ci_low"], r["ci_high"]), _p(r["p_adjusted"]), VERDICT_TEXT[r["verdict"]]])
    return rows


def rule_text(cmp: Comparison) -> str:
    s = cmp.settings
    return (f"Rule: per cell, times matched prompt by prompt. With at least {s.min_blocks} blocks (app processes) "
            f"a side, each block is one value (its median) and change = ratio of their geometric means with "
            f"Welch's {s.confidence * 100:g} % interval, p = Welch's t; with fewer, change = Hodges-Lehmann ratio "
            f"of the samples with its {s.confidence * 100:g} % interval, p = Mann-Whitney, and a within-prompt CV "
            f"above {s.cv_threshold * 100:g} % makes the cell unstable. p is Holm-corrected over {len(cmp.rows)} "
            f"cell(s). SLOWER: p < {s.alpha:g} and the interval's lower bound above +{s.min_effect * 100:g} %. "
            f"faster: p < {s.alpha:g} and upper bound below −{s.min_effect * 100:g} %. same: upper bound at "
            f"most +{s.min_effect * 100:g} %. unstable: fewer than {s.min_samples} samples on a side, or an "
            "interval too wide to decide (not a failure unless --fail-on-unstable).")


def heading_lines(cmp: Comparison) -> list[str]:
    lines = [f"Baseline:  {cmp.baseline.describe()}", f"Candidate: {cmp.candidate.describe()}"]
    if cmp.constant:
        lines.append("Cells: " + " · ".join(cmp.constant))
    return lines


def _one_sided(cmp: Comparison) -> list[str]:
    return [f"only in {side} (not compared): {c}"
            for side, cells in (("baseline", cmp.only_baseline), ("candidate", cmp.only_candidate)) for c in cells]


def render_markdown(cmp: Comparison, fail_on_unstable: bool = False) -> str:
    """Markdown for a PR comment / GitHub step summary, ending with the summary line."""
    summary = summary_line(cmp, fail_on_unstable)
    parts = [f"### Benchmark comparison: {md_escape(summary.split(':', 1)[0])}",
             "\n".join(f"- {md_escape(x)}" for x in heading_lines(cmp))]
    parts += [f"> **Warning:** {md_escape(w)}" for w in cmp.warnings]
    parts += [f"> **Note:** {md_escape(n)}" for n in cmp.notes]
    parts.append(markdown_table(HEADER, table_rows(cmp)))
    one_sided = _one_sided(cmp)
    if one_sided:
        parts.append("\n".join(f"- {md_escape(x)}" for x in one_sided))
    parts.append(f"_{md_escape(rule_text(cmp))}_")
    parts.append(f"**{md_escape(summary)}**")
    return "\n\n".join(parts) + "\n"


def console_for_stdout():
    """A console on standard output: its real width on a terminal, never cut when not one (CI logs)."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=NOT_A_TERMINAL_WIDTH)


def render_terminal(cmp: Comparison, console=None, fail_on_unstable: bool = False) -> None:
    """The comparison on a terminal (or a log), ending with the summary line."""
    from rich import box
    from rich.table import Table

    console = console or console_for_stdout()
    say = lambda text, style=None: console.print(text, style=style, highlight=False, markup=False,  # noqa: E731
                                                 soft_wrap=True)
    for line in heading_lines(cmp):
        say(line)
    for w in cmp.warnings:
        say(f"warning: {w}", "yellow")
    for n in cmp.notes:
        say(f"note: {n}", "dim")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for h in HEADER:
        table.add_column(h, justify="left" if h in ("cell", "verdict") else "right",
                         no_wrap=h != "cell", overflow="fold", min_width=len(h))
    styles = {stats.SLOWER: "bold red", stats.FASTER: "green", stats.UNSTABLE: "yellow"}
    for row, verdict in zip(table_rows(cmp), cmp.rows["verdict"] if len(cmp.rows) else []):
        table.add_row(*row, style=styles.get(verdict))
    console.print(table)
    for line in _one_sided(cmp):
        say(line)
    say(rule_text(cmp), "dim")
    failed = summary_line(cmp, fail_on_unstable).startswith("FAIL")
    say(summary_line(cmp, fail_on_unstable), "bold red" if failed else "bold green")

