"""The ``harness`` command: convert, run, devices, report, compare, baseline, emulator.

Each subcommand is a function ``cmd_*(args) -> exit status``, callable from Python as
well. A user mistake (``UserError``) prints one line, ``harness: <message>``, and exits 1;
``compare`` exits 2 on a usage error, as CI gates expect.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness.errors import ConversionError, DeviceError, HarnessError, UserError  # noqa: E402

DEFAULT_DEVICE = "emu-pixel7"
DEFAULT_MODEL = "synthetic:tiny"


class _Parser(argparse.ArgumentParser):
    """argparse that raises UserError (one line, exit 1) instead of printing usage and exiting 2."""

    def error(self, message):
        raise UserError(message)


# ----------------------------------------------------------------- argument types

def _whole(name: str, minimum: int, text: str, what: str = "a whole number") -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} takes {what}, got {text.strip()!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{name} must be at least {minimum}, got {value}")
    return value


def _int_list(name: str, minimum: int):
    def parse(text: str) -> list[int]:
        values = [_whole(name, minimum, part, "whole numbers") for part in text.split(",")]
        return list(dict.fromkeys(values))
    return parse


def _count(name: str, minimum: int):
    return lambda text: _whole(name, minimum, text)


def _context_windows(text: str) -> list[int | None]:
    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if part in ("all", "none", "off"):
            out.append(None)
            continue
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--context-window takes word counts or 'all', got {part!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"--context-window must be at least 1 word, got {value}")
        out.append(value)
    return list(dict.fromkeys(out))


def _float_ratio(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} takes a number, got {text!r}") from None
        if not 0 <= value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be between 0 and 1 (or 0%..100%), got {text}")
        return value
    return parse


# ----------------------------------------------------------------- subcommands

def cmd_convert(args) -> int:
    from harness import convert, models, variants
    from harness.ui import Display

    source = models.resolve(args.model)
    names = variants.parse_variants(args.variants)
    display = Display()
    with display.status() as status:
        for L in args.max_length:
            for c in convert.convert(source, names, L, export=args.export, progress=status.update):
                display.conversion_line(c)
    return 0


def cmd_run(args) -> int:
    from harness import run_command

    return run_command.run(args)


def cmd_devices(args) -> int:
    from harness import run_command

    return run_command.list_devices(args)


def cmd_report(args) -> int:
    from harness import report

    return report.main(args.runs, args.format, args.output, Path(args.results_dir),
                       args.cv_threshold, args.min_samples)


def cmd_compare(args) -> int:
    from harness import compare

    return compare.main(args.baseline, args.candidate, args.min_effect, args.alpha, args.markdown,
                        args.allow_cross_device, args.allow_cross_model, Path(args.results_dir))


def cmd_baseline_save(args) -> int:
    from harness import compare

    return compare.baseline_save_main(args.name, args.runs, Path(args.results_dir))


def cmd_emulator(args) -> int:
    from harness import run_command

    return run_command.emulator(args)


# ----------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="harness", description="Benchmark TensorFlow Lite LLMs (Keras GPT-2) on Android "
                "devices over ADB, or on this host.")
    from harness import __version__

    p.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def model_opts(sp):
        sp.add_argument("--model", default=DEFAULT_MODEL,
                        help="keras-hub preset name (gpt2_base_en), a local preset directory, or "
                        "synthetic:tiny / synthetic:gpt2-base (random weights, real shape). "
                        f"Default: {DEFAULT_MODEL}")
        sp.add_argument("--variants", default="fp32,dynamic,fp16",
                        help="comma-separated: fp32, dynamic, fp16, int8. Default: fp32,dynamic,fp16")
        sp.add_argument("--max-length", type=_int_list("--max-length", 2), default=[100],
                        help="output length in tokens, prompt included; baked into each converted "
                        "model; comma-separated values sweep. Default: 100")
        sp.add_argument("--export", choices=["oneshot", "prefill_decode"], default="oneshot",
                        help="oneshot: the runbook's string-in/string-out graph (Flex + TF Text). "
                        "prefill_decode: builtin-only prefill and decode signatures, which give time "
                        "to first token and decode speed. Default: oneshot")

    c = sub.add_parser("convert", help="convert a model into TFLite variants (cached)")
    model_opts(c)
    c.set_defaults(func=cmd_convert)

    r = sub.add_parser("run", help="convert what is missing, deploy, run, and print a latency table")
    model_opts(r)
    r.add_argument("--device", default=None,
                   help="alias(es) from devices.yaml, comma-separated, 'host' for this machine, or "
                   f"'all'. Default: {DEFAULT_DEVICE} (an emulated Pixel 7, started if needed)")
    r.add_argument("--context-window", type=_context_windows, default=[0],
                   help="keep the last N WORDS of each prompt (words, not tokens, as the runbook's "
                   "app); 'all' keeps the whole prompt; comma-separated values sweep. Default: half "
                   "the max length in words, the runbook's suggested start (50 at max length 100)")
    r.add_argument("--threads", type=_int_list("--threads", 1), default=None,
                   help="interpreter threads; comma-separated values sweep. Default: the device's "
                   "setting in devices.yaml, else 1")
    r.add_argument("--runs", type=_count("--runs", 1), default=10,
                   help="measured generations per block. Default: 10 (enough samples for the "
                   "statistics; the harness's own per-block cost stays under 2 %% of them)")
    r.add_argument("--warmup", type=_count("--warmup", 0), default=1, help="warm-up generations per block")
    r.add_argument("--rounds", type=_count("--rounds", 1), default=1,
                   help="blocks per cell; cells rotate each round so no variant always runs first")
    r.add_argument("--prompts", default=None,
                   help="a file with one prompt per line (or .jsonl), or builtin:en / builtin:multi")
    r.add_argument("--drift", action="store_true",
                   help="also measure quality drift of each variant against fp32 (prefill_decode)")
    r.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run, skipping finished blocks")
    r.add_argument("--config", default="devices.yaml", help="device configuration. Default: devices.yaml")
    r.add_argument("--results-dir", default="results", help="Default: results")
    r.add_argument("--no-report", action="store_true", help="do not print the table at the end")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("devices", help="list attached and configured devices")
    d.add_argument("--config", default="devices.yaml")
    d.set_defaults(func=cmd_devices)

    rep = sub.add_parser("report", help="tables and plots from result files")
    rep.add_argument("runs", nargs="*", help="run ids, result files or directories (default: results/)")
    rep.add_argument("--format", choices=["terminal", "markdown", "csv", "json", "html"], default="terminal")
    rep.add_argument("-o", "--output", help="write to this file instead of standard output")
    rep.add_argument("--results-dir", default="results")
    rep.add_argument("--cv-threshold", type=_float_ratio("--cv-threshold"), default=0.05)
    rep.add_argument("--min-samples", type=_count("--min-samples", 1), default=5)
    rep.set_defaults(func=cmd_report)

    cmp_ = sub.add_parser("compare", help="regression gate: exit 1 on a significant slowdown")
    cmp_.add_argument("baseline", help="baseline name (results/baselines/NAME.json), run id, file or directory")
    cmp_.add_argument("candidate", help="run id, file or directory")
    cmp_.add_argument("--min-effect", type=_float_ratio("--min-effect"), default=0.05,
                      help="smallest slowdown that counts (default 0.05 = 5%%)")
    cmp_.add_argument("--alpha", type=_float_ratio("--alpha"), default=0.05, help="significance level")
    cmp_.add_argument("--markdown", metavar="FILE", help="also write the comparison as markdown")
    cmp_.add_argument("--allow-cross-device", action="store_true")
    cmp_.add_argument("--allow-cross-model", action="store_true")
    cmp_.add_argument("--results-dir", default="results")
    cmp_.set_defaults(func=cmd_compare)

    b = sub.add_parser("baseline", help="manage named baselines")
    bsub = b.add_subparsers(dest="baseline_command", required=True, parser_class=_Parser)
    bs = bsub.add_parser("save", help="store runs as results/baselines/NAME.json")
    bs.add_argument("name")
    bs.add_argument("runs", nargs="+", help="run ids or result files")
    bs.add_argument("--results-dir", default="results")
    bs.set_defaults(func=cmd_baseline_save)

    e = sub.add_parser("emulator", help="emulated Android devices that speak the ADB protocol")
    esub = e.add_subparsers(dest="emulator_command", required=True, parser_class=_Parser)
    es = esub.add_parser("start", help="start one in the background and attach it to the adb server")
    es.add_argument("--profile", default="pixel7")
    es.add_argument("--port", type=_count("--port", 1), default=None)
    es.add_argument("--name", default=None)
    es.set_defaults(func=cmd_emulator)
    et = esub.add_parser("stop", help="stop one (by name) or all")
    et.add_argument("name", nargs="?")
    et.add_argument("--all", action="store_true")
    et.set_defaults(func=cmd_emulator)
    el = esub.add_parser("list", help="list running emulated devices")
    el.set_defaults(func=cmd_emulator)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    is_compare = bool(argv) and argv[0] == "compare"
    try:
        args = build_parser().parse_args(argv)
        args.argv = ["harness", *argv]
        return args.func(args)
    except UserError as e:
        print(f"harness: {e}", file=sys.stderr)
        return 2 if is_compare else 1
    except (ConversionError, DeviceError, HarnessError) as e:
        print(f"harness: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
