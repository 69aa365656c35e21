"""The regression gate on sample sets with known effects, its errors, its output, and named baselines."""
import io
import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from harness import cli
from harness.analysis import compare as cmpmod
from harness.analysis.compare import Settings, Side
from harness.analysis.stats import FASTER, SAME, SLOWER, UNSTABLE
from harness.errors import UserError
from harness.reporters.comparison import console_for_stdout, render_markdown, render_terminal
from harness.results import schema as results
from harness.results.frame import frame_from_docs, load_frame
from harness.results.schema import RunDocument

FP_A = "google/panther/panther:14/AP2A/1:user/release-keys"
FP_B = "samsung/a54/a54:14/UP1A/2:user/release-keys"
# Three prompts whose generations differ by design (a longer prompt leaves fewer tokens to generate).
PROMPT_SCALE = [1.0, 0.55, 0.9]


def block(walls, *, alias="pixel7", fingerprint=FP_A, source="preset:gpt2_base_en", variant="fp32",
          max_length=64, sha="a" * 64, emulated=False, prompts_sha="p" * 64, prompts=1):
    samples = [{"phase": "warmup", "index": 0, "prompt_index": 0, "wall_ms": 10 * max(walls)}]
    samples += [{"phase": "measured", "index": i, "prompt_index": i % prompts, "wall_ms": float(w)}
                for i, w in enumerate(walls)]
    return {"block_id": f"{alias}/{variant}/L{max_length}", "status": "ok", "error": None,
            "device": {"alias": alias, "fingerprint": fingerprint, "emulated": emulated},
            "model": {"source": source, "synthetic": False, "variant": variant, "export": "oneshot",
                      "max_length": max_length, "sha256": sha, "size_bytes": 1000},
            "params": {"context_window_words": 50, "threads_used": 4, "prompts_sha256": prompts_sha},
            "samples": samples}


def make_doc(walls=None, *, run_id="r1", blocks=None, commit=None, **kw):
    return {"schema_version": 2, "run_id": run_id, "status": "complete",
            "started_at": "2026-11-25T00:00:00+00:00",
            "harness": {"version": "0.1.0", **({"git_commit": commit} if commit else {})},
            "blocks": blocks if blocks is not None else [block(walls, **kw)]}


def frame(walls=None, **kw):
    return frame_from_docs([("x", make_doc(walls, **kw))])


def gate(base, cand, settings=None, **kw):
    c = cmpmod.compare(frame(base, **kw), frame(cand, run_id="r2", sha="b" * 64, **kw), settings)
    assert len(c.rows) == 1
    return c.rows.iloc[0]


def prompted(rng, n, scale, noise):
    """n generations cycling over three prompts of different lengths, ``noise`` = within-prompt CV."""
    return [1000 * scale * PROMPT_SCALE[i % 3] * rng.normal(1, noise) for i in range(n)]


def _row(run_id, block_id, variant, i, wall):
    """One measured sample of the simulated frames (every column the gate reads)."""
    return {"phase": "measured", "wall_ms": wall, "prompt_index": i % 3, "run_id": run_id, "block_id": block_id,
            "device_alias": "pixel7", "device_fingerprint": FP_A, "emulated": False, "synthetic": False,
            "model_source": "preset:gpt2_base_en", "model_sha256": "a", "variant": variant, "export": "oneshot",
            "max_length": 64, "context_window_words": 32, "threads": 4, "delegate": "cpu", "prompts_sha256": "p"}


def three_cells(rng, scale, noise, run_id):
    """The sample frame of a 3-variant run, built directly (the simulation needs many, fast)."""
    return pd.DataFrame([_row(run_id, v, v, i, w)
                         for v in ("fp32", "dynamic", "fp16") for i, w in enumerate(prompted(rng, 10, scale, noise))])


