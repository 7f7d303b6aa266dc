"""Backend variants: ids, the facts that prove each is in effect, and that a variant not in effect is loud."""

import dataclasses
import re
from pathlib import Path

import pytest

from harness.browser.backends import (
    BACKENDS,
    MATRICES,
    TFJS_BACKENDS,
    BackendNotInEffectError,
    assert_in_effect,
    backend_variant,
    bundle_files,
    not_in_effect,
    out_of_scope,
    split_backend_id,
    with_profile,
    with_versions,
)
from conftest import predict_with_a_perturbed_weight
from harness.errors import UsageError


def test_backend_ids_carry_a_variant_and_a_tfjs_version():
    assert split_backend_id("wasm:1thread@4.21.0") == ("wasm:1thread", "4.21.0")
    assert split_backend_id("cpu") == ("cpu", None)
    assert backend_variant("webgl:f16@4.21.0").flags == {"WEBGL_FORCE_F16_TEXTURES": True}
    assert with_versions(("cpu", "wasm"), ("4.21.0", "4.22.0")) == (
        "cpu@4.21.0", "cpu@4.22.0", "wasm@4.21.0", "wasm@4.22.0")
    assert with_versions(("cpu",), ()) == ("cpu",)


def test_nightly_matrix_is_every_variant_and_the_default_is_the_three_every_browser_has():
    assert MATRICES["nightly"] == tuple(BACKENDS)
    assert set(MATRICES["nightly"]) >= {"webgl:f16", "webgl:nopack", "wasm:nosimd", "wasm:1thread", "webgpu"}
    assert MATRICES["default"] == ("cpu", "webgl", "wasm")


def test_a_fact_that_contradicts_the_variant_is_named():
    facts = {"backend": "webgl", "webglRenderFloat32Enabled": True, "webglForceF16Textures": True}
    problems = not_in_effect("webgl:f16", facts)
    assert problems == ["webglRenderFloat32Enabled is True, not False"]
    with pytest.raises(BackendNotInEffectError, match="webgl:f16.*WEBGL_FORCE_F16_TEXTURES=True.*is not in effect"):
        assert_in_effect("webgl:f16", facts)
    assert not_in_effect("cpu@4.21.0", {"backend": "cpu", "tfjsVersion": "4.22.0"}) == [
        "tfjsVersion is '4.22.0', not '4.21.0'"]


@pytest.mark.browser
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_each_variant_is_in_effect_on_its_page(parity_session, backend):
    info = parity_session.page(backend).info
    assert not_in_effect(backend, info) == []
    if backend == "wasm":
        assert info["crossOriginIsolated"] and info["wasmBinary"] == "tfjs-backend-wasm-threaded-simd.wasm"
        assert info["wasmThreads"] == 2


@pytest.mark.browser
def test_a_variant_whose_flag_does_not_take_is_an_error_not_a_quiet_pass(parity_session, parity_references,
                                                                         monkeypatch):
    # webgl:nopack without its flag: the page runs packed WebGL, and every check says so.
    monkeypatch.setitem(BACKENDS, "webgl:nopack", dataclasses.replace(BACKENDS["webgl:nopack"], flags={}))
    parity_session.discard_page("webgl:nopack")
    result = parity_session.run_check("predict", parity_references["mlp"], "webgl:nopack")
    parity_session.discard_page("webgl:nopack")
    assert result.status == "error"
    assert "backend 'webgl:nopack'" in result.message and "webglPack is True, not False" in result.message


@pytest.mark.browser
def test_half_float_training_and_byte_exact_storage_are_reported_out_of_scope(parity_session, parity_references):
    for check in ("fit", "save-load[indexeddb]"):
        result = parity_session.run_check(check, parity_references["mlp"], "webgl:f16")
        assert result.status == "skip" and "out of scope" in result.message


def page_bundles(source: str) -> list[tuple[str, str]]:
    """``web/tfjs_versions.js``'s list of the bundles the page loads, as (package, file)."""
    return re.findall(r"\['([\w-]+)', '([\w.-]+)'\]", source.split("parity.tfjsBundles = [", 1)[1].split("]\n", 1)[0]
                      + "]")


