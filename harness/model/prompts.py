"""Prompt sets: a small built-in set in a few languages, or ``--prompts FILE``.

A file holds one prompt per line (blank lines skipped), or JSON Lines where each line
is a string or an object with a ``prompt`` field (``.jsonl`` files). Prompts are
identified by the sha256 of their canonical JSON, recorded with every result.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from harness.errors import UserError
from harness.files import read_text

# Short and long prompts; the runbook's user types English, people will try others.
BUILTIN: dict[str, list[str]] = {
    "en": [
        "The weather today is",
        "My favourite thing about living in a small town by the sea is that every morning I can "
        "walk along the harbour, watch the fishing boats come in, and",
        "To make a good cup of tea, first",
    ],
    "multi": [
        "The weather today is",
        "Le meilleur moyen d'apprendre une langue est",
        "Der schnellste Weg zum Bahnhof ist",
        "El secreto de una buena paella es",
        "東京で一番好きな場所は",
        "Самое интересное в программировании это",
    ],
}
DEFAULT_SET = "en"


def load(spec: str | None) -> tuple[str, list[str]]:
    """Return (source label, prompts) for ``--prompts``: None/"builtin[:NAME]" or a file path."""
    if spec is None or spec.startswith("builtin"):
        name = spec.split(":", 1)[1] if spec and ":" in spec else DEFAULT_SET
        if name not in BUILTIN:
            raise UserError(f"unknown built-in prompt set {name!r}; choose from " + ", ".join(BUILTIN))
        return f"builtin:{name}", list(BUILTIN[name])
    path = Path(spec)
    # utf-8-sig: a byte-order mark (Windows editors) is not part of the first prompt.
    text = read_text(path, "--prompts", encoding="utf-8-sig")
    prompts: list[str] = []
    jsonl = path.suffix == ".jsonl"
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if jsonl:
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"--prompts: {spec} line {n}: not JSON ({e.msg})") from None
            if isinstance(item, dict):
                item = item.get("prompt")
            if not isinstance(item, str):
                raise UserError(f"--prompts: {spec} line {n}: expected a string or {{\"prompt\": ...}}")
            prompts.append(item)
        else:
            prompts.append(line)
    if not prompts:
        raise UserError(f"--prompts: {spec} holds no prompts")
    return f"file:{path.name}", prompts


def prompts_sha256(prompts: list[str]) -> str:
    return hashlib.sha256(json.dumps(prompts, ensure_ascii=False).encode("utf-8")).hexdigest()


def calibration_set() -> list[str]:
    """The representative prompt set for full-integer calibration: every built-in prompt."""
    return [p for ps in BUILTIN.values() for p in ps]