def blocked_cells(rng, scale, within, between, run_id, blocks=3, runs=5):
    """A 3-variant run of ``blocks`` rounds: every block (app process) sits at its own level,
    lognormal with sigma ``between``, and its samples vary by ``within`` around it."""
    rows = []
    for v in ("fp32", "dynamic", "fp16"):
        for k in range(blocks):
            level = scale * float(np.exp(rng.normal(0, between)))
            rows += [_row(run_id, f"{v}/r{k}", v, i, w) for i, w in enumerate(prompted(rng, runs, level, within))]
    return pd.DataFrame(rows)


def _rates(make, settings=None, n=20):
    """(false alarms, detections) over n seeds: a baseline, an unchanged and a 1.2x slower run each."""
    alarms = detected = 0
    for seed in range(n):
        rng = np.random.default_rng(seed)
        base = make(rng, 1.0, "b")
        alarms += cmpmod.exit_code(cmpmod.compare(base, make(rng, 1.0, "u"), settings)) == 1
        detected += cmpmod.exit_code(cmpmod.compare(base, make(rng, 1.2, "s"), settings)) == 1
    return alarms, detected


def test_default_settings_on_phone_like_noise_few_false_alarms_and_slowdowns_caught():
    """--runs 10, three prompts, 3 cells, 4 % within-prompt noise: the issue's goals, with room."""
    alarms, detected = _rates(lambda rng, scale, run_id: three_cells(rng, scale, 0.04, run_id))
    assert alarms <= 1 and detected >= 19


def test_process_level_shifts_false_alarm_on_one_block_but_not_on_three():
    """Whole app processes 12 % apart (sigma), each steady within (2 %): the emulated phone's shape
    (docs/reports.md). One block a side (--rounds 1 --runs 15) takes a process's level for the
    cell's and false-alarms; three (--rounds 3 --runs 5) measure that variation and keep the
    family-wise rate."""
    one_block, _ = _rates(lambda rng, scale, run_id: blocked_cells(rng, scale, 0.02, 0.12, run_id, 1, 15))
    three_blocks, _ = _rates(lambda rng, scale, run_id: blocked_cells(rng, scale, 0.02, 0.12, run_id, 3, 5))
    assert one_block >= 5 and three_blocks <= 1
    row = cmpmod.compare(blocked_cells(np.random.default_rng(0), 1.0, 0.02, 0.12, "b"),
                         blocked_cells(np.random.default_rng(1), 1.0, 0.02, 0.12, "u")).rows
    assert set(row["unit"]) == {cmpmod.BLOCKS} and set(row["blocks_baseline"]) == {3}


def test_default_settings_on_phone_like_blocks_goals_met():
    """--rounds 3 --runs 5, 3 % between processes and 4 % within: the issue's goals on blocks."""
    alarms, detected = _rates(lambda rng, scale, run_id: blocked_cells(rng, scale, 0.04, 0.03, run_id))
    assert alarms <= 1 and detected >= 19


def test_one_block_a_side_is_judged_on_samples_and_says_so():
    rng = np.random.default_rng(2)
    c = cmpmod.compare(three_cells(rng, 1.0, 0.02, "b"), three_cells(rng, 1.0, 0.02, "u"))
    assert set(c.rows["unit"]) == {cmpmod.SAMPLES}
    assert any("every cell judged on samples" in n and "--rounds 3" in n for n in c.notes)


def test_prompts_are_matched_not_counted_as_noise():
    """Without prompt matching the 45 % difference between prompts would swamp a 20 % slowdown."""
    rng = np.random.default_rng(7)
    base, cand = prompted(rng, 12, 1.0, 0.02), prompted(rng, 12, 1.2, 0.02)
    row = gate(base, cand, prompts=3)
    assert row["verdict"] == SLOWER and 1.15 < row["ci_low"] < row["ratio"] < row["ci_high"] < 1.25


