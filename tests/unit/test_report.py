"""Reports from the golden result files: every format against its expected output, every warning."""
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from harness import cli, reporters
from harness.analysis import summary as rep
from harness.errors import UserError
from harness.reporters.html_page import render_html
from harness.reporters.markdown import render_markdown
from harness.reporters import svg
from harness.reporters.plots import figures
from harness.reporters.table import fmt_num
from harness.reporters.terminal import render_terminal
from harness.reporters.table import table_rows
from harness.results import schema as results
from harness.results.frame import load_frame

GOLDEN = Path(__file__).parent / "golden"
RESULTS = GOLDEN / "results"
EXPECTED = GOLDEN / "expected"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"   # UPDATE_GOLDEN=1 pytest tests/unit/test_report.py rewrites them


@pytest.fixture(scope="module")
def df():
    return load_frame([str(RESULTS)])


@pytest.fixture(scope="module")
def report(df):
    return rep.build_report(df)


def test_golden_inputs_match_their_generator():
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for run_id, doc in mod.build().items():
        assert json.loads((RESULTS / f"{run_id}.json").read_text()) == doc


@pytest.mark.parametrize("fmt,name", [("markdown", "report.md"), ("csv", "report.csv"), ("json", "report.json")])
def test_format_matches_golden(report, df, fmt, name):
    text = reporters.render(report, df, fmt)
    path = EXPECTED / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_frame_is_tidy_with_warmups_apart(df):
    measured = df[df.phase == "measured"]
    assert len(measured) == 6 * 6 + 2 * 3
    assert (df.phase == "warmup").sum() == 8
    failed = df[df.block_status == "error"]
    assert len(failed) == 1 and failed.phase.isna().all()
    assert set(df.columns) >= {"device_fingerprint", "emulated", "synthetic", "model_sha256", "int8_share",
                               "prefill_ms", "decode_tokens_per_s", "drift_token_agreement", "threads"}


def test_cell_figures(report):
    c = report.cells.set_index(["device_alias", "variant", "max_length"])
    fp32, dyn = c.loc[("pixel7", "fp32", 64)], c.loc[("pixel7", "dynamic", 64)]
    assert fp32["n"] == 6 and fp32["n_warmup"] == 1
    assert fp32["first_ms"] == pytest.approx(1312.0)          # the warmup, not a measured sample
    # speedup: fp32 time / this time, Hodges-Lehmann on times matched prompt by prompt, with its interval
    assert dyn["speedup"] == pytest.approx(fp32["median_ms"] / dyn["median_ms"], rel=0.02)
    assert dyn["speedup_low"] < dyn["speedup"] < dyn["speedup_high"] and dyn["speedup_low"] > 1
    assert fp32["speedup"] == 1.0
    assert dyn["size_ratio"] == pytest.approx(131_203_072 / 497_759_232)
    emu = c.loc[("emu", "fp32", 64)]
    assert emu["prefill_ms"] > 0 and emu["decode_tokens_per_s"] > 0


EXPECTED_WARNINGS = {
    "failed": "emu synthetic:tiny fp16",
    "few_samples": "emu synthetic:tiny fp32",
    "high_cv": "pixel7 preset:gpt2_base_en dynamic oneshot L128",
    "throttled": "pixel7 preset:gpt2_base_en fp16 oneshot L128",
    "not_quantized": "pixel7 preset:gpt2_base_en fp16 oneshot L64",
    "stopped_early": "pixel7 preset:gpt2_base_en dynamic oneshot L64",
}


def test_every_warning_is_flagged(report):
    kinds = {(f.kind, f.cell.split(" cw")[0]) for f in report.findings}
    for kind, cell in EXPECTED_WARNINGS.items():
        assert any(k == kind and c.startswith(cell) for k, c in kinds), kind
    # no false warnings: the clean fp32 phone cell carries no marker
    clean = report.cells[(report.cells.device_alias == "pixel7") & (report.cells.variant == "fp32")]
    assert (clean.notes == "").all()
    assert any("EMULATED DEVICE" in b for b in report.banners)
    assert any("SYNTHETIC MODEL" in b for b in report.banners)
    emu_rows = report.cells[report.cells.device_alias == "emu"]
    assert emu_rows.notes.str.contains("EMULATED").all() and emu_rows.notes.str.contains("SYNTHETIC").all()


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "csv", "json", "html"])
def test_every_format_carries_markers_and_warnings(report, df, fmt):
    text = reporters.render(report, df, fmt)
    for marker in ["EMULATED", "SYNTHETIC", "FAILED", "few samples", "high CV", "throttled",
                   "not quantized", "stopped early"]:
        assert marker in text, (fmt, marker)
    if fmt != "csv":
        assert "Flex delegate not linked" in text


