"""From a cell to the app's spec, and from the app's result back to the result file's block."""
from __future__ import annotations

from harness import contract
from harness.convert.artifact import Converted
from harness.run.plan import Cell, Plan


def make_spec(run_id: str, plan: Plan, cell: Cell, model: Converted, model_path: str,
              token_ids: list[list[int]] | None = None, threads: int | None = None) -> dict:
    spec = {
        "contract_version": contract.CONTRACT_VERSION, "run_id": run_id, "model_path": model_path,
        "model_sha256": model.sha256, "export": model.export, "prompts": plan.prompts,
        "max_length": cell.max_length, "context_window_words": cell.context_window,
        "warmup_runs": plan.warmup, "measured_runs": plan.runs, "threads": threads or cell.threads or 1,
        "delegate": cell.delegate,
    }
    if token_ids is not None:
        spec["prompt_token_ids"] = token_ids
    contract.validate_spec(spec)
    return spec


def to_samples(generations: list[dict], max_length: int, detokenize=None) -> list[dict]:
    """Contract generation records -> result samples (adds tokens generated, stopped early).

    prefill_decode apps return token ids only: ``detokenize`` turns them into ``output_text``.
    """
    out = []
    for g in generations:
        s = dict(g)
        tc, pc = g.get("token_count"), g.get("prompt_token_count")
        s["tokens_generated"] = tc - pc if tc is not None and pc is not None else None
        s["stopped_early"] = bool(tc is not None and tc < max_length)
        # The prompt (after the context window) already filled the output: nothing generated.
        s["prompt_filled_output"] = bool(pc is not None and pc >= max_length)
        if detokenize is not None and s.get("output_token_ids") and not s.get("output_text"):
            s["output_text"] = detokenize(s["output_token_ids"])
        out.append(s)
    return out


def params_record(plan: Plan, cell: Cell, spec: dict, result: dict) -> dict:
    """What was requested beside what the app actually used."""
    return {"context_window_words": cell.context_window, "warmup_runs": plan.warmup,
            "measured_runs": plan.runs, "threads_requested": spec["threads"],
            "threads_used": result["threads_used"], "cpu_count": result.get("cpu_count"),
            "delegate_requested": spec["delegate"],
            "delegate_used": result["delegate_used"], "prompts_sha256": plan.prompts_sha256,
            "prompts_source": plan.prompts_source}
