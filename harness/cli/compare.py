"""``harness compare``: the regression gate — baseline against candidate, cell by cell.

Exit status: 0 no regression, 1 a slowdown (and only that; also an unstable cell with
--fail-on-unstable), 2 anything else (bad input, no cell in common, a cell on one side
only without --allow-missing, an unexpected error): CI must never read a broken gate as
a pass or as a regression.
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
    from harness.analysis import defaults

    p = common.add_command(
        sub, "compare", help="regression gate: exit 1 on a slowdown, 2 when it cannot judge",
        description="Compare a candidate run with a baseline, cell by cell (times matched prompt by prompt). "
                    "With --min-blocks blocks a side (harness run --rounds), one value per block and Welch's "
                    "interval and p on them; with fewer, the samples' Hodges-Lehmann ratio with its 95 % "
                    "interval and the Mann-Whitney p-value. p is Holm-corrected over the cells. Verdict per "
                    "cell: SLOWER only when p < alpha AND the interval's lower bound is above 1 + min effect; "
                    "faster; same; or unstable (too noisy to judge: few samples, an interval too wide, or on "
                    "samples a high within-prompt CV). Ends with one PASS/FAIL line. "
                    "The markdown form is also appended to $GITHUB_STEP_SUMMARY when set.",
        examples="""harness baseline save v1.2 latest
harness compare v1.2 latest
harness compare v1.2 20261201T010153Z-823508 --markdown compare.md
harness compare v1.2 latest --fail-on-unstable      # strict CI: a cell too noisy to judge fails too""",
        exits="0 no cell slower\n1 at least one cell slower (a regression); with --fail-on-unstable also an "
              "unstable cell\n2 anything else: bad input, no cell in common, a cell on one side only "
              "(see --allow-missing), an unexpected error")
    p.add_argument("baseline", help="baseline name (results/baselines/NAME.json), run id, 'latest', file or directory")
    p.add_argument("candidate", help="run id, 'latest', file or directory")
    p.add_argument("--min-effect", type=common.ratio("--min-effect"), default=defaults.GATE_MIN_EFFECT,
                   help="smallest slowdown that counts (fraction or percentage): the interval's lower bound "
                        "must clear it")
    p.add_argument("--alpha", type=common.ratio("--alpha", low_open=True), default=defaults.GATE_ALPHA,
                   help="family-wise significance level (Holm over the cells)")
    p.add_argument("--cv-threshold", type=common.ratio("--cv-threshold", low_open=True),
                   default=defaults.GATE_CV_THRESHOLD,
                   help="judged on samples (fewer blocks than --min-blocks): a cell whose within-prompt CV is "
                        "above this on either side is unstable")
    p.add_argument("--min-samples", type=common.count("--min-samples", 2), default=defaults.GATE_MIN_SAMPLES,
                   help="a cell with fewer measured samples on either side is unstable")
    p.add_argument("--min-blocks", type=common.count("--min-blocks", 2), default=defaults.GATE_MIN_BLOCKS,
                   help="blocks (app processes; harness run --rounds) a side from which a cell is judged on "
                        "blocks rather than samples")
    p.add_argument("--allow-missing", action="store_true",
                   help="compare the common cells when some were measured on one side only (they are listed)")
    p.add_argument("--fail-on-unstable", action="store_true",
                   help="exit 1 also when a cell is too noisy to judge")
    p.add_argument("--markdown", metavar="FILE", help="also write the comparison as markdown ('-': standard output)")
    p.add_argument("--allow-cross-device", action="store_true",
                   help="compare runs from different devices (matched by alias)")
    p.add_argument("--allow-cross-model", action="store_true", help="compare runs of different models")
    common.add_results_dir(p)
    p.set_defaults(func=run, exit_on_error=EXIT_ERROR)


def load_side(name: str, results_dir: Path):
    """(tidy frame, Side) of one side as the user named it."""
    from harness.analysis.compare import Side
    from harness.results.frame import frame_from_docs, load_docs
    from harness.results.runs import expand_latest

    docs = load_docs(expand_latest([name], results_dir), results_dir)
    return frame_from_docs((str(p), d) for p, d in docs), Side.from_docs(name, [d for _, d in docs])


def _append_summary(md: str) -> None:
    summary = os.environ.get(SUMMARY_ENV)
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(md)
        except OSError as e:
            raise UserError(f"{SUMMARY_ENV}={summary}: cannot append ({e.strerror})") from None


def run(args) -> int:
    from harness.analysis.compare import Settings, compare, exit_code
    from harness.reporters.comparison import render_markdown, render_terminal

    results_dir = common.results_dir(args)
    (base_df, base), (cand_df, cand) = load_side(args.baseline, results_dir), load_side(args.candidate, results_dir)
    settings = Settings(min_effect=args.min_effect, alpha=args.alpha, cv_threshold=args.cv_threshold,
                        min_samples=args.min_samples, min_blocks=args.min_blocks)
    cmp = compare(base_df, cand_df, settings, baseline=base, candidate=cand, allow_missing=args.allow_missing,
                  allow_cross_device=args.allow_cross_device, allow_cross_model=args.allow_cross_model)
    md = render_markdown(cmp, args.fail_on_unstable)
    if args.markdown == "-":
        sys.stdout.write(md)
    else:
        render_terminal(cmp, fail_on_unstable=args.fail_on_unstable)
        if args.markdown:
            try:
                Path(args.markdown).write_text(md, encoding="utf-8")
            except OSError as e:
                raise UserError(f"{args.markdown}: cannot write markdown ({e.strerror})") from None
    _append_summary(md)
    return exit_code(cmp, args.fail_on_unstable)
