"""Tolerances are data in one module, and docs/tolerances.md documents every number."""

import re
from pathlib import Path

import pytest

from harness.verdict.tolerances import (
    PREDICT_TOLERANCES,
    PYTHON_HOP_TOLERANCE,
    TRAINING_TOLERANCES,
    UnknownBackendError,
    predict_tolerance,
    training_tolerance,
)

TOLERANCES_DOC = Path(__file__).resolve().parent.parent / "docs" / "tolerances.md"


@pytest.mark.parametrize("backend", sorted(PREDICT_TOLERANCES))
def test_readme_tolerance_table_matches_the_module(backend):
    tolerance = PREDICT_TOLERANCES[backend]
    row = re.search(rf"^\| `{backend}` \| ([\d.e-]+) \| ([\d.e-]+) \|", TOLERANCES_DOC.read_text(), re.MULTILINE)
    assert row, f"docs/tolerances.md has no tolerance row for {backend}"
    assert float(row.group(1)) == tolerance.atol and float(row.group(2)) == tolerance.rtol


def test_the_python_hop_tolerance_is_documented():
    row = re.search(r"^\| `onnxruntime -> TensorFlow` \| ([\d.e-]+) \| ([\d.e-]+) \|", TOLERANCES_DOC.read_text(),
                    re.MULTILINE)
    assert row and (float(row.group(1)), float(row.group(2))) == (PYTHON_HOP_TOLERANCE.atol, PYTHON_HOP_TOLERANCE.rtol)


def test_every_tolerance_has_a_reason_and_is_far_below_tfjs_suite():
    for tolerance in PREDICT_TOLERANCES.values():
        assert tolerance.reason
        assert tolerance.atol < 1e-3  # tfjs's own suite allows 1e-3 to 0.1


def test_variant_falls_back_to_its_base_backend():
    assert predict_tolerance("webgl:nopack") == PREDICT_TOLERANCES["webgl"]


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(UnknownBackendError, match=r"unknown backend 'metal' \(known: cpu, webgl, wasm, webgl:f16"):
        predict_tolerance("metal")


def test_half_float_variant_scales_the_rounding_term_to_11_significant_bits():
    from harness.verdict.tolerances import FLOAT32_ROUNDING_MARGIN, model_predict_tolerance

    half = model_predict_tolerance("webgl:f16", 1e-7)
    assert half.atol == pytest.approx(PREDICT_TOLERANCES["webgl"].atol + FLOAT32_ROUNDING_MARGIN * 1e-7 * 2**13)
    assert "scaled to webgl:f16's precision: 0.00082" in half.reason
    assert model_predict_tolerance("webgl:nopack@4.21.0", 1e-7) == model_predict_tolerance("webgl", 1e-7)


@pytest.mark.parametrize("backend", sorted(TRAINING_TOLERANCES))
@pytest.mark.parametrize("judges", ["history", "weights", "after_training"])
def test_readme_training_tolerance_table_matches_the_module(backend, judges):
    tolerance = getattr(TRAINING_TOLERANCES[backend], judges)
    row = re.search(rf"^\| `{backend}` \| {judges} \| ([^|]+) \| ([^|]+) \|", TOLERANCES_DOC.read_text(), re.MULTILINE)
    assert row, f"docs/tolerances.md has no {judges} training tolerance row for {backend}"
    assert float(row.group(1)) == tolerance.atol and float(row.group(2)) == tolerance.rtol
    assert tolerance.reason and tolerance.atol < 1e-3


def test_training_tolerance_of_a_variant_falls_back_to_its_base_backend():
    assert training_tolerance("wasm:1thread") == TRAINING_TOLERANCES["wasm"]


def test_prediction_tolerances_widen_by_the_models_own_float32_rounding():
    from harness.verdict.tolerances import FLOAT32_ROUNDING_MARGIN, model_predict_tolerance

    assert model_predict_tolerance("cpu", 0.0).atol == PREDICT_TOLERANCES["cpu"].atol
    widened = model_predict_tolerance("wasm", 3e-6)
    assert widened.atol == PREDICT_TOLERANCES["wasm"].atol + FLOAT32_ROUNDING_MARGIN * 3e-6
    assert widened.rtol == PREDICT_TOLERANCES["wasm"].rtol
    assert "float32 rounding error (3e-06)" in widened.reason
