"""``harness baseline``: save, list, show and remove named baselines for the regression gate."""
from __future__ import annotations

from harness.cli import common


def add_parser(sub) -> None:
    p = common.add_command(
        sub, "baseline", help="manage named baselines (save, list, show, rm)",
        description="A baseline is a saved copy of one or more runs' raw samples under "
                    "results/baselines/NAME.json, shared by a team (commit it) and compared against "
                    "with `harness compare NAME RUN`.",
        examples="""harness baseline save v1.2 latest
harness baseline list
harness baseline show v1.2
harness baseline rm v1.1""",
        exits="0 done\n1 a user mistake, e.g. saving over an existing name without --force (one line)\n"
              "2 usage error")
    bsub = p.add_subparsers(dest="baseline_command", required=True, metavar="{save,list,show,rm}")
    s = bsub.add_parser("save", help="store runs as results/baselines/NAME.json", formatter_class=common.Formatter)
    s.add_argument("name")
    s.add_argument("runs", nargs="+", metavar="RUN", help="run ids, 'latest' or result files")
    s.add_argument("--force", action="store_true", help="replace an existing baseline of that name")
    common.add_results_dir(s)
    s.set_defaults(func=save)
    ls = bsub.add_parser("list", help="the saved baselines", formatter_class=common.Formatter)
    common.add_results_dir(ls)
    ls.set_defaults(func=list_)
    sh = bsub.add_parser("show", help="one baseline's runs, devices and cells", formatter_class=common.Formatter)
    sh.add_argument("name")
    common.add_results_dir(sh)
    sh.set_defaults(func=show)
    rm = bsub.add_parser("rm", help="remove a baseline", formatter_class=common.Formatter)
    rm.add_argument("name")
    common.add_results_dir(rm)
    rm.set_defaults(func=remove)


def save(args) -> int:
    from harness.results import baselines
    from harness.results.frame import load_docs
    from harness.results.runs import expand_latest

    results_dir = common.results_dir(args)
    baselines.baseline_path(args.name, results_dir)      # a bad name fails before anything is read
    docs = [d for _, d in load_docs(expand_latest(args.runs, results_dir), results_dir)]
    path = baselines.save(args.name, docs, results_dir, force=args.force)
    print(f"saved baseline {args.name!r} ({path})")
    return 0


def list_(args) -> int:
    from harness.results import baselines

    names = baselines.names(common.results_dir(args))
    if not names:
        print(f"no baselines in {baselines.baselines_dir(common.results_dir(args))}")
    for n in names:
        print(n)
    return 0


def show(args) -> int:
    from harness.results import baselines

    doc = baselines.load_baseline(args.name, common.results_dir(args))
    info = doc.baseline or {}
    print(f"baseline {args.name}: saved {info.get('created_at', '?')} from run(s) {', '.join(info.get('runs') or [])}")
    cells = sorted({f"{b.device.get('alias')} {b.model.get('variant')} L{b.model.get('max_length')}"
                    for b in doc.blocks})
    devices = sorted({str(b.device.get("alias")) for b in doc.blocks})
    print(f"devices: {', '.join(devices)}; {len(doc.blocks)} block(s); cells: {'; '.join(cells)}")
    return 0


def remove(args) -> int:
    from harness.results import baselines

    path = baselines.remove(args.name, common.results_dir(args))
    print(f"removed baseline {args.name!r} ({path})")
    return 0
