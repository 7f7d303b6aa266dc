"""Firefox as a second engine (``--browsers firefox``, backend ids like ``firefox:webgl``): Debian's Firefox ESR
over Playwright's WebDriver BiDi, headed under the harness's own Xvfb (headless it gets no WebGL)."""

import json

import pytest

from conftest import predict_with_a_perturbed_weight, run_cli
from harness import cli
from harness.browser.backends import backend_variant, split_backend_id
from harness.browser.engines import CHROMIUM, FIREFOX, engine_names, split_engine, with_engines
from harness.errors import UsageError
from harness.verdict.tolerances import PREDICT_TOLERANCES, TRAINING_TOLERANCES, predict_tolerance, training_tolerance


def test_an_engine_prefixes_the_backend_id_and_chromium_keeps_its_ids():
    assert with_engines(("cpu", "webgl:f16@4.21.0"), ("chromium", "firefox")) == (
        "cpu", "webgl:f16@4.21.0", "firefox:cpu", "firefox:webgl:f16@4.21.0")
    assert split_engine("firefox:webgl:f16") == (FIREFOX, "webgl:f16")
    assert split_engine("webgl:f16") == (CHROMIUM, "webgl:f16")
    assert split_backend_id("firefox:wasm:1thread@4.21.0") == ("wasm:1thread", "4.21.0")
    assert backend_variant("firefox:webgl:nopack").name == "webgl:nopack"
    with pytest.raises(UsageError, match="--browsers: unknown browser safari; choose from chromium, firefox, webkit"):
        engine_names("firefox,safari", "--browsers")


def test_firefox_has_tolerances_of_its_own_and_its_variants_fall_back_to_them():
    for backend in ("cpu", "webgl", "wasm"):
        assert predict_tolerance(f"firefox:{backend}") is PREDICT_TOLERANCES[f"firefox:{backend}"]
        assert training_tolerance(f"firefox:{backend}") is TRAINING_TOLERANCES[f"firefox:{backend}"]
    assert predict_tolerance("firefox:wasm:1thread@4.21.0") is PREDICT_TOLERANCES["firefox:wasm"]


def test_webgpu_on_firefox_is_a_named_skip_without_starting_a_browser(parity_references):
    from harness.run.session import ParitySession

    row = ParitySession(30).run_check("predict", parity_references["mlp"], "firefox:webgpu")
    assert row.status == "skip" and "WebGPU on Firefox is out of scope" in row.message


def test_threaded_wasm_in_a_worker_on_firefox_is_a_named_skip_without_starting_a_browser(parity_references):
    from harness.run.session import ParitySession

    session = ParitySession(30)
    for check in ("fit-worker", "fine-tune-worker"):
        row = session.run_check(check, parity_references["mlp"], "firefox:wasm")
        assert row.status == "skip" and "WebDriver BiDi session" in row.message and "wasm:1thread" in row.message


@pytest.mark.browser
def test_the_default_checks_of_a_model_pass_on_firefox(tmp_path, capsys):
    status = run_cli(["run", "--models", "mlp", "--browsers", "firefox", "--out", str(tmp_path)])
    output = capsys.readouterr()
    assert status == cli.EXIT_PASS, output.out + output.err
    report = json.loads((tmp_path / "parity.json").read_text())
    rows = report["results"]
    assert {r["backend"] for r in rows} == {"firefox:cpu", "firefox:webgl", "firefox:wasm"}
    assert {r["status"] for r in rows} == {"pass", "skip"}
    skipped = {(r["check"], r["backend"]) for r in rows if r["status"] == "skip"}
    downloads = {(check, backend) for check in ("save-load[downloads]", "browser-to-python")
                 for backend in ("firefox:cpu", "firefox:webgl", "firefox:wasm")}
    assert skipped == downloads | {("fit-worker", "firefox:wasm")}
    assert all("WebDriver BiDi" in r["message"] for r in rows if r["status"] == "skip")
    # On threaded WASM the storage checks' worker trains on wasm:1thread, and the row says so.
    saved = next(r for r in rows if r["check"] == "save-load[indexeddb]" and r["backend"] == "firefox:wasm")
    assert saved["details"]["trained"]["note"].startswith("trained in the worker on wasm:1thread, not wasm: Firefox")
    environment = report["environment"]
    assert environment["browser"].startswith("Firefox ")
    wasm = environment["backends"]["firefox:wasm"]
    assert wasm["crossOriginIsolated"] is True and wasm["wasmThreads"] == 2 and "Firefox/" in wasm["userAgent"]
    assert environment["backends"]["firefox:webgl"]["webglRenderFloat32Enabled"] is True
    assert "firefox:webgl" in (tmp_path / "parity.md").read_text()


@pytest.mark.browser
@pytest.mark.parametrize("backend", [pytest.param("firefox:cpu", marks=pytest.mark.smoke), "firefox:webgl",
                                     "firefox:wasm"])  # predict needs no worker
def test_predict_on_firefox_fails_on_a_weight_perturbed_by_1e_3(parity_session, parity_references, backend):
    result = predict_with_a_perturbed_weight(parity_session, parity_references["mlp"], backend)
    parity_session.discard_page(backend)  # an idle Firefox page (headed, WebGL) would cost the later tests CPU
    assert result.status == "fail", result.message
    assert result.details["worst"]["index"][1] == 3 and result.max_abs_err > result.atol
