"""A failed or errored check leaves evidence in the report directory: the page's and workers' console log, a
screenshot and a Playwright trace of that check, linked from parity.json, .md, .html and the terminal; a
passing check leaves none."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from harness import cli

# Its module fixtures are built once: the module runs on one xdist worker (`make test` uses --dist loadgroup).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("evidence")]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A converted model as an app ships it, with Keras' outputs; a copy with one weight changed; a copy whose
    weight file is gone."""
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tensorflowjs
    import tf_keras as keras

    root = tmp_path_factory.mktemp("shipped")
    keras.utils.set_random_seed(12)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(2)])
    tensorflowjs.converters.save_keras_model(model, str(root / "web_model"))
    inputs = np.random.default_rng(2).uniform(0, 1, (5, 4)).astype("float32")
    np.save(root / "inputs.npy", inputs)
    np.save(root / "expected.npy", model.predict(inputs, verbose=0))
    for copy in ("damaged", "no_weights"):
        shutil.copytree(root / "web_model", root / copy)
    [shard] = (root / "damaged").glob("*.bin")
    weights = np.fromfile(shard, dtype="float32")
    weights[0] += 0.05
    weights.tofile(shard)
    for shard in (root / "no_weights").glob("*.bin"):
        shard.unlink()
    return root


def check(shipped, tmp_path, capsys, model):
    status = run_cli(["check", str(shipped / model), "--inputs", str(shipped / "inputs.npy"), "--expected",
                      str(shipped / "expected.npy"), "--checks", "topology,predict", "--backends", "cpu",
                      "--out", str(tmp_path)])
    report = json.loads((tmp_path / "parity.json").read_text())
    return status, capsys.readouterr(), {r["check"]: r for r in report["results"]}


def test_a_failed_check_leaves_its_console_log_screenshot_and_trace(shipped, tmp_path, capsys):
    status, printed, rows = check(shipped, tmp_path, capsys, "damaged")
    assert status == cli.EXIT_FAIL and rows["predict"]["status"] == "fail"
    assert "those files do not give the reference outputs in Keras either" in rows["predict"]["message"]
    evidence = rows["predict"]["details"]["evidence"]
    assert evidence == {"console": "evidence/damaged/cpu/predict/console.log",
                        "screenshot": "evidence/damaged/cpu/predict/screenshot.png",
                        "trace": "evidence/damaged/cpu/predict/trace.zip"}
    assert (tmp_path / evidence["screenshot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    names = zipfile.ZipFile(tmp_path / evidence["trace"]).namelist()
    assert any(name.endswith(".trace") for name in names) and any(name.endswith(".network") for name in names)
    assert "evidence" not in rows["topology"]["details"] and not (tmp_path / "evidence/damaged/cpu/topology").exists()
    assert f"playwright show-trace {tmp_path / evidence['trace']}" in printed.out
    assert "[trace](evidence/damaged/cpu/predict/trace.zip)" in (tmp_path / "parity.md").read_text()
    assert 'href="evidence/damaged/cpu/predict/trace.zip"' in (tmp_path / "parity.html").read_text()


def test_an_errored_checks_console_log_holds_the_pages_own_messages(parity_references, make_damaged_reference,
                                                                    tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from harness.run.session import ParitySession

    broken = make_damaged_reference(parity_references["mlp"], lambda d: (d / "group1-shard1of1.bin").unlink())

    def run():  # a session of its own, on a thread of its own (this one's Playwright may belong to another)
        with ParitySession(60, evidence=tmp_path / "evidence") as session:
            return session.run_check("predict", broken, "cpu"), session.run_check("predict", broken, "cpu")

    with ThreadPoolExecutor(max_workers=1) as pool:
        first, again = pool.submit(run).result()
    assert first.status == again.status == "error"
    console = (tmp_path / first.details["evidence"]["console"]).read_text()
    assert "[page] error: Failed to load resource: the server responded with a status of 404" in console
    assert (tmp_path / first.details["evidence"]["trace"]).stat().st_size > 1000


def test_a_new_run_clears_the_evidence_of_the_last(shipped, tmp_path, capsys):
    check(shipped, tmp_path, capsys, "damaged")
    status, _, rows = check(shipped, tmp_path, capsys, "web_model")
    assert status == cli.EXIT_PASS and not (tmp_path / "evidence").exists()


def test_a_run_leaves_nothing_in_the_temp_directory(tmp_path):
    """Each check's trace chunk is Playwright's temp directory until the chunk ends; the save slots are ours."""
    temp = Path(tempfile.mkdtemp(prefix="tp-"))  # short: Chromium refuses a socket path over 107 characters
    try:
        done = subprocess.run([sys.executable, "-m", "harness", "run", "--models", "mlp", "--backends", "cpu,wasm",
                               "--checks", "predict,save-load[downloads]", "--out", str(tmp_path), "-q"],
                              capture_output=True, text=True, env={**os.environ, "TMPDIR": str(temp)})
        assert done.returncode == 0, done.stderr
        assert sorted(path.name for path in temp.iterdir()) == []
    finally:
        shutil.rmtree(temp)
