"""``harness run``: convert what is missing, deploy, measure on every device, print the table.

The steps, in order: the plan (from the options, or the run being resumed), the devices
(found before converting, so a missing phone is known in seconds), the models, the result
file, the measurement on every device at once, quality drift if asked, and the table.
"""
from __future__ import annotations

from pathlib import Path

from harness import contract
from harness.cli import common
from harness.cli.convert import add_model_options
from harness.errors import UserError

DEFAULT_DEVICE = "emu-pixel7"
# The options that shape a run; with --resume the stored plan decides them.
PLAN_OPTIONS = ("device", "model", "variants", "max_length", "export", "context_window", "threads",
                "delegate", "runs", "warmup", "rounds", "prompts", "drift")
_defaults: dict[str, object] = {}


def add_parser(sub) -> None:
    p = common.add_command(
        sub, "run", help="convert what is missing, deploy, run, and print a latency table",
        description="Measure every combination (device × variant × max length × context window × threads × "
                    "delegate) "
                    "in blocks: each block launches the benchmark app once (load the model, warm up, measure). "
                    "Every finished block is written at once to results/<run_id>.json, so an interrupted run "
                    "loses nothing and --resume finishes it.",
        examples=f"""harness run                                          # synthetic:tiny on {DEFAULT_DEVICE}
harness run --device pixel7 --variants dynamic,fp16
harness run --device pixel7,pixel8 --max-length 50,100 --context-window 25,50
harness run --device host --export prefill_decode --drift   # time to first token, decode speed, drift
harness run --device pixel7 --export prefill_decode --delegate cpu,cpu-builtin   # memory against speed
harness run --resume latest""",
        exits="0 every block measured\n1 a failed block, a lost device, a device or run in use, or a user "
              "mistake (one line)\n2 usage error\n130 interrupted: Ctrl-C, SIGTERM or SIGHUP (finish with --resume)")
    add_model_options(p)
    p.add_argument("--device", default=DEFAULT_DEVICE, metavar="ALIAS[,ALIAS...]",
                   help="alias(es) from devices.yaml, 'host' for this machine, or 'all'; the default is an "
                   "emulated Pixel 7, started if needed")
    p.add_argument("--context-window", type=common.context_windows, default=[0], metavar="WORDS[,WORDS...]",
                   help="keep the last N words of each prompt ('all' keeps it whole); 0 = half the max length "
                   "in words, the runbook's suggested start")
    p.add_argument("--threads", type=common.int_list("--threads", 1), default=None, metavar="N[,N...]",
                   help="interpreter threads (default: the device's setting in devices.yaml, else 1)")
    p.add_argument("--delegate", type=common.choice_list(contract.DELEGATES), default=[contract.DELEGATE_DEFAULT],
                   metavar="NAME[,NAME...]",
                   help="how the app runs the model on the CPU: cpu = TensorFlow Lite's default, its kernels with "
                   "XNNPACK, which keeps its own packed copy of the weights per signature; cpu-builtin = "
                   "TFLite's built-in kernels only, computing from the model file's weights (about a third of "
                   "the memory of a prefill/decode model; faster or slower by variant and CPU: measure both)")
    p.add_argument("--runs", type=common.count("--runs", 1), default=10,
                   help="measured generations per block (the harness's own cost stays under 2 %% of them)")
    p.add_argument("--warmup", type=common.count("--warmup", 0), default=1, help="warm-up generations per block")
    p.add_argument("--rounds", type=common.count("--rounds", 1), default=1,
                   help="blocks (app processes) per cell; cells rotate each round so no variant always runs "
                        "first. `harness compare` judges a cell on its blocks from 3 a side: use 3 or more "
                        "for a run you will gate on (scripts/release_notes.sh uses 5)")
    p.add_argument("--prompts", default="builtin:en",
                   help="a file with one prompt per line (or .jsonl), or builtin:en (3 English prompts) / builtin:multi")
    p.add_argument("--op-profile", action="store_true",
                   help="also profile each host block per op (TFLite's profiler; `harness report --top-ops`)")
    p.add_argument("--drift", action="store_true",
                   help="also measure quality drift of each variant against fp32 (prefill/decode export, host)")
    p.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run ('latest' works), skipping finished blocks")
    p.add_argument("--device-wait", type=common.count("--device-wait", 0), default=600, metavar="SECONDS",
                   help="how long to wait for a device another run is using (0: refuse at once)")
    p.add_argument("--allow-threads-beyond-cores", action="store_true",
                   help="measure thread counts above the device's cores (refused otherwise: the threads "
                   "then spin against each other and a block can take minutes per generation)")
    common.add_config(p)
    common.add_results_dir(p)
    p.add_argument("--no-report", action="store_true", help="do not print the table at the end")
    p.set_defaults(func=run)
    _defaults.update({k: p.get_default(k) for k in PLAN_OPTIONS})