def test_thermal_headroom_alone_flags_throttling(df):
    """A phone can throttle on its headroom forecast before its status moves: headroom >= 1.0
    (the severe threshold) marks the sample even at thermal status 0."""
    cool = df.copy()
    cool[["thermal_status_before", "thermal_status_after"]] = 0
    for col in ("thermal_headroom_before", "thermal_headroom_after"):
        cool.loc[cool[col].notna(), col] = 0.35
    assert not any(f.kind == "throttled" for f in rep.build_report(cool).findings)
    hot = cool.copy()
    cell = (hot.device_alias == "pixel7") & (hot.variant == "dynamic") & (hot.max_length == 64)
    hot.loc[cell & (hot["index"] == 1), "thermal_headroom_after"] = 1.02
    (finding,) = [f for f in rep.build_report(hot).findings if f.kind == "throttled"]
    assert finding.cell.startswith("pixel7 preset:gpt2_base_en dynamic oneshot L64")
    assert "1 of 6" in finding.message and "max thermal headroom 1.02" in finding.message
    c = rep.build_report(hot).cells.set_index(["device_alias", "variant", "max_length"])
    assert c.loc[("pixel7", "dynamic", 64), "max_thermal_headroom"] == pytest.approx(1.02)
    assert c.loc[("emu", "fp32", 64), "max_thermal_headroom"] != c.loc[("emu", "fp32", 64), "max_thermal_headroom"]  # NaN


def test_thresholds_are_parameters(df):
    strict = rep.build_report(df, cv_threshold=0.001, min_samples=7)
    assert sum(f.kind == "high_cv" for f in strict.findings) > 1
    assert sum(f.kind == "few_samples" for f in strict.findings) == 8


def test_markdown_states_constant_columns_once(report):
    md = render_markdown(report)
    assert "- ctx words: 50" in md
    header = next(line for line in md.splitlines() if line.startswith("| device"))
    assert "ctx words" not in header and "| median ms |" in header and "| n |" not in header
    wide = reporters.render(report, None, "markdown", wide=True)
    assert "| n |" in next(line for line in wide.splitlines() if line.startswith("| device"))


def test_notes_do_not_repeat_the_banners(report):
    md = render_markdown(report)
    rows = [line for line in md.splitlines() if line.startswith("| emu")]
    assert rows and not any("EMULATED" in r or "SYNTHETIC" in r for r in rows)
    assert "EMULATED DEVICE" in md                       # said once, in the banner


def test_figures_have_sensible_precision():
    assert fmt_num(12373.76) == "12,374" and fmt_num(87.64) == "87.6" and fmt_num(4.251) == "4.25"
    assert fmt_num(0.6128) == "0.613" and fmt_num(float("nan")) == "—"


