"""What every subcommand shares: the help formatter, argument types, and the common options."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness import paths

RESULTS_HELP = "results folder (default: $HARNESS_RESULTS, else results/ in the project root)"
CONFIG_HELP = "device configuration (default: $HARNESS_CONFIG, else devices.yaml in the project root)"


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option; descriptions and examples kept as written."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return action.help       # "(default: None)" says nothing
        return super()._get_help_string(action)


def add_command(sub, name: str, *, help: str, description: str, examples: str, exits: str = "",
                ) -> argparse.ArgumentParser:
    """A subcommand parser with a description, examples and exit codes in its --help."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples.strip().splitlines())
    if exits:
        epilog += "\n\nexit status:\n" + "\n".join(f"  {line}" for line in exits.strip().splitlines())
    return sub.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=Formatter)


def add_results_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results-dir", type=Path, default=None, help=RESULTS_HELP)


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help=CONFIG_HELP)


def results_dir(args) -> Path:
    return args.results_dir or paths.default_results_dir()


def config_path(args) -> Path:
    return args.config or paths.default_config()


# ----------------------------------------------------------------- argument types

def whole(name: str, minimum: int, text: str, what: str = "a whole number") -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes {what}, got {text.strip()!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def int_list(name: str, minimum: int):
    def parse(text: str) -> list[int]:
        values = [whole(name, minimum, part, "whole numbers") for part in text.split(",")]
        return list(dict.fromkeys(values))
    return parse


def choice_list(choices: tuple[str, ...]):
    """A comma-separated list of names from ``choices`` (argparse type; duplicates dropped)."""
    def parse(text: str) -> list[str]:
        values = [part.strip() for part in text.split(",") if part.strip()]
        bad = [v for v in values if v not in choices]
        if bad or not values:
            raise argparse.ArgumentTypeError(f"takes {', '.join(choices)} (comma-separated), got {text!r}")
        return list(dict.fromkeys(values))
    return parse


def count(name: str, minimum: int):
    return lambda text: whole(name, minimum, text)


def context_windows(text: str) -> list[int | None]:
    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if part in ("all", "none", "off"):
            out.append(None)
            continue
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes word counts or 'all', got {part!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1 word, got {value}")
        out.append(value)
    return list(dict.fromkeys(out))


def ratio(name: str, *, low_open: bool = False):
    """A fraction 0..1 written as 0.05 or 5%."""
    def parse(text: str) -> float:
        try:
            value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes a number, got {text!r}") from None
        if not (0 < value < 1 if low_open else 0 <= value < 1):
            bounds = "(0, 1)" if low_open else "[0, 1)"
            raise argparse.ArgumentTypeError(f"must be within {bounds} (or a percentage), got {text}")
        return value
    return parse
