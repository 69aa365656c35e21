"""``trained:tiny``: a small GPT-2 trained here, deterministically, so quality can be measured.

Random weights make greedy text degenerate into near-ties, so drift measured on them says
little (docs/generation-metrics.md). This model has real, if small, knowledge:

- **text**: the Python reference manual's topics that ship with Python itself
  (``pydoc_data.topics``: 465 KB of English prose and code; every Python has it, so no
  package and no network is needed). Its prose paragraphs (code and grammar left out)
  each end with ``<|endoftext|>``, so the model learns to end text early.
- **tokenizer**: the one of ``synthetic:tiny``: GPT-2's byte-level BPE cut to its first
  1,000 merges (a 1,256-word vocabulary). Honest about what it is: GPT-2's pieces, not
  its 50,257-word vocabulary; the vocabulary size is what makes training fit in minutes.
- **shape**: ``SHAPE`` below (3 layers, hidden 96, 64 positions, 462,528 parameters).
- **training**: AdamW, fixed seeds, one thread, TensorFlow's deterministic ops
  (``enable_op_determinism``), ``EPOCHS`` passes over 64-token windows.

The weights are committed (``harness/data/models/trained-tiny.npz``, ~2 MB, with a
JSON sidecar holding the corpus hash, the loss per epoch and the weights' sha256):
tests and conversions use exactly these weights on every machine, without training in
the test suite. ``python -m harness.model.trained --out DIR`` reproduces them (a few
minutes on one core); ``--check`` retrains into a temporary folder and compares the
weights' sha256 with the committed one (checked: bit-identical on this machine, 175 s;
float rounding may differ on another CPU or TF build).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

NAME = "tiny"
DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "models"
WEIGHTS = DATA_DIR / "trained-tiny.npz"
SIDECAR = DATA_DIR / "trained-tiny.json"
SEED = 20261216
SHAPE = dict(num_layers=3, num_heads=3, hidden_dim=96, intermediate_dim=384, max_sequence_length=64)
SEQUENCE = 64           # training window, tokens (= the model's positions)
BATCH = 32
EPOCHS = 10
LEARNING_RATE = 3e-3
CODE_VERSION = 1        # part of the identity: bump when training changes


def corpus_documents() -> list[str]:
    """The training text: the prose paragraphs of every pydoc topic, each on one line.

    Code examples and grammar rules (indented lines, ``::=``) and headings are left out:
    they made a small model babble indentation and grammar symbols. A paragraph is
    blank-line separated; its lines are joined with spaces."""
    import pydoc_data.topics

    docs = []
    for key in sorted(pydoc_data.topics.topics):
        for para in pydoc_data.topics.topics[key].split("\n\n"):
            lines = [ln for ln in para.strip("\n").split("\n") if ln.strip()]
            if (not lines or any(ln[:1].isspace() for ln in lines) or "::=" in para
                    or set(lines[-1].strip()) <= set("*=-~^") or len(para) < 40):
                continue
            docs.append(" ".join(ln.strip() for ln in lines))
    return docs


def corpus_sha256() -> str:
    return hashlib.sha256(json.dumps(corpus_documents()).encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def identity() -> str:
    """The committed weights' identity (what the conversion cache keys on)."""
    if not WEIGHTS.is_file():
        return "trained:missing"
    return "trained:" + file_sha256(WEIGHTS)[:16]


def build(vocabulary_size: int, shape: dict | None = None):
    """An untrained backbone of ``shape`` (default ``SHAPE``; dropout 0: no randomness at run time)."""
    import keras_hub

    return keras_hub.models.GPT2Backbone(vocabulary_size=vocabulary_size, dropout=0.0, **(shape or SHAPE))


def committed_record() -> dict:
    """The committed weights' sidecar (shape, corpus hash, losses, sha256)."""
    return json.loads(SIDECAR.read_text()) if SIDECAR.is_file() else {}


def _tokenizer():
    import keras_hub

    from harness.model.sources import bytes_vocabulary

    vocab, merges = bytes_vocabulary()
    return keras_hub.models.GPT2Tokenizer(vocabulary=vocab, merges=merges)


def token_windows(tokenizer) -> "tuple":
    """(inputs, targets): the corpus as non-overlapping windows of SEQUENCE tokens."""
    import numpy as np

    eos = int(tokenizer.end_token_id)
    stream: list[int] = []
    for doc in corpus_documents():
        ids = tokenizer(doc)
        stream += [int(i) for i in (ids.numpy() if hasattr(ids, "numpy") else ids)] + [eos]
    arr = np.array(stream, np.int32)
    n = (len(arr) - 1) // SEQUENCE
    x = arr[:n * SEQUENCE].reshape(n, SEQUENCE)
    y = arr[1:n * SEQUENCE + 1].reshape(n, SEQUENCE)
    return x, y


