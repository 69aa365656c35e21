"""The regression gate: baseline vs candidate, per cell, with named baselines.

Cells are matched on what makes two measurements comparable: device (build
fingerprint), model *source* (two conversions of one model have different
sha256, so the hash is shown but not matched), variant, export, max length,
context window and threads. Comparing across devices or models is refused
unless explicitly allowed.

Per cell: ratio of medians candidate/baseline, a Hodges-Lehmann ratio with a
distribution-free CI (on log times), the two-sided Mann-Whitney p-value and a
verdict. ``slower`` needs BOTH p < alpha AND ratio > 1 + min_effect (asv's
rule); everything else is said out loud as "no significant change".
"""
from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from harness import stats
from harness.errors import UserError
from harness.frame import BASELINES_SUBDIR, frame_from_docs, load_docs
from harness.report import markdown_table
from harness.results import SCHEMA_VERSION, write_json_atomic

DEFAULT_MIN_EFFECT = 0.05   # fraction: 5 % slower before a significant change counts as a regression
DEFAULT_ALPHA = 0.05        # Mann-Whitney two-sided significance level
CONFIDENCE = 0.95           # of the ratio's CI
EXIT_OK = 0
EXIT_REGRESSION = 1
BASELINE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

MATCH_KEYS = ["device_fingerprint", "model_source", "variant", "export", "max_length",
              "context_window_words", "threads"]


@dataclass
class Comparison:
    """Per-cell results (``rows``), cells present on one side only, and notes shown to the user."""

    rows: pd.DataFrame
    only_baseline: list[str]
    only_candidate: list[str]
    notes: list[str] = field(default_factory=list)
    min_effect: float = DEFAULT_MIN_EFFECT
    alpha: float = DEFAULT_ALPHA

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["verdict"] == stats.SLOWER] if len(self.rows) else self.rows


def exit_code(comparison: Comparison) -> int:
    """0 when nothing regressed, 1 when any cell is ``slower``."""
    return EXIT_REGRESSION if len(comparison.regressions) else EXIT_OK


def _measured(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["phase"] == "measured") & df["wall_ms"].notna()]


def _single(values: pd.Series) -> set[str]:
    return {str(v) for v in values.dropna().unique()}


def _match_keys(base: pd.DataFrame, cand: pd.DataFrame, allow_cross_device: bool,
                allow_cross_model: bool, notes: list[str]) -> list[str]:
    """Choose the matching columns, refusing cross-device / cross-model comparisons unless allowed."""
    keys = list(MATCH_KEYS)
    bd, cd = _single(base["device_fingerprint"]), _single(cand["device_fingerprint"])
    if bd and cd and not (bd & cd):
        if not allow_cross_device:
            raise UserError(
                f"baseline and candidate were measured on different devices "
                f"({', '.join(sorted(_single(base['device_alias'])))} vs "
                f"{', '.join(sorted(_single(cand['device_alias'])))}: no common build fingerprint); "
                "pass --allow-cross-device to compare anyway")
        keys.remove("device_fingerprint")
        ba, ca = _single(base["device_alias"]), _single(cand["device_alias"])
        if len(ba) > 1 or len(ca) > 1:
            keys.insert(0, "device_alias")
            notes.append("cross-device comparison: devices matched by alias, not by build fingerprint")
        else:
            notes.append(f"cross-device comparison: {', '.join(ba)} (baseline) vs {', '.join(ca)} (candidate)")
    bm, cm = _single(base["model_source"]), _single(cand["model_source"])
    if bm and cm and not (bm & cm):
        if not allow_cross_model:
            raise UserError(
                f"baseline and candidate measured different models ({', '.join(sorted(bm))} vs "
                f"{', '.join(sorted(cm))}); pass --allow-cross-model to compare anyway")
        keys.remove("model_source")
        if len(bm) > 1 or len(cm) > 1:
            raise UserError("cross-model comparison needs one model on each side")
        notes.append(f"cross-model comparison: {', '.join(bm)} (baseline) vs {', '.join(cm)} (candidate)")
    return keys