def test_review_false_alarm_shape_is_not_a_regression():
    """p < alpha and a point ratio of 1.2, but the interval's lower bound is below 1.05: not slower."""
    rng = np.random.default_rng(0)
    base = rng.normal(1000, 60, 10)
    cand = base * 1.12 + rng.normal(0, 60, 10)
    row = gate(base, cand, Settings(cv_threshold=0.5))
    assert row["p_value"] < 0.05 and row["ratio"] > 1.05
    assert row["ci_low"] <= 1.05 and row["verdict"] == UNSTABLE


def test_small_significant_slowdown_is_same_and_large_one_is_slower():
    rng = np.random.default_rng(3)
    base = rng.normal(1000, 5, 20)            # 0.5 % noise: a 3 % shift is highly significant
    small = gate(base, base * 1.03)
    assert small["p_value"] < 0.001 and small["verdict"] == SAME
    big = gate(base, base * 1.15)
    assert big["verdict"] == SLOWER and big["ci_low"] > 1.10 and big["ci_high"] < 1.20
    assert gate(base, base * 0.8)["verdict"] == FASTER


def test_holm_correction_over_cells():
    """5 vs 5 completely separated: exact p = 2/252 = 0.0079. Alone it is a regression; among
    seven cells Holm multiplies it by 7 (0.056 > 0.05) and the cell cannot be judged."""
    base, slow = [100, 101, 102, 103, 104], [120, 121, 122, 123, 124]
    assert gate(base, slow)["verdict"] == SLOWER
    variants = ["fp32", "dynamic", "fp16", "int8", "v5", "v6", "v7"]
    bdoc = make_doc(run_id="b", blocks=[block(base, variant=v) for v in variants])
    cdoc = make_doc(run_id="c", blocks=[block(slow if v == "fp32" else base, variant=v) for v in variants])
    c = cmpmod.compare(frame_from_docs([("b", bdoc)]), frame_from_docs([("c", cdoc)]))
    row = c.rows.set_index("cell").loc["fp32"]
    assert row["p_value"] == pytest.approx(2 / 252) and row["p_adjusted"] == pytest.approx(7 * 2 / 252)
    assert row["verdict"] == UNSTABLE and cmpmod.exit_code(c) == 0
    assert cmpmod.exit_code(c, fail_on_unstable=True) == 1


def test_high_cv_or_few_samples_make_a_cell_unstable_with_a_warning():
    rng = np.random.default_rng(5)
    noisy = rng.normal(1000, 200, 10)
    c = cmpmod.compare(frame(noisy), frame(noisy * 1.5, run_id="r2"))
    assert c.rows.iloc[0]["verdict"] == UNSTABLE and cmpmod.exit_code(c) == 0
    assert any("baseline CV" in w and "too noisy" in w for w in c.warnings)
    c = cmpmod.compare(frame([100, 101, 102]), frame([200, 201, 202], run_id="r2"))
    assert c.rows.iloc[0]["verdict"] == UNSTABLE and any("3 samples in the baseline (< 5)" in w for w in c.warnings)


def test_no_common_cell_and_one_sided_cells_are_errors_unless_allowed():
    base = frame_from_docs([("x", make_doc(run_id="b", blocks=[block([1, 2, 3, 4, 5]),
                                                               block([1, 2, 3, 4, 5], variant="dynamic")]))])
    with pytest.raises(UserError, match="share no cell") as e:
        cmpmod.compare(base, frame([1, 2, 3, 4, 5], run_id="c", max_length=150))
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match=r"1 only in the baseline \(dynamic\); pass --allow-missing"):
        cmpmod.compare(base, frame([1, 2, 3, 4, 5], run_id="c"))
    c = cmpmod.compare(base, frame([1, 2, 3, 4, 5], run_id="c"), allow_missing=True)
    assert len(c.rows) == 1 and c.only_baseline == ["dynamic"]
    assert "only in baseline (not compared): dynamic" in render_markdown(c)


