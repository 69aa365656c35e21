"""Quality drift of a quantized variant against fp32 of the same model and max length.

Measured on the host, on the prefill/decode export (stateless), 1 thread:

- **greedy token agreement**: both models decode greedily from the same prompt to max
  length; ``token_agreement`` is the share of generated positions whose token ids are
  equal (position by position, so after a first divergence later positions usually
  disagree too); ``first_divergence`` is the earliest generated position (0 = the first
  new token) where any prompt's two sequences differ, None when they never do.
- **next-token distribution divergence**, teacher-forced: the variant is fed fp32's
  greedy sequence, and at every generated position the two next-token distributions
  (softmax of the logits, float64) are compared: ``mean_kl`` = mean KL(fp32 ‖ variant)
  in nats, ``top1_agreement`` = share of positions with the same argmax.

fp32 against itself (a second interpreter on the same file) gives exactly 0 KL and
agreement 1.0: the interpreter is deterministic at a fixed thread count.
"""
from __future__ import annotations

from pathlib import Path

from harness.convert import variants as variants_mod

REFERENCE = variants_mod.reference()


def _log_softmax(x):
    import numpy as np

    x = np.asarray(x, np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def compare(ref_runner, var_runner, token_id_lists: list[list[int]]) -> dict:
    """Drift of ``var_runner`` against ``ref_runner`` (both PrefillDecodeRunner) on these prompts."""
    import numpy as np

    agree = total = 0
    first: int | None = None
    per_prompt_first: list[int | None] = []
    kl_sum = 0.0
    top1 = positions = 0
    for ids in token_id_lists:
        ref = ref_runner.run(ids, keep_logits=True)
        var = var_runner.run(ids)
        n = ref["prompt_token_count"]
        a, b = ref["output_token_ids"][n:], var["output_token_ids"][n:]
        same = [x == y for x, y in zip(a, b)]
        agree += sum(same)
        total += len(same)
        div = next((i for i, s in enumerate(same) if not s), None)
        per_prompt_first.append(div)
        if div is not None:
            first = div if first is None else min(first, div)
        forced = var_runner.run(ids, forced=a, keep_logits=True)
        for lp, lq in zip(ref["logits"], forced["logits"]):
            p_log, q_log = _log_softmax(lp), _log_softmax(lq)
            kl_sum += float(np.sum(np.exp(p_log) * (p_log - q_log)))
            top1 += int(np.argmax(lp) == np.argmax(lq))
            positions += 1
    return {
        "reference": REFERENCE,
        "token_agreement": agree / total if total else 1.0,
        "first_divergence": first,
        "first_divergence_per_prompt": per_prompt_first,
        "mean_kl": kl_sum / positions if positions else 0.0,
        "top1_agreement": top1 / positions if positions else 1.0,
        "prompts": len(token_id_lists),
        "positions": positions,
        "generated_positions": total,
        "export": "prefill_decode",
        "threads": 1,
    }


def measure(ref_path: Path, var_path: Path, max_length: int, token_id_lists: list[list[int]]) -> dict:
    from harness.devices.host.generate import PrefillDecodeRunner, load_interpreter

    ref = PrefillDecodeRunner(load_interpreter(ref_path, 1), max_length)
    var = PrefillDecodeRunner(load_interpreter(var_path, 1), max_length)
    return compare(ref, var, token_id_lists)


def _drift_models(keys: list[tuple], source, cache, progress) -> tuple[dict, dict]:
    """The prefill/decode model of every variant the keys need, per max length (fp32 too).

    Returns ({L: {variant: path}}, {key: error record}) — a variant that fails to convert
    fails alone, and fp32 failing fails its whole max length."""
    from harness.convert import convert
    from harness.errors import HarnessError

    by_length: dict[int, dict[str, Path]] = {}
    failed: dict = {}
    for L in sorted({k[1] for k in keys}):
        need = [REFERENCE] + sorted({k[0] for k in keys if k[1] == L} - {REFERENCE})
        by_length[L] = {}
        for variant in need:
            try:
                (m,) = convert(source, [variant], L, export="prefill_decode", cache=cache, progress=progress)
                by_length[L][variant] = m.path
            except HarnessError as e:
                for k in keys:
                    if k[1] == L and (k[0] == variant or variant == REFERENCE):
                        failed[k] = {"reference": REFERENCE, "error": f"conversion of {variant} failed: {e}"[:500]}
    return by_length, failed


def measure_run(rec, source, *, cache: Path | None = None, progress=None) -> dict:
    """Drift for every (variant, max length, context window) of the run's ok blocks.

    Drift always uses the prefill/decode export of the variant and of fp32 (converted here
    if missing, from the cache otherwise). The figures go into every matching block's
    ``drift`` through the run's Recorder. Returns {(variant, L, cw): drift}.
    """
    from harness.model.tokens import PromptTokenIds
    from harness.run.plan import Cell

    progress = progress or (lambda _m: None)
    prompts = rec.doc.plan["prompts"]
    tokens = PromptTokenIds(source)

    def key(b) -> tuple:
        return (b.model["variant"], b.model["max_length"], b.params["context_window_words"])

    keys = sorted({key(b) for b in rec.doc.blocks if b.ok},
                  key=lambda k: (k[1], k[0], -1 if k[2] is None else k[2]))
    by_length, out = _drift_models(keys, source, cache, progress)
    for variant, L, cw in keys:
        if (variant, L, cw) in out:
            continue
        progress(f"drift {variant} vs {REFERENCE} (max length {L}, context window {cw})")
        ids = tokens(Cell(variant, L, cw, 1), prompts)
        try:
            out[(variant, L, cw)] = measure(by_length[L][REFERENCE], by_length[L][variant], L, ids)
        except Exception as e:  # noqa: BLE001 -- recorded, the run's timings stay valid
            out[(variant, L, cw)] = {"reference": REFERENCE, "error": f"{type(e).__name__}: {e}"[:500]}
    rec.set_drift({b.block_id: out[key(b)] for b in rec.doc.blocks if b.ok and key(b) in out})
    return out