def _new_plan(args, config_path: Path):
    from harness.convert import variants
    from harness.model import prompts as prompts_mod
    from harness.run.plan import Plan

    devices = list(dict.fromkeys(n.strip() for n in args.device.split(",") if n.strip()))
    if not devices:
        raise UserError("--device: name at least one device")
    source_label, prompt_list = prompts_mod.load(args.prompts)
    return Plan(model=args.model, devices=devices, variants=variants.parse_variants(args.variants),
                max_lengths=args.max_length, context_windows=args.context_window,
                threads=args.threads or [0], delegates=args.delegate, warmup=args.warmup, runs=args.runs,
                rounds=args.rounds,
                prompts_source=source_label, prompts=prompt_list, export=args.export, drift=args.drift,
                config=str(config_path))


def _resumed(args, results_dir: Path):
    """The Recorder and plan of the run being resumed; other plan options are refused, not ignored."""
    from harness.results.runs import expand_latest
    from harness.results.store import Recorder
    from harness.run.plan import Plan

    given = [k for k in PLAN_OPTIONS if getattr(args, k) != _defaults.get(k)]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UserError(f"--resume finishes a run as it was planned; drop {flags} (or start a new run)")
    (run_id,) = expand_latest([args.resume], results_dir)
    rec = Recorder.resume(results_dir, run_id)
    try:
        plan = Plan.from_dict(rec.doc.plan)
    except TypeError as e:
        rec.close()
        raise UserError(f"--resume: run {run_id} has a plan this harness cannot read ({e})") from None
    return rec, plan


def _check_definitions(plan, config_path: Path, run_id: str) -> None:
    """A resumed run measures its devices as they were defined when it started, or not at all."""
    from harness.devices import registry

    if plan.device_definitions is None:
        return       # a run from before definitions were recorded
    now = registry.definitions(plan.devices, config_path)
    for alias in sorted(set(plan.device_definitions) | set(now)):
        was, is_ = plan.device_definitions.get(alias), now.get(alias)
        if was == is_:
            continue
        if was is None or is_ is None:
            change = "is new in" if was is None else "is gone from"
            raise UserError(f"--resume {run_id}: device {alias!r} {change} {config_path} since the run started; "
                            "restore it, or start a new run")
        key = next(k for k in sorted(set(was) | set(is_)) if was.get(k) != is_.get(k))
        raise UserError(f"--resume {run_id}: {config_path} now defines {alias!r} differently "
                        f"({key}: {was.get(key)!r} then, {is_.get(key)!r} now); restore it, or start a new run")


def _check_threads(plan, devices, allow: bool, console) -> None:
    """More threads than cores make the interpreter's threads spin against each other (on 2 cores,
    3 threads took one generation from 20 ms to 32 s): refused, unless asked for (with a warning)."""
    for d in devices:
        cores = d.cpu_count()
        if cores is None:
            continue      # the device does not say (see docs/reliability.md)
        over = sorted(t for t in {t or d.default_threads for t in plan.threads} if t > cores)
        if not over:
            continue
        what = f"{d.alias} has {cores} core(s); {over[-1]} threads would oversubscribe them"
        if not allow:
            raise UserError(f"{what}; use --threads {cores} or fewer (or --allow-threads-beyond-cores)")
        console.print(f"[yellow]warning[/] {what}; measuring anyway (--allow-threads-beyond-cores)")


def _convert_all(plan, source, display) -> dict:
    from harness.convert import convert

    converted = {}
    with display.status() as status:
        for L in plan.max_lengths:
            for c in convert(source, plan.variants, L, export=plan.export, progress=status.update):
                converted[(c.variant, L)] = c
                display.conversion_line(c)
    return converted


def _jobs(devices, cells, converted, plan, source):
    from harness.run.executor import Job

    if plan.export != "prefill_decode":
        return [Job(d, cells, converted) for d in devices]
    from harness.model.tokens import PromptTokenIds

    tokens = PromptTokenIds(source)
    return [Job(d, cells, converted, token_ids=tokens, detokenize=tokens.detokenize) for d in devices]


