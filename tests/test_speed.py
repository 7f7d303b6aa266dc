"""Which backend to ship: the ``speed`` check's figures, and the per-backend table the report builds from the rows
(JSON, Markdown, HTML with its chart, the terminal's lines)."""

import json

import numpy as np
import pytest

from conftest import run_cli
from harness import cli
from harness.checks.speed import bench_inputs
from harness.report.html import render_html
from harness.report.speed_table import speed_lines, speed_table


def row(model, backend, check, status="pass", **details):
    return {"model": model, "backend": backend, "check": check, "status": status, "message": "", "details": details}


def speed_row(model, backend, median, software=False):
    return row(model, backend, "speed", batch=8, load_ms=10.0, warm_up_ms=median * 2, median_ms=median,
               p90_ms=median * 1.5, calls=20, peak_bytes=3 * 2**20, software_gpu=software)


def test_the_fastest_backend_is_named_with_every_other_ones_ratio():
    rows = [speed_row("m", "cpu", 4.0), speed_row("m", "wasm", 1.0), speed_row("m", "webgl", 2.0, software=True),
            row("m", "webgl", "predict", first_ms=100.0, median_ms=2.0, compile={"ms": 40.0, "programs": 9}),
            speed_row("n", "cpu", 3.0), row("n", "wasm", "speed", status="error")]
    table = {entry["model"]: entry for entry in speed_table(rows)}
    m = table["m"]
    assert m["fastest"] == "wasm" and [e["backend"] for e in m["backends"]] == ["wasm", "webgl", "cpu"]
    assert [e["ratio"] for e in m["backends"]] == [1.0, 2.0, 4.0]
    assert m["backends"][1]["compile_share"] == pytest.approx(0.4)
    assert [e["backend"] for e in table["n"]["backends"]] == ["cpu"]  # an errored row measured nothing
    lines = speed_lines({"speed": speed_table(rows)})
    assert lines[0] == "m: fastest wasm, median 1 ms per call of 8 samples (slower: webgl (software) 2x, cpu 4x)"
    assert "software renderer" in lines[-1]


def test_bench_inputs_repeat_the_reference_samples_to_the_batch():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert bench_inputs([x], None)[0] is x
    wide = bench_inputs([x], 7)[0]
    assert wide.shape == (7, 2) and wide.dtype == np.float32
    assert np.array_equal(wide[3:6], x) and np.array_equal(wide[6], x[0])


@pytest.mark.browser
def test_the_zoo_report_tabulates_speed_per_backend_in_every_rendering(tmp_path, capsys):
    status = run_cli(["run", "--models", "mlp", "--checks", "predict,speed", "--backends", "cpu,webgl,wasm",
                      "--bench-batch", "40", "--out", str(tmp_path)])
    output = capsys.readouterr().out
    assert status == cli.EXIT_PASS, output
    report = json.loads((tmp_path / "parity.json").read_text())
    (mlp,) = report["speed"]
    figures = {e["backend"]: e for e in mlp["backends"]}
    assert set(figures) == {"cpu", "webgl", "wasm"} and mlp["fastest"] in figures
    for entry in figures.values():
        assert entry["batch"] == 40 and 0 < entry["median_ms"] <= entry["p90_ms"]
        assert entry["peak_bytes"] > 0 and entry["first_ms"] > 0
    assert 0 < figures["webgl"]["compile_share"] < 1 and figures["cpu"]["compile_share"] is None
    assert figures["webgl"]["software_gpu"], "no GPU here: WebGL runs on SwiftShader"
    assert "webgl (software)" in (tmp_path / "parity.md").read_text()
    assert f"{mlp['model']}: fastest" in output
    html = (tmp_path / "parity.html").read_text()
    assert "Speed and memory per backend" in html and 'alt="latency per backend"' in html
    assert "Speed and memory per backend" in render_html(report)
