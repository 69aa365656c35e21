"""What a run measures: the plan the user asked for, and its cells.

A *cell* is one combination of parameters (variant × max length × context window ×
threads × delegate) on one device; a *block* is one launch of the app for a cell. The plan is stored
in the result file, so ``--resume`` re-creates the same cells.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field

from harness import contract

from harness.model import prompts as prompts_mod


@dataclass
class Plan:
    """What the user asked for; stored in the result file so a run can be resumed."""

    model: str
    devices: list[str]
    variants: list[str]
    max_lengths: list[int]
    context_windows: list[int | None]   # words; None keeps the whole prompt, 0 = half the max length
    threads: list[int]                  # 0 = the device's own setting (devices.yaml)
    warmup: int
    runs: int
    rounds: int
    prompts_source: str
    prompts: list[str]
    export: str = "oneshot"
    drift: bool = False
    config: str | None = None           # the devices.yaml the aliases were resolved with
    device_definitions: dict | None = None   # alias -> how it was found, as resolved at the start
    delegates: list[str] = field(default_factory=lambda: [contract.DELEGATE_DEFAULT])

    @property
    def prompts_sha256(self) -> str:
        return prompts_mod.prompts_sha256(self.prompts)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["prompts_sha256"] = self.prompts_sha256
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d)


@dataclass(frozen=True)
class Cell:
    variant: str
    max_length: int
    context_window: int | None
    threads: int
    delegate: str = contract.DELEGATE_DEFAULT

    def label(self) -> str:
        cw = "all" if self.context_window is None else self.context_window
        # The default delegate adds nothing: block ids of runs from before the option stay the same.
        d = "" if self.delegate == contract.DELEGATE_DEFAULT else f"/{self.delegate}"
        return f"{self.variant}/L{self.max_length}/cw{cw}/t{self.threads or 'dev'}{d}"

    def describe(self) -> str:
        """The cell in words, for progress lines."""
        cw = "whole prompt" if self.context_window is None else f"context {self.context_window} words"
        threads = "device threads" if not self.threads else f"threads {self.threads}"
        d = "" if self.delegate == contract.DELEGATE_DEFAULT else f", {self.delegate}"
        return f"{self.variant}, max length {self.max_length}, {cw}, {threads}{d}"


def cells(plan: Plan) -> tuple[list[Cell], list[dict]]:
    """The cross product of the plan's lists, minus impossible cells (returned with reasons)."""
    keep, skipped = [], []
    for L, cw, t, d, v in itertools.product(plan.max_lengths, plan.context_windows, plan.threads,
                                            plan.delegates, plan.variants):
        # 0 is the default: half the max length in words (the runbook's suggested start).
        cell = Cell(v, L, max(1, L // 2) if cw == 0 else cw, t, d)
        if cell in keep or any(s["cell"] == asdict(cell) for s in skipped):
            continue   # the default window and an explicit one can name the same cell
        # The output includes the prompt: N words take at least N tokens plus the start
        # token, so a window of N >= L - 1 words leaves no room for a single new token.
        if cw is not None and cw >= L - 1:
            skipped.append({"cell": asdict(cell), "reason": f"context window of {cw} words leaves no room "
                            f"for output at max length {L} (the output includes the prompt)"})
        else:
            keep.append(cell)
    return keep, skipped


def block_id(alias: str, cell: Cell, round_: int) -> str:
    return f"{alias}/{cell.label()}/r{round_}"


def rotation(cells_: list[Cell], round_: int) -> list[Cell]:
    """The cell order of a round: rotated each round so no variant always runs first on a cool device."""
    k = round_ % len(cells_)
    return cells_[k:] + cells_[:k]
