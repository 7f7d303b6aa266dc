"""The pieces of the ONNX routes that need no browser: which route is which, how a failure is located, how an
ambiguous layout is settled, and the route's hop tolerance kept equal to the one the verdict judges with."""

import numpy as np
import pytest

from harness.reference.formats import ModelFormatError
from harness.reference.onnx_build import layouts_that_fit
from harness.reference.onnx_routes import (
    HOP_ATOL,
    HOP_RTOL,
    ROUNDING_MARGIN,
    ROUTE_NAMES,
    best_layout,
    first_line,
    hop_badness,
    module_of,
    onnx2tf_cause,
    routes_to_try,
    tensorflow_node,
)
from harness.verdict.tolerances import FLOAT32_ROUNDING_MARGIN, PYTHON_HOP_TOLERANCE


def test_the_route_tolerance_is_the_python_hop_tolerance():
    assert (HOP_ATOL, HOP_RTOL, ROUNDING_MARGIN) == (PYTHON_HOP_TOLERANCE.atol, PYTHON_HOP_TOLERANCE.rtol,
                                                     FLOAT32_ROUNDING_MARGIN)


def test_a_hop_holds_within_its_tolerance_and_fails_beyond_it():
    expected = np.array([0.0, 1.0, -2.0], dtype=np.float32)
    assert hop_badness(expected + 1e-6, expected, 0.0) < 1
    assert hop_badness(expected + 1e-4, expected, 0.0) > 1
    assert hop_badness(expected + 1e-4, expected, 1e-4) < 1  # widened by the model's own rounding
    assert hop_badness(expected[:2], expected, 0.0) == float("inf")


def test_routes_are_tried_in_order_or_one_is_forced():
    assert [r.name for r in routes_to_try(None)] == list(ROUTE_NAMES)
    assert ROUTE_NAMES[0] == "onnx2tf"
    assert [r.name for r in routes_to_try("onnx2tf-static-batch")] == ["onnx2tf-static-batch"]
    with pytest.raises(ModelFormatError, match="--route nobuco: no such route"):
        routes_to_try("nobuco")


def test_a_node_names_the_pytorch_module_it_came_from():
    modules = {"d1": "Sequential", "d1.1": "GroupNorm", "up": "ConvTranspose2d"}
    assert module_of("/d1/d1.1/Reshape", modules) == "d1.1 (GroupNorm)"
    assert module_of("/up/ConvTranspose", modules) == "up (ConvTranspose2d)"
    assert module_of("/Add", modules) == ""


def test_onnx2tf_output_is_read_for_its_cause():
    assert onnx2tf_cause("\x1b[31mERROR:\x1b[0m CastLike OP is not yet implemented.\n").startswith(
        "onnx2tf cannot convert the ONNX op CastLike")
    output = "INFO: ...\nTraceback (most recent call last):\nValueError: Dimensions must be equal\n  • name='wa/Add'\n"
    assert onnx2tf_cause(output) == "onnx2tf failed: ValueError: Dimensions must be equal (making wa/Add)"


def test_a_tensorflow_error_is_read_for_its_message_and_node():
    error = ValueError("{{function_node __inference_signature_wrapper_<lambda>_66}} Conv2DCustomBackpropInput: input "
                       "depth must be evenly divisible by filter depth\n\t [[{{function_node __inference_<lambda>_53}}"
                       "{{node model_9/tf.nn.conv2d_transpose_2/conv2d_transpose}}]]")
    assert first_line(error) == "Conv2DCustomBackpropInput: input depth must be evenly divisible by filter depth"
    assert tensorflow_node(error) == "model_9/tf.nn.conv2d_transpose_2/conv2d_transpose"


def test_a_layout_both_ways_possible_is_settled_by_the_numbers():
    rng = np.random.default_rng(0)
    ncw = rng.normal(size=(2, 8, 8)).astype(np.float32)
    candidates = layouts_that_fit(ncw.shape, (None, 8, 8))
    assert candidates == [None, (0, 2, 1)]
    assert best_layout(candidates, ncw.transpose(0, 2, 1), ncw) == (0, 2, 1)
    assert best_layout(candidates, ncw, ncw) is None
    with pytest.raises(ModelFormatError, match="not a channels-last transposition"):
        layouts_that_fit((2, 3, 8), (None, 4, 8))
