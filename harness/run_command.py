"""``harness run`` and ``harness devices``: from command-line arguments to a result file and a table."""
from __future__ import annotations

import sys
from pathlib import Path

from harness import convert, models, prompts as prompts_mod, variants
from harness.device import HostDevice
from harness.errors import UserError
from harness.runner import Cell, Job, Plan, Recorder, cells, execute
from harness.ui import Display, console

DEFAULT_DEVICE = "emu-pixel7"


def _plan_from_args(args, device_names: list[str]) -> Plan:
    source_label, prompt_list = prompts_mod.load(args.prompts)
    return Plan(model=args.model, devices=device_names, variants=variants.parse_variants(args.variants),
                max_lengths=args.max_length, context_windows=args.context_window,
                threads=args.threads or [0], warmup=args.warmup, runs=args.runs, rounds=args.rounds,
                prompts_source=source_label, prompts=prompt_list, export=args.export, drift=args.drift)


def resolve_devices(names: list[str], config_path: Path):
    """Device aliases -> Device objects. 'host' is this machine; others come from devices.yaml."""
    devices = []
    others = [n for n in names if n != "host"]
    if "host" in names:
        devices.append(HostDevice())
    if others:
        from harness import android

        devices.extend(android.open_devices(others, config_path))
    return devices


def _check_device_names(names: list[str], config_path: Path) -> None:
    others = [n for n in names if n not in ("host", "all")]
    if others or "all" in names:
        from harness import config

        cfg = config.load(config_path)
        for n in others:
            cfg.get(n)


def run(args) -> int:
    results_dir = Path(args.results_dir)
    display = Display()
    if args.resume:
        rec = Recorder.resume(results_dir, args.resume)
        plan = Plan.from_dict(rec.doc["plan"])
        keep, _skipped = cells(plan)
    else:
        device_names = list(dict.fromkeys(n.strip() for n in (args.device or DEFAULT_DEVICE).split(",")
                                          if n.strip()))
        plan = _plan_from_args(args, device_names)
        keep, skipped = cells(plan)
        for s in skipped:
            console.print(f"[yellow]skipped[/] {Cell(**s['cell']).label()}: {s['reason']}")
        if not keep:
            raise UserError("every requested combination is impossible (see the skipped lines above)")
    source = models.resolve(plan.model)
    config_path = Path(getattr(args, "config", "devices.yaml"))
    _check_device_names(plan.devices, config_path)    # a bad alias or devices.yaml fails before converting
    # Find (or start) the devices before converting: a missing phone is known in seconds.
    devices = resolve_devices(plan.devices, config_path)
    try:
        converted = {}
        with display.status() as status:
            for L in plan.max_lengths:
                for c in convert.convert(source, plan.variants, L, export=plan.export, progress=status.update):
                    converted[(c.variant, L)] = c
                    display.conversion_line(c)
        if not args.resume:
            rec = Recorder.create(results_dir, plan, skipped, args.argv)
    except BaseException:
        for d in devices:
            d.close()
        raise
    console.print(f"run {rec.run_id}: {len(keep)} cell(s) × {plan.rounds} round(s) on "
                  f"{', '.join(d.alias for d in devices)} → {rec.path}")

    token_ids = None
    if plan.export == "prefill_decode":
        from harness import decode_export

        token_ids = decode_export.prompt_token_ids_fn(source)
    jobs = [Job(d, keep, converted, **({"token_ids": token_ids} if token_ids else {})) for d in devices]
    gens = (plan.warmup + plan.runs) * len(keep) * plan.rounds
    try:
        with display.run_progress({d.alias: gens for d in devices}) as advance:
            status = execute(jobs, plan, rec, advance)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished blocks are in {rec.path}; "
                      f"finish with: harness run --resume {rec.run_id}")
        return 130
    if plan.drift:
        from harness import drift

        drift.measure_run(rec, converted, source)
    for j in jobs:
        for e in j.errors:
            console.print(f"[red]error[/] {e}")
    filled = sum(1 for b in rec.doc["blocks"] for s in b["samples"] if s.get("prompt_filled_output"))
    if filled:
        console.print(f"[yellow]warning[/] {filled} generation(s) had a prompt that filled the whole max "
                      "length, so nothing was generated: lower --context-window or raise --max-length")
    failed_blocks = [b for b in rec.doc["blocks"] if b["status"] != "ok"]
    for b in failed_blocks:
        console.print(f"[red]failed block[/] {b['block_id']}: {b['error']}")
    console.print(f"results: {rec.path} (status {status})")
    if not args.no_report and any(b["status"] == "ok" for b in rec.doc["blocks"]):
        from harness import report

        report.main([str(rec.path)], "terminal", None, results_dir, 0.05, 5)
    return 0 if status == "complete" else 1


def list_devices(args) -> int:
    from harness import android

    return android.list_devices(Path(args.config))


def emulator(args) -> int:
    from harness import emulator as emu

    if args.emulator_command == "start":
        handle = emu.start_emulator(profile=args.profile, port=args.port, name=args.name)
        print(handle.serial)
        print(f"stop it with: harness emulator stop {handle.name}", file=sys.stderr)
        return 0
    if args.emulator_command == "stop":
        if not args.name and not args.all:
            raise UserError("emulator stop: name one emulator or give --all")
        emu.stop_emulator(None if args.all else args.name)
        return 0
    for e in emu.list_emulators():
        print(e)
    return 0
