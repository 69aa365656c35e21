"""Bad result files are one line for every reader (D5, D12); files are readable by others (D14);
a byte-order mark is not part of a prompt (D16)."""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from harness import cli
from harness.results.runs import latest, list_runs

GOLDEN = Path(__file__).resolve().parent / "golden" / "results"
GOOD = GOLDEN / "20261125T150000Z-emu001.json"


def _bad(kind: str) -> bytes:
    good = json.loads(GOOD.read_text())
    if kind == "binary":
        return bytes(range(256)) * 4
    if kind == "blocks_not_a_list":
        return json.dumps({**good, "blocks": "x"}).encode()
    if kind == "wall_ms_text":
        good["blocks"][0]["samples"][0]["wall_ms"] = "fast"
        return json.dumps(good).encode()
    if kind == "no_plan":
        return json.dumps({"schema_version": 2, "run_id": "r", "status": "interrupted", "blocks": []}).encode()
    if kind == "truncated":
        return GOOD.read_bytes()[:5000]
    return b""


KINDS = ["binary", "blocks_not_a_list", "wall_ms_text", "truncated", "empty"]


@pytest.fixture
def results(tmp_path) -> Path:
    d = tmp_path / "results"
    d.mkdir()
    shutil.copy(GOOD, d / GOOD.name)
    return d


def one_line(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("kind", KINDS)
def test_compare_exits_2_never_1_on_a_bad_file(results, kind, capsys):
    """A CI gate reads exit 1 as a regression: a broken input must never look like one."""
    bad = results / "bad.json"
    bad.write_bytes(_bad(kind))
    for args in ([str(bad), str(results / GOOD.name)], [str(results / GOOD.name), str(bad)]):
        assert cli.main(["compare", *args, "--results-dir", str(results)]) == 2
        assert one_line(capsys).startswith(f"harness: {bad}")


@pytest.mark.parametrize("kind", KINDS)
def test_report_and_baseline_save_are_one_line(results, kind, capsys):
    bad = results / "bad.json"
    bad.write_bytes(_bad(kind))
    assert cli.main(["report", str(bad), "--results-dir", str(results)]) == 1
    assert one_line(capsys).startswith(f"harness: {bad}")
    assert cli.main(["baseline", "save", "b1", str(bad), "--results-dir", str(results)]) == 1
    assert one_line(capsys).startswith(f"harness: {bad}")
    assert not (results / "baselines" / "b1.json").exists()


@pytest.mark.parametrize("kind", [*KINDS, "no_plan"])
def test_resume_of_a_bad_file_is_one_line_and_leaves_it_as_it_was(results, kind, capsys):
    """D12: a document without a plan used to be rewritten (status running) before the crash."""
    bad = results / "20261201T000000Z-badbad.json"
    bad.write_bytes(_bad(kind))
    before = bad.read_bytes()
    assert cli.main(["run", "--resume", bad.stem, "--results-dir", str(results)]) == 1
    assert one_line(capsys).startswith("harness: ")
    assert bad.read_bytes() == before
    assert not list(results.glob(".*.lock"))


def test_runs_lists_a_damaged_file_and_latest_never_picks_it(results, capsys):
    (results / "20991231T000000Z-broken.json").write_bytes(_bad("binary"))
    infos = {i.run_id: i for i in list_runs(results)}
    assert infos["20991231T000000Z-broken"].status == "damaged"
    assert "not UTF-8" in infos["20991231T000000Z-broken"].error
    assert latest(results) == GOOD.stem
    assert cli.main(["runs", "--results-dir", str(results)]) == 0
    assert "damaged" in capsys.readouterr().out


def test_result_and_baseline_files_are_readable_by_the_group_and_ci(results, tmp_path):
    """D14: files were created 0600 (mkstemp), unreadable by a CI uploader running as another user."""
    from harness.results.store import Recorder

    old = os.umask(0o022)
    try:
        rec = Recorder.create(tmp_path / "r", {"devices": ["host"]}, [], ["harness", "run"])
        rec.close()
        assert cli.main(["baseline", "save", "v1", str(results / GOOD.name), "--results-dir", str(results)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(rec.path.stat().st_mode) == 0o644
    assert stat.S_IMODE((results / "baselines" / "v1.json").stat().st_mode) == 0o644


def test_a_byte_order_mark_is_not_part_of_the_first_prompt(tmp_path):
    """D16: ``\\ufeff`` stayed in prompt 0, in the model input and in the prompts sha256."""
    from harness.model import prompts

    with_bom, without = tmp_path / "bom.txt", tmp_path / "plain.txt"
    with_bom.write_bytes("\ufeffHello there\nSecond prompt\n".encode("utf-8"))
    without.write_text("Hello there\nSecond prompt\n", encoding="utf-8")
    _, a = prompts.load(str(with_bom))
    _, b = prompts.load(str(without))
    assert a == b == ["Hello there", "Second prompt"]
    assert prompts.prompts_sha256(a) == prompts.prompts_sha256(b)