def test_same_data_overlap_and_prompt_mismatch_are_warned():
    doc = make_doc([100, 101, 102, 103, 104], run_id="r1")
    df = frame_from_docs([("x", doc)])
    c = cmpmod.compare(df, df)
    assert any("same data (run r1)" in w for w in c.warnings)
    both = frame_from_docs([("x", doc), ("y", make_doc([100, 101, 102, 103, 104], run_id="r9"))])
    assert any("on both sides" in w for w in cmpmod.compare(df, both).warnings)
    other = frame([100, 101, 102, 103, 104], run_id="r2", prompts_sha="q" * 64)
    c = cmpmod.compare(df, other)
    assert any("prompt sets differ" in w for w in c.warnings) and "prompts differ" in c.rows.iloc[0]["notes"]


def test_cells_without_a_context_window_still_match():
    """--context-window all stores no window: the missing key part must match itself."""
    def doc(walls, run_id):
        d = make_doc(walls, run_id=run_id)
        d["blocks"][0]["params"]["context_window_words"] = None
        return frame_from_docs([(run_id, d)])

    c = cmpmod.compare(doc([100, 101, 102, 103, 104], "a"), doc([100, 101, 102, 103, 104], "b"))
    assert len(c.rows) == 1 and c.rows.iloc[0]["verdict"] == SAME


def test_model_sha_differs_but_cells_match_on_source():
    row = gate([100, 101, 102, 103, 104], [100, 101, 102, 103, 104])
    assert "model file differs" in row["notes"]


def test_refuses_cross_device_and_cross_model_unless_allowed():
    base = frame([100, 101, 102])
    with pytest.raises(UserError, match="different devices"):
        cmpmod.compare(base, frame([100, 101, 102], fingerprint=FP_B, alias="a54"))
    c = cmpmod.compare(base, frame([100, 101, 102], fingerprint=FP_B, alias="a54"), allow_cross_device=True)
    assert len(c.rows) == 1 and any("cross-device" in n for n in c.notes)
    with pytest.raises(UserError, match="different models"):
        cmpmod.compare(base, frame([100, 101, 102], source="preset:gpt2_medium_en"))
    c = cmpmod.compare(base, frame([100, 101, 102], source="preset:gpt2_medium_en"), allow_cross_model=True)
    assert len(c.rows) == 1


def _named(c, base="v1.2", cand="latest"):
    bdoc = RunDocument.from_dict(make_doc([1], run_id="baseline-v1.2", commit="c19025b" + "0" * 33), "b")
    bdoc.baseline = {"name": "v1.2", "runs": ["20261201T010123Z-a8eff8"]}
    c.baseline = Side.from_docs(base, [bdoc])
    c.candidate = Side.from_docs(cand, [RunDocument.from_dict(make_doc([1], run_id="20261201T010153Z-823508"), "c")])
    return c


def test_summary_line_names_the_baseline_and_the_slow_cells():
    rng = np.random.default_rng(9)
    base = rng.normal(1000, 10, 10)
    bdf = frame_from_docs([("b", make_doc(run_id="b", blocks=[block(base, variant=v) for v in ("fp32", "fp16")]))])
    cdf = frame_from_docs([("c", make_doc(run_id="c", blocks=[block(base * 1.2, variant="fp32"),
                                                              block(base, variant="fp16")]))])
    c = _named(cmpmod.compare(bdf, cdf))
    line = cmpmod.summary_line(c)
    assert line.startswith("FAIL: 1 of 2 cells slower than v1.2 (fp32 +") and line.endswith(" %)")
    assert cmpmod.summary_line(_named(cmpmod.compare(bdf, bdf))).startswith("PASS: 2 cells, none slower than v1.2")
    assert c.baseline.describe() == "v1.2 — run 20261201T010123Z-a8eff8, 2026-11-25 00:00 UTC, harness c19025b"
    assert c.candidate.describe() == "latest — run 20261201T010153Z-823508, 2026-11-25 00:00 UTC"