def _label(key: dict) -> str:
    dev = key.get("device_alias") or key.get("_alias", "?")
    return (f"{dev} {key.get('model_source', '')} {key['variant']} {key['export']} "
            f"L{key['max_length']} cw{key['context_window_words']} t{key['threads']}").replace("  ", " ")


def compare(baseline_df: pd.DataFrame, candidate_df: pd.DataFrame, *, min_effect: float = DEFAULT_MIN_EFFECT,
            alpha: float = DEFAULT_ALPHA, allow_cross_device: bool = False,
            allow_cross_model: bool = False) -> Comparison:
    """Compare measured wall times cell by cell (see the module docstring for the rule)."""
    if not 0 < alpha < 1:
        raise UserError(f"alpha must be within (0, 1), got {alpha}")
    if min_effect < 0:
        raise UserError(f"min effect must be >= 0, got {min_effect}")
    base, cand = _measured(baseline_df), _measured(candidate_df)
    if base.empty:
        raise UserError("baseline has no measured samples")
    if cand.empty:
        raise UserError("candidate has no measured samples")
    notes: list[str] = []
    keys = _match_keys(base, cand, allow_cross_device, allow_cross_model, notes)
    bg = {k: g for k, g in base.groupby(keys, dropna=False, sort=False)}
    cg = {k: g for k, g in cand.groupby(keys, dropna=False, sort=False)}

    def label_of(k: tuple, g: pd.DataFrame) -> str:
        d = dict(zip(keys, k))
        d["_alias"] = "/".join(sorted(_single(g["device_alias"])))
        if "model_source" not in d:
            d["model_source"] = "/".join(sorted(_single(g["model_source"])))
        return _label(d)

    rows = []
    for k, b in bg.items():
        if k not in cg:
            continue
        c = cg[k]
        bw, cw = b["wall_ms"].tolist(), c["wall_ms"].tolist()
        mb, mc = stats.median(bw), stats.median(cw)
        ratio = mc / mb if mb else math.nan
        hl = stats.hodges_lehmann_ratio(bw, cw, CONFIDENCE)
        p = stats.mann_whitney_p(bw, cw)
        sha_b, sha_c = _single(b["model_sha256"]), _single(c["model_sha256"])
        row_notes = []
        if sha_b != sha_c:
            row_notes.append("model file differs")
        if b["emulated"].any() or c["emulated"].any():
            row_notes.append("EMULATED")
        if b["synthetic"].any() or c["synthetic"].any():
            row_notes.append("SYNTHETIC")
        rows.append({
            "cell": label_of(k, c), **dict(zip(keys, k)),
            "n_baseline": len(bw), "n_candidate": len(cw),
            "median_baseline_ms": mb, "median_candidate_ms": mc, "ratio": ratio,
            "hl_ratio": hl.ratio, "ci_low": hl.low, "ci_high": hl.high, "p_value": p,
            "verdict": stats.verdict(ratio, p, alpha=alpha, min_effect=min_effect),
            "notes": ", ".join(row_notes),
        })
    only_b = [label_of(k, g) for k, g in bg.items() if k not in cg]
    only_c = [label_of(k, g) for k, g in cg.items() if k not in bg]
    if not rows:
        notes.append("no cell was measured on both sides")
    elif any("EMULATED" in r["notes"] for r in rows):
        notes.append("rows marked EMULATED were measured on an emulator, not a phone")
    if rows and any("SYNTHETIC" in r["notes"] for r in rows):
        notes.append("rows marked SYNTHETIC use a model with random weights")
    return Comparison(rows=pd.DataFrame(rows), only_baseline=only_b, only_candidate=only_c,
                      notes=notes, min_effect=min_effect, alpha=alpha)


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


# ---------------------------------------------------------------- baselines

def baseline_path(name: str, results_dir: Path) -> Path:
    if not BASELINE_NAME_RE.match(name):
        raise UserError(f"invalid baseline name {name!r}: use letters, digits, '.', '_' and '-'")
    return Path(results_dir) / BASELINES_SUBDIR / f"{name}.json"


