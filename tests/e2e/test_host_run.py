"""`harness run --device host` end to end on synthetic:tiny, and one-line user errors."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.results import schema as results
from helpers import TINY_MAX_LENGTH, load_result

HARNESS = [sys.executable, "-m", "harness.cli"]


def _run(args, results_dir):
    return cli.main(["run", "--device", "host", "--model", "synthetic:tiny",
                     "--max-length", str(TINY_MAX_LENGTH), "--context-window", "3",
                     "--results-dir", str(results_dir), *args])


def _only_run(results_dir: Path) -> dict:
    files = list(results_dir.glob("*.json"))
    assert len(files) == 1, files
    return load_result(files[0])


def test_host_run_writes_raw_samples_and_prints_the_latency_table(tiny_models, tmp_path, capsys):
    status = _run(["--variants", "fp32,dynamic", "--runs", "3", "--warmup", "2"], tmp_path)
    assert status == 0
    out = capsys.readouterr().out
    for word in ("fp32", "dynamic", "speedup", "SYNTHETIC"):
        assert word.lower() in out.lower(), word
    doc = _only_run(tmp_path)
    assert doc["status"] == "complete" and doc["schema_version"] == results.SCHEMA_VERSION
    assert doc["plan"]["variants"] == ["fp32", "dynamic"]
    assert doc["host"]["tensorflow"] == "2.18.1"
    assert {b["model"]["variant"] for b in doc["blocks"]} == {"fp32", "dynamic"}
    for b in doc["blocks"]:
        assert b["status"] == "ok", b["error"]
        assert b["device"]["kind"] == "host" and b["device"]["emulated"] is False
        assert b["model"]["synthetic"] is True
        assert b["model"]["sha256"] == tiny_models[b["model"]["variant"]].sha256
        phases = [s["phase"] for s in b["samples"]]
        assert phases == ["warmup"] * 2 + ["measured"] * 3
        assert b["load_ms"] > 0 and b["memory"]["vmhwm_kb"] > 0
        # Python + TensorFlow are resident before the load; the model adds to the peak.
        assert 100_000 < b["memory"]["rss_before_load_kb"] < b["memory"]["vmhwm_kb"]
        for s in b["samples"]:
            assert 0 < s["wall_ms"] < 60_000
            assert s["token_count"] == TINY_MAX_LENGTH
            assert s["tokens_generated"] == s["token_count"] - s["prompt_token_count"] > 0
            assert s["stopped_early"] is False and s["prompt_filled_output"] is False
            assert len(s["prompt_used"].split()) <= 3      # the context window, in words
            assert s["prompt_used"] in s["output_text"]   # generation continues the prompt


def test_second_run_converts_nothing(tiny_models, tmp_path, capsys):
    before = {v: c.path.stat().st_mtime_ns for v, c in tiny_models.items()}
    assert _run(["--variants", "fp16", "--runs", "1", "--warmup", "0", "--no-report"], tmp_path) == 0
    err = capsys.readouterr().err
    assert "converting" not in err and "exporting" not in err
    assert err.count("cached") == 1
    assert {v: c.path.stat().st_mtime_ns for v, c in tiny_models.items()} == before


@pytest.mark.parametrize("argv,message", [
    (["run", "--device", "host", "--variants", "fp8"], "unknown variant 'fp8'"),
    (["run", "--device", "host", "--model", "nonsense"], "unknown model"),
    (["run", "--device", "host", "--prompts", "/no/such/prompts.txt"], "no such file"),
    (["convert", "--variants", ""], "--variants"),
])
def test_user_errors_are_one_line_and_exit_1(argv, message, tmp_path, capsys):
    assert cli.main(argv + (["--results-dir", str(tmp_path)] if argv[0] == "run" else [])) == 1
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("harness: ") and message in lines[0], lines
    assert not list(tmp_path.glob("*.json")), "a failed command must not leave a result file"


@pytest.mark.parametrize("argv,message", [
    (["run", "--runs", "many"], "argument --runs: takes a whole number, got 'many'"),
    (["run", "--runs", "-2"], "argument --runs: must be at least 1, got -2"),
    (["run", "--warmup", "-1"], "argument --warmup: must be at least 0"),
    (["run", "--max-length", "abc"], "argument --max-length: takes whole numbers"),
    (["run", "--context-window", "0"], "at least 1 word"),
    (["nonsense-command"], "invalid choice"),
    (["run", "--delegate", "gpu"], "argument --delegate: takes cpu, cpu-builtin (comma-separated), got 'gpu'"),
])
def test_usage_errors_exit_2_with_the_usage_line(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("usage: harness") and message in err


def test_a_user_error_from_the_shell_is_one_line_without_traceback(tmp_path):
    """The same through a real process: what a user's terminal or CI log shows."""
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(HARNESS + ["run", "--device", "host", "--model", "nonsense", "--results-dir", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "unknown model" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_prompts_file_and_jsonl(tmp_path):
    from harness.model import prompts

    (tmp_path / "p.txt").write_text("one two\n\n  three  \n", encoding="utf-8")
    assert prompts.load(str(tmp_path / "p.txt"))[1] == ["one two", "  three  "]
    (tmp_path / "p.jsonl").write_text('"a; $(x)"\n{"prompt": "b\\nc"}\n', encoding="utf-8")
    assert prompts.load(str(tmp_path / "p.jsonl"))[1] == ["a; $(x)", "b\nc"]
    (tmp_path / "bad.jsonl").write_text("[1]\n", encoding="utf-8")
    with pytest.raises(Exception, match="line 1"):
        prompts.load(str(tmp_path / "bad.jsonl"))


def test_a_cpu_builtin_cell_is_run_as_asked(gen_models, tmp_path, capsys):
    """--delegate cpu-builtin reaches the host's app and comes back as the block's delegate (the
    cells, block ids and the tokens against cpu: tests/unit/test_executor.py and
    tests/e2e/test_op_profile.py, which also shows that no XNNPACK operator ran)."""
    status = _run(["--export", "prefill_decode", "--variants", "dynamic", "--delegate", "cpu-builtin",
                   "--runs", "1", "--warmup", "0"], tmp_path)
    assert status == 0
    assert "cpu-builtin" in capsys.readouterr().out                    # the table names the delegate
    doc = _only_run(tmp_path)
    assert doc["plan"]["delegates"] == ["cpu-builtin"]
    (b,) = doc["blocks"]
    assert b["status"] == "ok", b["error"]
    assert b["block_id"] == "host/dynamic/L32/cw3/tdev/cpu-builtin/r0"
    assert b["params"]["delegate_requested"] == b["params"]["delegate_used"] == "cpu-builtin"
