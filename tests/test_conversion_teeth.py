"""Conversion checks must be able to fail: float32 tolerances on a uint8 model, a missing shard,
and a damaged graph-model weight file."""

import pytest

from harness.checks.conversion import check_quantized
from harness.verdict.tolerances import predict_tolerance

pytestmark = pytest.mark.browser


def test_uint8_fails_with_float32_tolerances_and_passes_with_derived_ones(parity_session, parity_references,
                                                                          parity_backend):
    reference = parity_references["mlp"]
    strict = parity_session.run_check(
        "quantized[uint8]", reference, parity_backend,
        lambda context: check_quantized(context, "uint8", predict_tolerance(parity_backend)))
    assert strict.status == "fail", strict.message
    assert "quantized-uint8 vs the unquantized Keras model" in strict.message
    assert "quantized-uint8 vs Keras with the dequantized weights" not in strict.message  # tfjs dequantizes right
    derived = parity_session.run_check("quantized[uint8]", reference, parity_backend)
    assert derived.status == "pass", derived.message
    assert derived.atol > strict.atol and derived.max_abs_err > strict.atol
    assert derived.details["size_ratio"] == pytest.approx(0.25, abs=0.01)


def test_a_missing_shard_is_an_error_naming_it(parity_session, parity_references, make_damaged_reference):
    shard = "sharded/group1-shard2of4.bin"
    broken = make_damaged_reference(parity_references["mlp"], lambda d: (d / shard).unlink())
    result = parity_session.run_check("sharded", broken, "cpu")
    assert result.status == "error"
    assert f"{broken.directory}/{shard}: HTTP 404" in result.message


def test_graph_model_fails_on_a_changed_weight_byte(parity_session, parity_references, make_damaged_reference):
    def flip_first_weight(directory):
        shard = next((directory / "graph").glob("group1-shard1of*.bin"))
        data = bytearray(shard.read_bytes())
        data[3] ^= 0x40
        shard.write_bytes(bytes(data))

    damaged = make_damaged_reference(parity_references["mlp"], flip_first_weight)
    result = parity_session.run_check("graph-model", damaged, "cpu")
    assert result.status == "fail", result.message
    assert "graph model predict on cpu" in result.message and "graph model executeAsync on cpu" in result.message
