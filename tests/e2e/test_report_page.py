"""The HTML report page in a real browser: headless Chromium (Debian's, installed by
scripts/setup_chromium.sh) loads it with no console message and paints its figures."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness import reporters
from harness.analysis.summary import build_report
from harness.results.frame import load_frame

GOLDEN_RESULTS = Path(__file__).resolve().parents[1] / "unit" / "golden" / "results"
CHROMIUM = shutil.which("chromium")
# Flags that keep Chromium from reaching for the (closed) network or a display.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0"]
FIGURES = ["speedup", "latency", "sweep-length", "first-token", "size"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (bash scripts/setup_chromium.sh)")


def chromium(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    return re.findall(r":CONSOLE[^\]]*\] (.*)", stderr)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    df = load_frame([str(GOLDEN_RESULTS)])
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(reporters.render(build_report(df), df, "html"), encoding="utf-8")
    return path


def test_console_capture_sees_an_error(tmp_path):
    """The check below can fail: a page that logs an error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><script>console.error("boom-42")</script></body></html>')
    r = chromium(tmp_path, bad, "--dump-dom")
    assert any("boom-42" in m for m in console_messages(r.stderr)), r.stderr[-2000:]


def test_report_loads_without_console_messages_and_has_its_figures(page, tmp_path):
    r = chromium(tmp_path, page, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    assert console_messages(r.stderr) == []
    dom = r.stdout
    assert dom.count("<svg") == len(FIGURES)
    for key in FIGURES:
        section = dom[dom.index(f'<section id="{key}"'):]
        assert "<svg" in section.split("</section>")[0], key
    assert "WARNING: EMULATED DEVICE" in dom and "Warnings for these cells" in dom


def test_report_paints_its_plots(page, tmp_path):
    """A screenshot: the page is not blank and the variants' colours (the plots) are painted."""
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    r = chromium(tmp_path, page, "--window-size=1400,5000", f"--screenshot={shot}")
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int)
    not_white = (pixels < 245).any(axis=2).mean()
    assert not_white > 0.03
    for hex_color in ("#1f77b4", "#ff7f0e"):            # fp32 and dynamic in every figure
        rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=2) < 30).sum() > 200, hex_color