def save_baseline(name: str, run_paths: list, results_dir: Path) -> Path:
    """Merge the blocks of the given runs into ``<results_dir>/baselines/<name>.json``.

    The baseline is a result file of the same schema (raw samples kept); each
    block records the run it came from (``source_run_id``) and its id is
    prefixed with that run id so ids stay unique.
    """
    path = baseline_path(name, results_dir)
    if not run_paths:
        raise UserError("baseline save needs at least one run")
    docs = load_docs([str(p) for p in run_paths], Path(results_dir))
    blocks, run_ids = [], []
    for _, doc in docs:
        rid = doc.get("run_id")
        run_ids.append(rid)
        for b in doc.get("blocks") or []:
            b = dict(b)
            src = b.get("source_run_id") or rid
            b["source_run_id"] = src
            if not str(b.get("block_id", "")).startswith(f"{src}/"):
                b["block_id"] = f"{src}/{b.get('block_id')}"
            blocks.append(b)
    if not blocks:
        raise UserError(f"runs {', '.join(map(str, run_ids))} have no blocks to save as a baseline")
    first = docs[0][1]
    starts = [d.get("started_at") for _, d in docs if d.get("started_at")]
    ends = [d.get("finished_at") for _, d in docs if d.get("finished_at")]
    doc = {
        "schema_version": SCHEMA_VERSION,
        "run_id": f"baseline-{name}",
        "status": "failed" if any(b.get("status") == "error" for b in blocks) else "complete",
        "started_at": min(starts) if starts else None,
        "finished_at": max(ends) if ends else None,
        "harness": first.get("harness"),
        "command": ["harness", "baseline", "save", name, *map(str, run_ids)],
        "host": first.get("host"),
        "plan": first.get("plan"),
        "skipped": [s for _, d in docs for s in d.get("skipped") or []],
        "baseline": {"name": name, "runs": run_ids,
                     "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "blocks": blocks,
    }
    write_json_atomic(path, doc)
    return path


def _load_side(name: str, results_dir: Path) -> pd.DataFrame:
    docs = load_docs([name], results_dir)
    return frame_from_docs((str(p), d) for p, d in docs)


# ---------------------------------------------------------------- CLI glue

def main(baseline: str, candidate: str, min_effect: float, alpha: float, markdown: str | None,
         allow_cross_device: bool, allow_cross_model: bool, results_dir: Path) -> int:
    """`harness compare BASELINE CANDIDATE`: each side is a baseline name, run id, file or directory.

    Prints the comparison; writes markdown to ``markdown`` ('-' = stdout) and
    appends it to $GITHUB_STEP_SUMMARY when set. Returns 1 if any cell is slower, else 0.
    """
    results_dir = Path(results_dir)
    cmp = compare(_load_side(baseline, results_dir), _load_side(candidate, results_dir),
                  min_effect=min_effect, alpha=alpha, allow_cross_device=allow_cross_device,
                  allow_cross_model=allow_cross_model)
    md = render_markdown(cmp)
    if markdown == "-":
        sys.stdout.write(md)
    else:
        render_terminal(cmp)
        if markdown:
            try:
                Path(markdown).write_text(md, encoding="utf-8")
            except OSError as e:
                raise UserError(f"{markdown}: cannot write markdown ({e.strerror})") from None
    summary = os.environ.get(SUMMARY_ENV)
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(md)
        except OSError as e:
            raise UserError(f"{SUMMARY_ENV}={summary}: cannot append ({e.strerror})") from None
    return exit_code(cmp)


def baseline_save_main(name: str, runs: list[str], results_dir: Path) -> int:
    """`harness baseline save NAME RUN...`: write results/baselines/NAME.json; returns 0."""
    path = save_baseline(name, runs, Path(results_dir))
    print(f"saved baseline {name!r} ({path})")
    return EXIT_OK
