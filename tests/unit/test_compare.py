"""The regression gate on synthetic sample sets with known effects, and named baselines."""
import json

import numpy as np
import pytest

from harness import cli
from harness.analysis import compare as cmpmod
from harness.analysis.stats import FASTER, NO_CHANGE, SLOWER
from harness.errors import UserError
from harness.reporters.comparison import render_markdown
from harness.results import schema as results
from harness.results.frame import frame_from_docs, load_frame

FP_A = "google/panther/panther:14/AP2A/1:user/release-keys"
FP_B = "samsung/a54/a54:14/UP1A/2:user/release-keys"


def make_doc(walls, *, run_id="r1", fingerprint=FP_A, alias="pixel7", source="preset:gpt2_base_en",
             variant="fp32", sha="a" * 64, emulated=False):
    samples = [{"phase": "warmup", "index": 0, "prompt_index": 0, "wall_ms": 10 * max(walls)}]
    samples += [{"phase": "measured", "index": i, "prompt_index": 0, "wall_ms": float(w)}
                for i, w in enumerate(walls)]
    block = {"block_id": f"{alias}/{variant}", "status": "ok", "error": None,
             "device": {"alias": alias, "fingerprint": fingerprint, "emulated": emulated},
             "model": {"source": source, "synthetic": False, "variant": variant, "export": "oneshot",
                       "max_length": 64, "sha256": sha, "size_bytes": 1000},
             "params": {"context_window_words": 50, "threads_used": 4},
             "samples": samples}
    return {"schema_version": 1, "run_id": run_id, "status": "complete",
            "started_at": "2026-11-25T00:00:00+00:00", "harness": {"version": "0.1.0"}, "blocks": [block]}


def frame(walls, **kw):
    return frame_from_docs([("x", make_doc(walls, **kw))])


def gate(base, cand, **kw):
    c = cmpmod.compare(frame(base), frame(cand, run_id="r2", sha="b" * 64), **kw)
    assert len(c.rows) == 1
    return c.rows.iloc[0]


def test_no_false_alarm_same_distribution_over_50_seeds():
    alarms = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        base = rng.normal(1000, 100, 20)      # 10 % noise
        cand = rng.normal(1000, 100, 20)
        alarms += gate(base, cand)["verdict"] == SLOWER
    # alpha alone would give ~2.5 % one-sided; the min-effect gate lowers it further
    assert alarms <= 2


def test_detects_15_percent_slowdown_with_20_samples():
    detected = 0
    for seed in range(20):
        rng = np.random.default_rng(1000 + seed)
        base = rng.normal(1000, 100, 20)
        cand = rng.normal(1150, 115, 20)
        detected += gate(base, cand)["verdict"] == SLOWER
    assert detected >= 18


def test_small_significant_slowdown_is_not_flagged_but_large_one_is():
    rng = np.random.default_rng(3)
    base = rng.normal(1000, 5, 20)            # 0.5 % noise: a 3 % shift is highly significant
    small = gate(base, base * 1.03)
    assert small["p_value"] < 0.001
    assert small["verdict"] == NO_CHANGE      # fails if the min-effect gate were removed
    big = gate(base, base * 1.15)
    assert big["verdict"] == SLOWER
    assert big["ci_low"] > 1.10 and big["ci_high"] < 1.20
    assert gate(base, base * 0.8)["verdict"] == FASTER


def test_exit_code_and_markdown_say_not_significant():
    rng = np.random.default_rng(4)
    base = rng.normal(1000, 100, 10)
    c = cmpmod.compare(frame(base), frame(rng.normal(1000, 100, 10), run_id="r2"))
    assert cmpmod.exit_code(c) == 0
    assert "not significant" in render_markdown(c)
    c = cmpmod.compare(frame(base), frame(base * 1.5, run_id="r2"))
    assert cmpmod.exit_code(c) == 1
    assert "**slower** (regression)" in render_markdown(c)


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


def test_cells_only_on_one_side_are_listed():
    base = frame_from_docs([("x", make_doc([1, 2, 3])), ("y", make_doc([1, 2, 3], variant="dynamic", run_id="r3"))])
    c = cmpmod.compare(base, frame([1, 2, 3], run_id="r2"))
    assert len(c.rows) == 1
    assert c.only_baseline == ["pixel7 preset:gpt2_base_en dynamic oneshot L64 cw50 t4"]
    assert "Only in baseline" in render_markdown(c)


def _write(results, doc):
    (results / f"{doc['run_id']}.json").write_text(json.dumps(doc))


def test_baseline_save_and_compare_main(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    base_walls = rng.normal(1000, 10, 12)
    _write(tmp_path, make_doc(base_walls[:6], run_id="run-a"))
    _write(tmp_path, make_doc(base_walls[6:], run_id="run-b"))
    _write(tmp_path, make_doc(base_walls * 1.2, run_id="run-c", sha="c" * 64))
    rd = ["--results-dir", str(tmp_path)]
    assert cli.main(["baseline", "save", "v1", "run-a", "run-b", *rd]) == 0
    saved = json.loads((tmp_path / "baselines" / "v1.json").read_text())
    assert saved["schema_version"] == results.SCHEMA_VERSION == 3 and saved["baseline"]["runs"] == ["run-a", "run-b"]
    assert [b["block_id"] for b in saved["blocks"]] == ["run-a/pixel7/fp32", "run-b/pixel7/fp32"]
    df = load_frame(["v1"], tmp_path)                   # a baseline name resolves to the file
    assert (df["phase"] == "measured").sum() == 12 and (df["phase"] == "warmup").sum() == 2
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md = tmp_path / "cmp.md"
    assert cli.main(["compare", "v1", "run-c", "--markdown", str(md), *rd]) == 1
    assert "slower" in md.read_text()
    assert summary.read_text().startswith("# earlier step\n### Benchmark comparison: 1 regression")
    assert cli.main(["compare", "v1", "run-a", *rd]) == 0


def test_bad_baseline_name_and_missing_run(tmp_path, capsys):
    rd = ["--results-dir", str(tmp_path)]
    assert cli.main(["baseline", "save", "../x", "r", *rd]) == 1
    assert "invalid baseline name" in capsys.readouterr().err
    assert cli.main(["compare", "nope", "nope2", *rd]) == 2
    assert "no such result file" in capsys.readouterr().err