def _summary_lines(rec, jobs, console) -> None:
    for j in jobs:
        for e in j.errors:
            console.print(f"[red]error[/] {e}")
    filled = sum(1 for b in rec.doc.blocks for s in b.samples if s.get("prompt_filled_output"))
    if filled:
        console.print(f"[yellow]warning[/] {filled} generation(s) had a prompt that filled the whole max "
                      "length, so nothing was generated: lower --context-window or raise --max-length")
    for b in rec.doc.blocks:
        if not b.ok:
            console.print(f"[red]failed block[/] {b.block_id}: {b.error}")


def _measure(rec, plan, jobs, display, console) -> str:
    from harness.run.executor import execute

    per_block = plan.warmup + plan.runs
    totals = {j.device.alias: per_block * len(j.cells) * plan.rounds for j in jobs}
    finished = rec.finished_ids()
    done = {a: sum(1 for b in finished if b.startswith(f"{a}/")) for a in totals}
    with display.run_progress(totals, per_block, done) as advance:
        return execute(jobs, plan, rec, advance)


def _start(args, results_dir: Path, config_path: Path, console):
    """(plan, cells, skipped, run id, held run lock, Recorder when resuming, devices.yaml path)."""
    from harness.devices import registry
    from harness.results import store
    from harness.run import plan as plan_mod

    if args.resume:
        rec, plan = _resumed(args, results_dir)
        try:
            config_path = Path(plan.config) if plan.config and not args.config else config_path
            _check_definitions(plan, config_path, rec.run_id)
        except BaseException:
            rec.close()
            raise
        keep, skipped = plan_mod.cells(plan)
        return plan, keep, skipped, rec.run_id, rec.run_lock, rec, config_path
    plan = _new_plan(args, config_path)
    keep, skipped = plan_mod.cells(plan)
    for s in skipped:
        console.print(f"[yellow]skipped[/] {plan_mod.Cell(**s['cell']).label()}: {s['reason']}")
    if not keep:
        raise UserError("every requested combination is impossible (see the skipped lines above)")
    registry.check_names(plan.devices, config_path)     # a bad alias fails before converting
    plan.device_definitions = registry.definitions(plan.devices, config_path)
    run_id = store.new_run_id()
    return plan, keep, skipped, run_id, store.lock_run(run_id, results_dir), None, config_path


def run(args) -> int:
    from harness.devices import registry
    from harness.model import sources
    from harness.results.store import Recorder
    from harness.ui import Display, console

    results_dir, config_path = common.results_dir(args), common.config_path(args)
    plan, keep, skipped, run_id, run_lock, rec, config_path = _start(args, results_dir, config_path, console)
    try:
        source = sources.resolve(plan.model)
        display = Display()
        with registry.open_devices(plan.devices, config_path, run_id, args.device_wait,
                                   lambda m: console.print(f"[yellow]waiting[/] {m}")) as devices:
            _check_threads(plan, devices, args.allow_threads_beyond_cores, console)
            converted = _convert_all(plan, source, display)
            if rec is None:
                rec = Recorder.create(results_dir, plan.to_dict(), skipped, args.argv, run_id, run_lock)
            else:
                rec.mark_resumed()
            console.print(f"run {rec.run_id}: {len(keep)} cell(s) × {plan.rounds} round(s) on "
                          f"{', '.join(d.alias for d in devices)} → {rec.path}")
            jobs = _jobs(devices, keep, converted, plan, source)
            status = _measure(rec, plan, jobs, display, console)
        if plan.drift:
            from harness.run import drift

            drift.measure_run(rec, source)
        if getattr(args, "op_profile", False):
            from harness.run import opprofile

            opprofile.measure_run(rec, source, progress=lambda m: console.print(m))
    except KeyboardInterrupt:
        if rec is not None:      # a file to finish (a new run interrupted while converting has none)
            console.print(f"[yellow]interrupted[/]: finished blocks are in {rec.path}; "
                          f"finish with: harness run --resume {rec.run_id}")
        raise
    finally:
        run_lock.release()
    return _finish(args, rec, jobs, status, results_dir, console)


def _finish(args, rec, jobs, status: str, results_dir: Path, console) -> int:
    _summary_lines(rec, jobs, console)
    console.print(f"results: {rec.path} (status {status})")
    if status != "complete":
        console.print(f"finish the missing blocks with: harness run --resume {rec.run_id}")
    if not args.no_report and any(b.ok for b in rec.doc.blocks):
        from harness.cli.report import render_runs

        render_runs([str(rec.path)], results_dir, "terminal", None)
    return 0 if status == "complete" else 1
