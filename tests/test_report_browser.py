"""The HTML report in a real headless browser (Debian's chromium): a single run, a lot folder and a
run with telemetry each load with no console or resource errors, every image decodes (the telemetry
panel and every unit's figures included), and a screenshot is not blank.

Skips, saying why, when chromium is not installed (`apt-get install chromium`)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib import image as mpimg
from report_fixtures import accelerator_run, cpu_lot_run, cpu_run, with_telemetry, write

from bench.present import report

BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH: apt-get install chromium to run the browser test")

# Injected into a copy of the page (the report itself has no scripts): records script and resource
# errors from the first moment, then on load writes the result into the title for --dump-dom.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(e.message || ('resource ' + (e.target && e.target.src || '?'))), true);
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const figures = Array.from(document.querySelectorAll('figure[id] img')).filter(i => i.naturalWidth > 0)
    .map(i => i.parentElement.id).join(',');
  const units = Array.from(document.querySelectorAll('section.unit')).map(s => s.id + ':' +
    Array.from(s.querySelectorAll('img')).filter(i => i.naturalWidth > 0).length).join(',');
  document.title = 'PROBE images=' + ok + '/' + imgs.length + ' errors=' + window.__errors.length +
    ' figures=' + figures + ' units=' + units + ' ' + window.__errors.join(';');
});
</script>"""


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=90)


RUNS = {"single": cpu_run, "lot": cpu_lot_run, "telemetry": lambda: with_telemetry(accelerator_run(), 500)}


@pytest.fixture(scope="module", params=sorted(RUNS))
def page(request, tmp_path_factory):
    folder = write(tmp_path_factory.mktemp(request.param) / "run", RUNS[request.param]())
    return request.param, report.write_report(folder, "html")[0]


def _probe(page, tmp_path) -> str:
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    result = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probed.as_uri())
    title = re.search(r"<title>(PROBE[^<]*)</title>", result.stdout)
    assert title, f"probe did not run; chromium said: {result.stderr[-2000:]}"
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    return title.group(1)


def test_page_loads_without_errors_and_every_image_renders(page, tmp_path):
    kind, path = page
    title = _probe(path, tmp_path)
    images = len(re.findall(r"<img ", path.read_text()))
    assert title.startswith(f"PROBE images={images}/{images} errors=0"), title
    assert images >= 5
    figures = re.search(r"figures=(\S*)", title).group(1).split(",")
    if kind == "telemetry":
        assert "fig-telemetry" in figures and "fig-distributions" in figures
    if kind == "lot":
        units = dict(u.split(":") for u in re.search(r"units=(\S*)", title).group(1).split(","))
        assert set(units) == {"unit-unit-a", "unit-unit-b"} and all(int(n) >= 5 for n in units.values())


def test_screenshot_is_not_blank(page, tmp_path):
    _, path = page
    shot = tmp_path / "shot.png"
    result = _chromium(tmp_path, "--window-size=1100,2400", f"--screenshot={shot}", path.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1000
    not_background = np.abs(pixels - pixels[5, 5]).sum(axis=2) > 0.1
    assert not_background.mean() > 0.05, "screenshot is (almost) one colour: blank or broken page"
    assert pixels.std() > 0.05
    # the figures are colourful: a broken image or a text-only page has almost no saturated pixels
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 0.3).mean() > 0.002
