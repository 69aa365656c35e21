"""``harness runs``: the runs in the results folder, newest last."""
from __future__ import annotations

from harness.cli import common


def add_parser(sub) -> None:
    p = common.add_command(
        sub, "runs", help="list the runs in the results folder",
        description="One line per run: id, start time, status, devices, variants and blocks. Any command "
                    "that takes a run id also takes 'latest'.",
        examples="""harness runs
harness report latest --format markdown""",
        exits="0 listed (also when there are none)\n2 usage error")
    common.add_results_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.results.runs import list_runs

    results_dir = common.results_dir(args)
    runs = list_runs(results_dir)
    if not runs:
        print(f"no runs in {results_dir}")
        return 0
    width = max(len(r.run_id) for r in runs)
    print(f"{'run id':<{width}}  {'started (UTC)':<19}  {'status':<11}  {'blocks':>6}  devices / variants")
    for r in runs:
        started = (r.started_at or "?")[:19].replace("T", " ")
        print(f"{r.run_id:<{width}}  {started:<19}  {r.status or '?':<11}  {r.blocks:>6}  "
              f"{','.join(r.devices) or '?'} / {','.join(r.variants) or '?'}")
    return 0