def test_every_backend_has_one_record_that_the_page_and_the_tolerances_agree_with():
    from harness.verdict.tolerances import PREDICT_TOLERANCES, TRAINING_TOLERANCES

    assert {variant.tfjs_backend for variant in BACKENDS.values()} == set(TFJS_BACKENDS)
    assert set(TFJS_BACKENDS) <= set(PREDICT_TOLERANCES) and set(TFJS_BACKENDS) <= set(TRAINING_TOLERANCES)
    source = (Path(__file__).resolve().parent.parent / "web" / "tfjs_versions.js").read_text()
    assert page_bundles(source) == [(package, files[0]) for package, files in bundle_files().items()]
    planted = source.replace("['tfjs-backend-webgpu', 'tf-backend-webgpu.min.js'],\n", "")
    assert page_bundles(planted) != [(package, files[0]) for package, files in bundle_files().items()]
    assert bundle_files()["tfjs"] == ("tf.min.js",)  # cpu and webgl share the main bundle


def test_out_of_scope_names_the_engines_and_the_variants_reasons():
    assert "half-float" in out_of_scope("webgl:f16", "fit", "training")
    assert out_of_scope("webgl:f16", "predict", "inference") is None
    assert "navigator.gpu" in out_of_scope("firefox:webgpu", "predict", "inference")
    assert "BiDi" in out_of_scope("firefox:wasm", "fit-worker", "training")
    assert out_of_scope("firefox:wasm", "fit", "training") is None
    assert out_of_scope("wasm", "fit-worker", None) is None


def test_the_mobile_webgl_profile_runs_webgl_as_phones_do_on_each_engine_and_version():
    assert with_profile(("cpu", "webgl", "wasm"), "mobile-webgl") == ("cpu", "webgl:mobile", "wasm")
    assert with_profile(("webkit:webgl@4.21.0", "webgl:f16"), "mobile-webgl") == ("webkit:webgl:mobile@4.21.0",
                                                                                  "webgl:f16")
    assert with_profile(("cpu",), None) == ("cpu",)
    with pytest.raises(UsageError, match="--profile mobile-webgl changes webgl backends, and none is selected"):
        with_profile(("cpu", "wasm"), "mobile-webgl")
    with pytest.raises(UsageError, match="unknown profile 'mobile'"):
        with_profile(("webgl",), "mobile")
    mobile = backend_variant("webgl:mobile")
    assert mobile.flags == {"WEBGL_FORCE_F16_TEXTURES": True, "WEBGL_RENDER_FLOAT32_CAPABLE": False}
    assert mobile.significand_bits == 11 and "half-float" in out_of_scope("webgl:mobile", "fit", "training")


@pytest.mark.browser
def test_a_tiny_value_reads_back_as_zero_on_mobile_webgl_only(parity_session, monkeypatch):
    """The page's probe writes 1e-5 (below the smallest normal half float) with a shader: phones' flush to zero is
    emulated on webgl:mobile; SwiftShader's half floats alone (webgl:f16) keep it, float32 targets keep it exactly.
    Without the emulation, webgl:mobile is not in effect (an error), never a quiet pass as a desktop GPU."""
    assert parity_session.page("webgl:mobile").info["webglTinyValueReadsBack"] == 0
    assert parity_session.page("webgl:f16").info["webglTinyValueReadsBack"] == pytest.approx(1e-5, rel=2e-3)
    assert parity_session.page("webgl").info["webglTinyValueReadsBack"] == pytest.approx(1e-5, rel=1e-7)
    monkeypatch.setitem(BACKENDS, "webgl:mobile", dataclasses.replace(BACKENDS["webgl:mobile"], emulation=None))
    parity_session.discard_page("webgl:mobile")
    with pytest.raises(BackendNotInEffectError, match="webglTinyValueReadsBack is 1.00.*e-05, not 0.0"):
        parity_session.page("webgl:mobile")


@pytest.mark.browser
def test_predict_on_mobile_webgl_passes_and_fails_on_a_perturbed_weight(parity_session, parity_references):
    """A logit moved by 0.05 (the mlp's probabilities by up to 1.2e-2) fails webgl:mobile's tolerance (1.7e-3 for the
    mlp: half floats keep 11 significant bits, so a 1e-3 change is within the device's own rounding)."""
    reference = parity_references["mlp"]
    assert parity_session.run_check("predict", reference, "webgl:mobile").status == "pass"
    perturbed = predict_with_a_perturbed_weight(parity_session, reference, "webgl:mobile", by=0.05)
    assert perturbed.status == "fail" and "Not equal to tolerance" in perturbed.message
