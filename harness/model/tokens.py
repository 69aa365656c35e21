"""Prompts as token ids, the way the one-shot graph packs them (start token + text), and back.

The host tokenizes for the prefill/decode export (whose apps take ids, not text) and
detokenizes what they return, with the model's own GPT-2 tokenizer (no model build).
"""
from __future__ import annotations

import functools

from harness.contract import apply_context_window
from harness.model import sources


def tokenize_with(tokenizer, text: str) -> list[int]:
    """Tokens as the one-shot graph's ``generate_preprocess`` packs them: start token + text."""
    ids = tokenizer(text)
    ids = ids.numpy().tolist() if hasattr(ids, "numpy") else list(ids)
    return [int(tokenizer.start_token_id)] + [int(i) for i in ids]


@functools.lru_cache(maxsize=8)
def load_tokenizer(source: sources.ModelSource):
    """The model's own GPT-2 tokenizer, without building the model (cached per source)."""
    import keras_hub

    if source.kind == "trained":   # synthetic:tiny's BPE (harness/model/trained.py)
        vocab, merges = sources.bytes_vocabulary()
        return keras_hub.models.GPT2Tokenizer(vocabulary=vocab, merges=merges)
    if source.kind == "synthetic":
        cfg = sources.SYNTHETIC_SHAPES[source.name]
        vocab, merges = (sources.gpt2_vocabulary() if cfg["tokenizer"] == "gpt2"
                         else sources.bytes_vocabulary())
        return keras_hub.models.GPT2Tokenizer(vocabulary=vocab, merges=merges)
    return keras_hub.models.GPT2Tokenizer.from_preset(source.name)


class PromptTokenIds:
    """``(cell, prompts) -> [[id, ...], ...]``: each prompt after the cell's context window,
    tokenized with the model's tokenizer, start token included. Also detokenizes."""

    def __init__(self, source: sources.ModelSource):
        self.source = source
        self._memo: dict[str, list[int]] = {}

    @property
    def tokenizer(self):
        return load_tokenizer(self.source)

    def encode(self, text: str) -> list[int]:
        if text not in self._memo:
            self._memo[text] = tokenize_with(self.tokenizer, text)
        return list(self._memo[text])

    def __call__(self, cell, prompts: list[str]) -> list[list[int]]:
        return [self.encode(apply_context_window(p, cell.context_window)) for p in prompts]

    def detokenize(self, ids: list[int]) -> str:
        """Text of ``ids`` as the one-shot graph's detokenizer gives it (start token included)."""
        out = self.tokenizer.detokenize([list(ids)])
        out = out.numpy() if hasattr(out, "numpy") else out
        v = out[0] if isinstance(out, (list, tuple)) or getattr(out, "ndim", 0) else out
        v = v.item() if hasattr(v, "item") else v
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
