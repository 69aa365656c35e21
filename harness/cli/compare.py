"""``harness compare``: the regression gate — baseline against candidate, cell by cell.

Exit status: 0 no regression, 1 a significant slowdown (and only that), 2 anything
else (bad input, nothing to compare, an unexpected error): CI must never read a broken
gate as a regression.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.cli import common
from harness.errors import UserError

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
EXIT_ERROR = 2


def add_parser(sub) -> None:
    from harness.analysis.compare import DEFAULT_ALPHA, DEFAULT_MIN_EFFECT

    p = common.add_command(
        sub, "compare", help="regression gate: exit 1 on a significant slowdown",
        description="Compare a candidate run with a baseline, cell by cell: the median ratio, a "
                    "Hodges-Lehmann ratio with its confidence interval, and the Mann-Whitney p-value. "
                    "A cell is slower only when the slowdown is significant AND larger than the minimum "
                    "effect. The markdown form is also appended to $GITHUB_STEP_SUMMARY when set.",
        examples="""harness baseline save v1.2 latest
harness compare v1.2 latest
harness compare v1.2 20261201T010153Z-823508 --markdown compare.md""",
        exits="0 no regression\n1 at least one cell significantly slower (a regression)\n"
              "2 anything else: bad input, no comparable cells, an unexpected error")
    p.add_argument("baseline", help="baseline name (results/baselines/NAME.json), run id, 'latest', file or directory")
    p.add_argument("candidate", help="run id, 'latest', file or directory")
    p.add_argument("--min-effect", type=common.ratio("--min-effect"), default=DEFAULT_MIN_EFFECT,
                   help="smallest slowdown that counts, as a fraction or percentage")
    p.add_argument("--alpha", type=common.ratio("--alpha", low_open=True), default=DEFAULT_ALPHA,
                   help="significance level")
    p.add_argument("--markdown", metavar="FILE", help="also write the comparison as markdown ('-': standard output)")
    p.add_argument("--allow-cross-device", action="store_true",
                   help="compare runs from different devices (matched by alias)")
    p.add_argument("--allow-cross-model", action="store_true", help="compare runs of different models")
    common.add_results_dir(p)
    p.set_defaults(func=run, exit_on_error=EXIT_ERROR)


def _load_side(name: str, results_dir: Path):
    from harness.results.frame import frame_from_docs, load_docs
    from harness.results.runs import expand_latest

    docs = load_docs(expand_latest([name], results_dir), results_dir)
    return frame_from_docs((str(p), d) for p, d in docs)


def _append_summary(md: str) -> None:
    summary = os.environ.get(SUMMARY_ENV)
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(md)
        except OSError as e:
            raise UserError(f"{SUMMARY_ENV}={summary}: cannot append ({e.strerror})") from None


def run(args) -> int:
    from harness.analysis.compare import compare, exit_code
    from harness.reporters.comparison import render_markdown, render_terminal

    results_dir = common.results_dir(args)
    cmp = compare(_load_side(args.baseline, results_dir), _load_side(args.candidate, results_dir),
                  min_effect=args.min_effect, alpha=args.alpha, allow_cross_device=args.allow_cross_device,
                  allow_cross_model=args.allow_cross_model)
    md = render_markdown(cmp)
    if args.markdown == "-":
        sys.stdout.write(md)
    else:
        render_terminal(cmp)
        if args.markdown:
            try:
                Path(args.markdown).write_text(md, encoding="utf-8")
            except OSError as e:
                raise UserError(f"{args.markdown}: cannot write markdown ({e.strerror})") from None
    _append_summary(md)
    return exit_code(cmp)