def test_terminal_output_names_sides_and_ends_with_the_summary_at_any_width():
    rng = np.random.default_rng(2)
    base = rng.normal(1000, 10, 10)
    c = _named(cmpmod.compare(frame(base), frame(base * 1.3, run_id="r2")))
    for width in (80, 100, 400):
        buf = io.StringIO()
        render_terminal(c, Console(file=buf, width=width, color_system=None))
        out = buf.getvalue()
        lines = out.rstrip("\n").splitlines()
        assert lines[0].startswith("Baseline:  v1.2") and lines[1].startswith("Candidate: latest")
        assert lines[-1].startswith("FAIL: 1 of 1 cell slower than v1.2 (fp32 +")
        assert "SLOWER" in out and "…" not in out          # the interval and verdict are never cut
    assert console_for_stdout().width >= 200            # pytest's stdout is not a terminal: CI logs


def test_markdown_heading_table_and_summary():
    rng = np.random.default_rng(4)
    base = rng.normal(1000, 10, 10)
    md = render_markdown(_named(cmpmod.compare(frame(base), frame(base * 1.5, run_id="r2"))))
    assert md.startswith("### Benchmark comparison: FAIL\n")
    assert "- Baseline:  v1.2 — run 20261201T010123Z-a8eff8" in md and "| SLOWER |" in md
    assert md.rstrip().splitlines()[-1].startswith("**FAIL: 1 of 1 cell slower than v1.2")


def _write(results, doc):
    (results / f"{doc['run_id']}.json").write_text(json.dumps(doc))


def test_baseline_save_and_compare_main(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(5)
    base_walls = rng.normal(1000, 10, 12)
    _write(tmp_path, make_doc(base_walls[:6], run_id="run-a"))
    _write(tmp_path, make_doc(base_walls[6:], run_id="run-b"))
    _write(tmp_path, make_doc(base_walls * 1.2, run_id="run-c", sha="c" * 64))
    _write(tmp_path, make_doc(base_walls, run_id="run-d", max_length=150))
    rd = ["--results-dir", str(tmp_path)]
    assert cli.main(["baseline", "save", "v1", "run-a", "run-b", *rd]) == 0
    saved = json.loads((tmp_path / "baselines" / "v1.json").read_text())
    assert saved["schema_version"] == results.SCHEMA_VERSION == 3 and saved["baseline"]["runs"] == ["run-a", "run-b"]
    assert [b["block_id"] for b in saved["blocks"]] == ["run-a/pixel7/fp32/L64", "run-b/pixel7/fp32/L64"]
    df = load_frame(["v1"], tmp_path)                   # a baseline name resolves to the file
    assert (df["phase"] == "measured").sum() == 12 and (df["phase"] == "warmup").sum() == 2
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md = tmp_path / "cmp.md"
    capsys.readouterr()
    assert cli.main(["compare", "v1", "run-c", "--markdown", str(md), *rd]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Baseline:  v1 — 2 runs (run-a, run-b)")
    assert out.rstrip().splitlines()[-1].startswith("FAIL: 1 of 1 cell slower than v1 (fp32 +")
    assert "SLOWER" in md.read_text()
    assert summary.read_text().startswith("# earlier step\n### Benchmark comparison: FAIL")
    assert cli.main(["compare", "v1", "run-a", *rd]) == 0        # overlapping data: warned, passes
    assert "on both sides" in capsys.readouterr().out
    assert cli.main(["compare", "v1", "run-d", *rd]) == 2        # another max length: nothing in common
    assert "share no cell" in capsys.readouterr().err


def test_bad_baseline_name_and_missing_run(tmp_path, capsys):
    rd = ["--results-dir", str(tmp_path)]
    assert cli.main(["baseline", "save", "../x", "r", *rd]) == 1
    assert "invalid baseline name" in capsys.readouterr().err
    assert cli.main(["compare", "nope", "nope2", *rd]) == 2
    assert "no such result file" in capsys.readouterr().err
