"""WebKit as a third engine (``--browsers webkit``, ids like ``webkit:webgl``): WebKitGTK's MiniBrowser driven over
WebDriver (Selenium, ``WebKitWebDriver``) behind the same page interface, headed under the harness's own Xvfb."""

import json

import pytest

from conftest import predict_with_a_perturbed_weight, run_cli
from harness import cli
from harness.verdict.known_issues import cannot_run
from harness.verdict.tolerances import PREDICT_TOLERANCES, TRAINING_TOLERANCES, predict_tolerance, training_tolerance


def test_webkit_has_tolerances_of_its_own():
    for backend in ("cpu", "webgl", "wasm"):
        assert predict_tolerance(f"webkit:{backend}") is PREDICT_TOLERANCES[f"webkit:{backend}"]
        assert training_tolerance(f"webkit:{backend}") is TRAINING_TOLERANCES[f"webkit:{backend}"]
    assert predict_tolerance("webkit:wasm:1thread") is PREDICT_TOLERANCES["webkit:wasm"]


def test_no_webgl_in_a_worker_is_a_named_limitation():
    found = cannot_run("trainInWorker on webkit:webgl failed: Error: in the worker: Error: "
                       "tf.setBackend('webgl') failed: backend could not be initialised")
    assert found and found[0].id == "webkit-worker-no-webgl" and "gives a Web Worker no WebGL context" in found[1]


@pytest.mark.browser
def test_the_default_checks_of_a_model_pass_on_webkit(tmp_path, capsys):
    status = run_cli(["run", "--models", "mlp", "--browsers", "webkit", "--backends", "cpu,webgl,wasm,wasm:1thread",
                      "--out", str(tmp_path)])
    output = capsys.readouterr()
    assert status == cli.EXIT_PASS, output.out + output.err
    report = json.loads((tmp_path / "parity.json").read_text())
    rows = report["results"]
    ran = {(r["check"], r["backend"]): r["status"] for r in rows}
    assert {r["status"] for r in rows} == {"pass", "skip", "xfail"}
    # tfjs cannot train in a worker on WebKitGTK's WebGL: the zoo's accepted list makes that fail an xfail.
    assert ran[("fit-worker", "webkit:webgl")] == "xfail"
    assert "[webkit-worker-no-webgl]" in next(r["message"] for r in rows if r["check"] == "fit-worker"
                                              and r["backend"] == "webkit:webgl")
    # Threaded WASM is out of scope on WebKitGTK; the 1-thread variant runs every check but the two needing downloads.
    assert {status for (check, backend), status in ran.items() if backend == "webkit:wasm"} == {"skip"}
    skipped = {(check, backend) for (check, backend), status in ran.items()
               if status == "skip" and backend != "webkit:wasm"}
    assert skipped == {(check, backend) for check in ("save-load[downloads]", "browser-to-python")
                       for backend in ("webkit:cpu", "webkit:webgl", "webkit:wasm:1thread")}
    # Storage checks train their subject in a worker: on webkit:webgl it trains on cpu, and saving still runs.
    assert ran[("save-load[indexeddb]", "webkit:webgl")] == "pass"
    environment = report["environment"]
    assert environment["browser"].startswith("WebKit 2.") and "WebDriver" in environment["browser"]
    wasm = environment["backends"]["webkit:wasm:1thread"]
    assert wasm["crossOriginIsolated"] is True and wasm["wasmSimd"] is True and "AppleWebKit" in wasm["userAgent"]
    assert environment["backends"]["webkit:webgl"]["webglRenderFloat32Enabled"] is True


@pytest.mark.browser
@pytest.mark.parametrize("backend", [pytest.param("webkit:cpu", marks=pytest.mark.smoke), "webkit:webgl",
                                     "webkit:wasm:1thread"])
def test_predict_on_webkit_fails_on_a_weight_perturbed_by_1e_3(parity_session, parity_references, backend):
    result = predict_with_a_perturbed_weight(parity_session, parity_references["mlp"], backend)
    parity_session.discard_page(backend)  # ends that page's MiniBrowser
    assert result.status == "fail", result.message
    assert result.details["worst"]["index"][1] == 3 and result.max_abs_err > result.atol