def train(log=print) -> tuple[list, dict]:
    """Train from the fixed seed; returns (backbone weights, training record)."""
    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    tokenizer = _tokenizer()
    x, y = token_windows(tokenizer)
    backbone = build(int(tokenizer.vocabulary_size()))
    token_ids = keras.Input((SEQUENCE,), dtype="int32")
    hidden = backbone({"token_ids": token_ids, "padding_mask": keras.ops.ones_like(token_ids)})
    model = keras.Model(token_ids, backbone.token_embedding(hidden, reverse=True))
    steps = EPOCHS * (len(x) // BATCH)
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE / 10, steps, warmup_target=LEARNING_RATE,
                                                      warmup_steps=max(1, steps // 20))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    order = np.random.default_rng(SEED)
    losses = []
    t0 = time.monotonic()
    for epoch in range(EPOCHS):
        perm = order.permutation(len(x))
        n = len(x) // BATCH * BATCH
        hist = model.fit(x[perm[:n]], y[perm[:n]], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        losses.append(round(float(hist.history["loss"][-1]), 4))
        log(f"epoch {epoch + 1}/{EPOCHS}: loss {losses[-1]:.3f} ({time.monotonic() - t0:.0f} s)")
    record = {"name": f"trained:{NAME}", "seed": SEED, "shape": SHAPE, "sequence": SEQUENCE,
              "batch": BATCH, "epochs": EPOCHS, "learning_rate": LEARNING_RATE,
              "code_version": CODE_VERSION, "vocabulary_size": int(tokenizer.vocabulary_size()),
              "tokenizer": "GPT-2 byte-level BPE, first 1,000 merges (synthetic:tiny's)",
              "corpus": "pydoc_data.topics (Python's own reference topics), paragraphs + <|endoftext|>",
              "corpus_sha256": corpus_sha256(), "python": sys.version.split()[0],
              "windows": int(len(x)), "tokens": int(len(x) * SEQUENCE),
              "loss_per_epoch": losses, "train_wall_s": round(time.monotonic() - t0, 1),
              "tensorflow": tf.__version__}
    return backbone.get_weights(), record


def save(weights: list, record: dict, out_dir: Path) -> Path:
    """Write ``trained-tiny.npz`` (float32 arrays in order) and its JSON sidecar to ``out_dir``."""
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / WEIGHTS.name
    with open(path, "wb") as f:   # np.savez_compressed stamps no time: same weights, same bytes
        np.savez_compressed(f, **{f"w{i:03d}": np.asarray(w, np.float32) for i, w in enumerate(weights)})
    record = dict(record, weights_sha256=file_sha256(path), weights_bytes=path.stat().st_size)
    (out_dir / SIDECAR.name).write_text(json.dumps(record, indent=1) + "\n")
    return path


def load_causal_lm():
    """The trained ``GPT2CausalLM`` (backbone + the tiny tokenizer's preprocessor) from the committed weights."""
    import keras_hub
    import numpy as np

    from harness.errors import UserError

    if not WEIGHTS.is_file():
        raise UserError(f"trained:{NAME}: {WEIGHTS} is missing; recreate it with "
                        "`python -m harness.model.trained --out harness/data/models`")
    tokenizer = _tokenizer()
    shape = committed_record().get("shape") or SHAPE
    backbone = build(int(tokenizer.vocabulary_size()), shape)
    with np.load(WEIGHTS) as z:
        backbone.set_weights([z[k] for k in sorted(z.files)])
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(
        tokenizer=tokenizer, sequence_length=shape["max_sequence_length"])
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.model.trained", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="write trained-tiny.npz and trained-tiny.json here")
    p.add_argument("--check", action="store_true",
                   help="retrain into a temporary folder and compare with the committed weights")
    args = p.parse_args(argv)
    if not (args.out or args.check):
        p.error("give --out DIR or --check")
    out = args.out or Path(tempfile.mkdtemp(prefix="trained-tiny-"))
    weights, record = train(log=lambda m: print(m, file=sys.stderr, flush=True))
    path = save(weights, record, out)
    print(json.dumps({"weights": str(path), "sha256": file_sha256(path), "loss_per_epoch": record["loss_per_epoch"],
                      "train_wall_s": record["train_wall_s"]}))
    if args.check:
        want = json.loads(SIDECAR.read_text())["weights_sha256"] if SIDECAR.is_file() else None
        same = want == file_sha256(path)
        print(f"committed {want}, retrained {file_sha256(path)}: {'identical' if same else 'DIFFERENT'}")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