def test_csv_rows_say_where_they_come_from(report):
    import csv
    rows = list(csv.DictReader(io.StringIO(reporters.render(report, None, "csv"))))
    assert {"run_ids", "started_at", "harness_commit"} <= set(rows[0])
    phone = [r for r in rows if r["device_alias"] == "pixel7"]
    assert phone[0]["run_ids"] == "20261125T144500Z-phone1"
    assert phone[0]["harness_commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert phone[0]["started_at"].startswith("2026-11-25T14:45")


def _four_variants():
    """A demo-like run: one emulated device, four variants, one noisy and one short cell."""
    from harness.results.frame import frame_from_docs

    rng = np.random.default_rng(1)
    blocks = []
    for v, ms, n, noise in (("fp32", 30.1, 10, 0.02), ("dynamic", 16.3, 10, 0.15), ("fp16", 22.9, 10, 0.02),
                            ("int8", 12.2, 3, 0.02)):
        walls = [ms * (0.6 if i % 3 == 1 else 1.0) * rng.normal(1, noise) for i in range(n)]
        blocks.append({"block_id": v, "status": "ok", "device": {"alias": "emu-pixel7", "emulated": True,
                                                                  "fingerprint": "google/panther"},
                       "model": {"source": "synthetic:tiny", "synthetic": True, "variant": v, "export": "oneshot",
                                 "max_length": 100, "size_bytes": {"fp32": 970_000, "dynamic": 662_000,
                                                                   "fp16": 606_000, "int8": 410_000}[v]},
                       "params": {"context_window_words": 50, "threads_used": 1}, "memory": {"vmhwm_kb": 665_000},
                       "samples": [{"phase": "measured", "index": i, "prompt_index": i % 3, "wall_ms": w,
                                    "tokens_generated": 44 if i % 3 == 1 else 93} for i, w in enumerate(walls)]})
    doc = {"schema_version": 2, "run_id": "20261201T010123Z-a8eff8", "status": "complete", "blocks": blocks}
    df = frame_from_docs([("x", doc)])
    return rep.build_report(df), df


@pytest.mark.parametrize("width", [80, 100, 120])
def test_default_table_fits_the_terminal_and_never_cuts_a_figure(width):
    report, _ = _four_variants()
    buf = io.StringIO()
    render_terminal(report, Console(file=buf, width=width, color_system=None))
    out = buf.getvalue()
    header, rows, _ = table_rows(report)
    table = out[out.index(header[0]):out.index("[few samples]")]
    assert max(len(line) for line in table.splitlines()) <= min(width, 100)
    for row in rows:                                      # every figure whole, on one line
        for value in row[:-1]:
            assert value in table, (width, value)
    assert "…" not in table


def test_wide_table_has_every_column():
    report, _ = _four_variants()
    header, _, _ = table_rows(report, wide=True)
    for label in ("n", "load ms", "p90 ms", "MAD ms", "CV", "speedup 95 % CI", "peak MiB", "runs"):
        assert label in header or label == "load ms", label


def test_sweep_with_the_default_context_window_is_one_line_per_variant():
    """The context window defaults to half the max length: L50 has cw25 and L100 cw50, and the
    max-length plot must still draw one line per variant (it used to group by context window)."""
    from harness.results.frame import frame_from_docs

    blocks = [{"block_id": f"{v}{L}", "status": "ok", "device": {"alias": "host"},
               "model": {"source": "synthetic:tiny", "variant": v, "export": "oneshot", "max_length": L},
               "params": {"context_window_words": L // 2, "threads_used": 1},
               "samples": [{"phase": "measured", "index": i, "prompt_index": 0, "wall_ms": L * f * (1 + i / 100)}
                           for i in range(6)]}
              for v, f in (("fp32", 1.0), ("dynamic", 0.6)) for L in (50, 100)]
    df = frame_from_docs([("x", {"schema_version": 2, "run_id": "sweep", "status": "complete", "blocks": blocks})])
    report = rep.build_report(df)
    (sweep,) = [f for f in figures(report, report.samples) if f.key == "sweep-length"]
    assert sweep.svg.count("<polyline") == 2 and "fp32 (cw varies with it)" in sweep.svg
    assert not [f for f in figures(report, report.samples) if f.key == "sweep-context"]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.srcs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.srcs += [v for k, v in attrs if k in ("src", "href")]


def test_html_is_self_contained_with_plots(report, df):
    page = render_html(report, df)
    parser = _Collector()
    parser.feed(page)
    # speedup forest, latency per variant, max-length sweep, first token/decode, size
    assert parser.tags.count("svg") == 5
    assert "script" not in parser.tags and all(src.startswith("#") for src in parser.srcs)   # nothing fetched
    for anchor in ('id="speedup"', 'id="latency"', 'id="sweep-length"', 'id="first-token"', 'id="size"'):
        assert anchor in page
    assert "WARNING: EMULATED DEVICE" in page and "<title>harness benchmark report — 2 runs pooled" in page
    speedup = page[page.index('id="speedup"'):page.index('id="latency"')]
    assert "Warnings for these cells" in speedup and "high CV" in speedup and "±5 % (min effect)" in speedup
    assert speedup.count("★") >= 2                       # dynamic is clearly faster than fp32


def test_svg_ticks_and_log_axes():
    assert svg.linear_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert svg.log_ticks(0.5, 170) == [0.5, 1, 2, 5, 10, 20, 50, 100]
    assert svg.log_ticks(0.91, 1.74) == [1.0, 1.25, 1.5]       # less than a decade: round linear steps


def test_empty_directory_and_unknown_format(tmp_path, capsys):
    assert cli.main(["report", "--results-dir", str(tmp_path)]) == 1
    assert "no runs yet" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:                  # a usage error: argparse's exit 2
        cli.main(["report", str(RESULTS), "--format", "pdf"])
    assert e.value.code == 2 and "invalid choice: 'pdf'" in capsys.readouterr().err
    with pytest.raises(UserError, match="unknown report format"):
        reporters.render(rep.build_report(load_frame([str(RESULTS)])), None, "pdf")


def test_main_writes_output(tmp_path):
    out = tmp_path / "r.md"
    assert cli.main(["report", str(RESULTS), "--format", "markdown", "-o", str(out),
                     "--results-dir", str(tmp_path)]) == 0
    assert out.read_text() == (EXPECTED / "report.md").read_text()


def test_newer_schema_refused_in_one_line(tmp_path):
    doc = json.loads((RESULTS / "20261125T150000Z-emu001.json").read_text())
    doc["schema_version"] = 99
    (tmp_path / "new.json").write_text(json.dumps(doc))
    with pytest.raises(UserError) as e:
        load_frame([str(tmp_path / "new.json")])
    assert "newer than this harness reads" in str(e.value) and "\n" not in str(e.value)


def _as_v1(name: str, tmp_path) -> str:
    """A golden file as schema v1 wrote it: version 1, without the fields v2 added."""
    doc = json.loads((RESULTS / name).read_text())
    doc["schema_version"] = 1
    for b in doc["blocks"]:
        b["memory"].pop("rss_before_load_kb", None)
        for s in b["samples"]:
            s.pop("thermal_headroom_before", None)
            s.pop("thermal_headroom_after", None)
    path = tmp_path / f"v1-{name}"
    path.write_text(json.dumps(doc))
    return str(path)


def test_v1_file_loads_without_the_v2_fields(tmp_path):
    df = load_frame([_as_v1("20261125T144500Z-phone1.json", tmp_path)])
    assert len(df) and df["thermal_headroom_before"].isna().all() and df["rss_before_load_kb"].isna().all()
    cells = rep.build_report(df).cells
    assert cells["max_thermal_headroom"].isna().all() and cells["median_ms"].notna().all()


def test_old_schema_is_migrated_on_load(tmp_path, monkeypatch):
    """Pretend the harness reads one version more, whose step renames a field: a v1 file goes
    through every real step, then the pretended one."""
    def rename(doc):
        for b in doc["blocks"]:
            b["model"]["source"] = b["model"]["source"].replace("preset:", "keras-hub:")
        return doc

    current = results.SCHEMA_VERSION
    monkeypatch.setattr(results, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(results.MIGRATIONS, current, rename)
    df = load_frame([_as_v1("20261125T144500Z-phone1.json", tmp_path)], tmp_path)
    assert set(df.model_source) == {"keras-hub:gpt2_base_en"}


def test_v2_file_gains_the_contract_v2_fields_as_unknown():
    """v2 -> v3: the fields app contract v2 added are present, and null (not measured then)."""
    from harness.results.store import load

    doc = load(RESULTS / "20261125T144500Z-phone1.json")
    assert doc.schema_version == results.SCHEMA_VERSION == 3
    for b in doc.blocks:
        assert b.load_kind is None and b.cold_load_ms is None and b.params["cpu_count"] is None
        for s in b.samples:
            assert all(s[k] is None for k in results.V3_SAMPLE_FIELDS)


def test_terminal_renders_to_console(report):
    buf = io.StringIO()
    render_terminal(report, Console(file=buf, width=250, color_system=None))
    out = buf.getvalue()
    assert "WARNING: EMULATED DEVICE" in out and re.search(r"pixel7 .*fp32", out)


def test_headroom_counts_real_readings_and_a_dark_screen_is_flagged(df):
    """A reused headroom reading (age > 0) is not a second reading; a sample taken with the
    screen off or locked (interactive false) is flagged."""
    d = df[df["device_alias"] == "pixel7"].copy()
    m = d["phase"] == "measured"
    d.loc[m, "thermal_headroom_before"] = 1.2          # over the severe threshold, but ...
    d.loc[m, "thermal_headroom_before_age_ms"] = 450.0  # ... a reused reading
    d.loc[m, "thermal_headroom_after"] = 0.3
    d.loc[m, "thermal_headroom_after_age_ms"] = 0.0
    d.loc[m, "thermal_status_before"] = d.loc[m, "thermal_status_after"] = 0
    assert not any(f.kind == "throttled" for f in rep.build_report(d).findings)
    d.loc[m, "thermal_headroom_before_age_ms"] = 0.0    # now it was read then: it counts
    assert any(f.kind == "throttled" for f in rep.build_report(d).findings)
    first = d.index[m][0]
    d.loc[first, "interactive_after"] = 0.0
    (dark,) = [f for f in rep.build_report(d).findings if f.kind == "not_interactive"]
    assert dark.message.startswith("1 of ") and "screen was off" in dark.message
