"""``harness report``: tables and plots from result files."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.cli import common
from harness.errors import UserError


def add_parser(sub) -> None:
    from harness.analysis import defaults
    from harness.reporters import FORMATS

    p = common.add_command(
        sub, "report", help="tables and plots from result files",
        description="Summarise measured samples per cell (device × model × variant × max length × "
                    "context window × threads) and render them. Every figure is recomputed from the raw "
                    "samples; warnings (high CV, few samples, throttling, emulated or synthetic) appear "
                    "in every format.",
        examples="""harness report                                  # the latest run
harness report 20261201T010123Z-a8eff8 --format markdown
harness report --all --format html -o report.html   # every run, pooled
harness report v1.2                             # a saved baseline""",
        exits="0 rendered\n1 no results, a damaged file, or another user mistake (one line)\n2 usage error")
    p.add_argument("runs", nargs="*", metavar="RUN",
                   help="run ids, 'latest', result files, directories or baseline names (default: the latest run)")
    p.add_argument("--all", action="store_true", help="pool every run in the results folder")
    p.add_argument("--format", choices=list(FORMATS), default="terminal")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.add_argument("--wide", action="store_true",
                   help="every column in the tables (the default table fits 100 columns for four variants)")
    common.add_results_dir(p)
    p.add_argument("--cv-threshold", type=common.ratio("--cv-threshold", low_open=True),
                   default=defaults.REPORT_CV_THRESHOLD, help="warn when a cell's CV is above this fraction")
    p.add_argument("--min-samples", type=common.count("--min-samples", 1), default=defaults.REPORT_MIN_SAMPLES,
                   help="warn when a cell has fewer measured samples")
    p.add_argument("--top-ops", type=common.count("--top-ops", 1), default=None, metavar="N",
                   help="instead of the summary: the N costliest ops per profiled cell (harness run --op-profile)")
    p.set_defaults(func=run)


def render_runs(names: list[str] | None, results_dir: Path, fmt: str, output: str | None, *,
                cv_threshold: float | None = None, min_samples: int | None = None, wide: bool = False) -> None:
    """Load, summarise and render; standard output when ``output`` is None or '-'."""
    from harness import reporters
    from harness.analysis.summary import DEFAULT_CV_THRESHOLD, DEFAULT_MIN_SAMPLES, build_report
    from harness.reporters.terminal import render_terminal
    from harness.results.frame import load_frame

    df = load_frame(names, results_dir)
    report = build_report(df, cv_threshold=cv_threshold or DEFAULT_CV_THRESHOLD,
                          min_samples=min_samples or DEFAULT_MIN_SAMPLES)
    if output in (None, "-"):
        if fmt == "terminal":
            render_terminal(report, wide=wide)
        else:
            sys.stdout.write(reporters.render(report, df, fmt, wide=wide))
        return
    try:
        Path(output).write_text(reporters.render(report, df, fmt, wide=wide), encoding="utf-8")
    except OSError as e:
        raise UserError(f"{output}: cannot write report ({e.strerror})") from None


def run(args) -> int:
    from harness.results import runs as runs_mod

    results_dir = common.results_dir(args)
    if args.all and args.runs:
        raise UserError("report: give run names or --all, not both")
    names = [str(results_dir)] if args.all else (runs_mod.expand_latest(args.runs, results_dir)
                                                  or [runs_mod.latest(results_dir)])
    if args.top_ops:
        from harness.analysis import ops
        from harness.results.frame import load_docs

        sys.stdout.write(ops.render(ops.top_ops([d for _, d in load_docs(names, results_dir)], args.top_ops)))
        return 0
    render_runs(names, results_dir, args.format, args.output, cv_threshold=args.cv_threshold,
                min_samples=args.min_samples, wide=args.wide)
    return 0
