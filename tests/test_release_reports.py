"""A real run's release reports: a planted regression in the baseline fails the run and is reported in
every format; parity.html renders in Chromium with its plots; JUnit XML parses."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import run_cli
from harness.cli import EXIT_FAIL, EXIT_PASS

# Its module fixtures are built once: the module runs on one xdist worker (`make test` uses --dist loadgroup).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("release_reports")]
SCREENSHOT = Path(__file__).resolve().parent.parent / "test-results" / "parity-html.png"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """mlp on cpu and wasm with predict and fit: every plot has data. Saves a baseline."""
    out = tmp_path_factory.mktemp("first")
    argv = ["run", "--models", "mlp", "--backends", "cpu,wasm", "--checks", "topology,predict,fit",
            "--out", str(out), "--save-baseline", str(out / "baseline.json"), "--junit", str(out / "junit.xml")]
    assert run_cli(argv) == EXIT_PASS
    return out


def rerun(tmp_path, baseline, *options):
    """The first run again against ``baseline``. Timings of a loaded test machine are noise (two runs moved
    a 2-thread wasm predict median from 0.5 to 6.9 ms, a cpu one past +100%), so latency is not judged
    here (test_baseline judges it); statuses and errors are."""
    code = run_cli(["run", "--latency-floor-ms", "1e9", "--models", "mlp", "--backends", "cpu,wasm",
                    "--checks", "topology,predict,fit", "--out", str(tmp_path), "--baseline", str(baseline),
                    "--junit", str(tmp_path / "junit.xml"), *options])
    return code, json.loads((tmp_path / "parity.json").read_text())


def test_the_same_run_against_its_own_baseline_has_no_regressions(first_run, tmp_path):
    code, report = rerun(tmp_path, first_run / "baseline.json")
    assert code == EXIT_PASS, report["baseline"]["regressions"]
    assert report["baseline"]["regressions"] == [] and report["baseline"]["added"] == []


def test_a_planted_regression_fails_the_run_and_is_reported_everywhere(first_run, tmp_path, capsys):
    baseline = json.loads((first_run / "baseline.json").read_text())
    planted = next(r for r in baseline["results"] if r["check"] == "predict" and r["backend"] == "wasm")
    planted["max_abs_err"] /= 100  # the baseline had a 100x smaller error than this run will show
    (tmp_path / "planted.json").write_text(json.dumps(baseline))

    code, report = rerun(tmp_path, tmp_path / "planted.json", "--error-floor", "0")
    assert code == EXIT_FAIL
    regressions = report["baseline"]["regressions"]
    assert [(c["model"], c["backend"], c["check"], c["kind"]) for c in regressions] == [
        ("mlp", "wasm", "predict", "error")]
    assert "(100x, limit 2x)" in regressions[0]["summary"]
    assert "Regressions against the baseline" in capsys.readouterr().out
    markdown = (tmp_path / "parity.md").read_text()
    assert "## Regressions against the baseline" in markdown and "### Regressions (1)" in markdown
    assert "Regressions (1)" in (tmp_path / "parity.html").read_text()
    suites = {s.get("name"): s for s in ET.parse(tmp_path / "junit.xml").getroot()}
    assert suites["tfjs-parity.regressions"].get("failures") == "1"


def test_junit_has_a_suite_per_backend_and_a_case_per_check(first_run):
    root = ET.parse(first_run / "junit.xml").getroot()
    suites = {s.get("name"): [c.get("name") for c in s] for s in root}
    assert suites == {"tfjs-parity.cpu": ["topology", "predict", "fit"],
                      "tfjs-parity.wasm": ["topology", "predict", "fit"]}


def test_parity_html_renders_in_chromium_with_its_plots(first_run, parity_session):
    html = first_run / "parity.html"
    assert "http://" not in html.read_text().replace("http://www.w3.org/2000/svg", "")  # nothing to fetch
    context = parity_session.browser().new_context()
    try:
        page = context.new_page()
        errors, requests = [], []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(html.as_uri(), wait_until="load")
        images = page.evaluate("() => [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        heatmap = page.evaluate("() => document.querySelectorAll('#heatmap td.cell.pass').length")
        failures = page.evaluate("() => document.querySelectorAll('.failure').length")
        sections = page.evaluate("() => [...document.querySelectorAll('details')].map(d => [d.open, d.innerText])")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        context.close()
    assert errors == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    # training loss difference (mlp fit), error distribution, latency: each decoded to its full size
    assert images == [[True, 640, 300]] * 3
    assert heatmap == 6  # mlp x (topology, predict, fit) x (cpu, wasm), all passing
    assert failures == 0 and len(sections) == 1 and not sections[0][0] and sections[0][1].startswith("mlp (6 rows)")
    assert SCREENSHOT.stat().st_size > 10_000
