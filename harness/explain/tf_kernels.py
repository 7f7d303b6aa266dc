"""TensorFlow's twin of a tfjs kernel: the same op, computed by TensorFlow on the same inputs.

A kernel the page recorded (``web/isolation.js``: its tfjs name, attributes, inputs and outputs) is
recomputed here by the TensorFlow op it mirrors, in float32 and in float64: the float32 result is
the reference, and the difference between the two is the op's own float32 rounding, which widens
its tolerance per channel as an inner layer's is (``tolerances.inner_output_tolerance``). tfjs
names its kernels after TensorFlow's ops; the attributes are renamed here (``transposeA`` ->
``adjoint_a``, ``pad: 'same'`` -> ``padding='SAME'``...). A kernel without a twin here is compared
with another tfjs backend's kernel instead (``explain.ops``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Inputs = dict[str, np.ndarray]
Attrs = dict[str, Any]
Twin = Callable[[Any, Inputs, Attrs], Any]  # (tensorflow module, inputs, attrs) -> a tensor or a list of them


def _activation(tf: Any, x: Any, attrs: Attrs, inputs: Inputs) -> Any:
    """A fused kernel's activation (tfjs ``fused_util`` names)."""
    name = attrs.get("activation") or "linear"
    if name == "linear":
        return x
    if name == "prelu":
        alpha = tf.constant(inputs["preluActivationWeights"], dtype=x.dtype)
        return tf.where(x < 0, x * alpha, x)
    if name == "leakyrelu":
        return tf.nn.leaky_relu(x, alpha=attrs.get("leakyreluAlpha", 0.2))
    return {"relu": tf.nn.relu, "relu6": tf.nn.relu6, "elu": tf.nn.elu, "sigmoid": tf.sigmoid}[name](x)


def _padding(tf: Any, x: Any, attrs: Attrs) -> tuple[Any, str]:
    """tfjs' ``pad`` ('same', 'valid', a number or explicit pairs) as TensorFlow's padding, x padded if explicit."""
    pad = attrs.get("pad", "valid")
    if isinstance(pad, str):
        return x, pad.upper()
    pairs: list[list[Any]] = [[0, 0], [pad, pad], [pad, pad], [0, 0]] if isinstance(pad, (int, float)) else pad
    return tf.pad(x, [[int(a), int(b)] for a, b in pairs]), "VALID"


def _pair(value: Any) -> list[int]:
    return [int(value), int(value)] if isinstance(value, (int, float)) else [int(v) for v in value]


def _conv2d(tf: Any, inputs: Inputs, attrs: Attrs, depthwise: bool = False) -> Any:
    x, padding = _padding(tf, tf.constant(inputs["x"]), attrs)
    if attrs.get("dataFormat", "NHWC") != "NHWC":
        raise NotImplementedError("channels-first convolution")
    strides, dilations = [1, *_pair(attrs.get("strides", 1)), 1], _pair(attrs.get("dilations", 1))
    kernel = tf.constant(inputs["filter"], dtype=x.dtype)
    if depthwise:
        out = tf.nn.depthwise_conv2d(x, kernel, strides, padding, dilations=dilations)
    else:
        out = tf.nn.conv2d(x, kernel, strides, padding, dilations=dilations)
    if "bias" in inputs:
        out = out + tf.constant(inputs["bias"], dtype=x.dtype)
    return _activation(tf, out, attrs, inputs)


def _matmul(tf: Any, inputs: Inputs, attrs: Attrs) -> Any:
    out = tf.linalg.matmul(tf.constant(inputs["a"]), tf.constant(inputs["b"]),
                           adjoint_a=bool(attrs.get("transposeA")), adjoint_b=bool(attrs.get("transposeB")))
    if "bias" in inputs:
        out = out + tf.constant(inputs["bias"], dtype=out.dtype)
    return _activation(tf, out, attrs, inputs)


def _pool(tf: Any, inputs: Inputs, attrs: Attrs, kind: str) -> Any:
    x, padding = _padding(tf, tf.constant(inputs["x"]), attrs)
    pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    return pool(x, _pair(attrs["filterSize"]), _pair(attrs.get("strides", 1)), padding)


def _unary(name: str) -> Twin:
    return lambda tf, inputs, attrs: getattr(tf.math, name)(tf.constant(inputs["x"]))


def _binary(name: str) -> Twin:
    return lambda tf, inputs, attrs: getattr(tf.math, name)(tf.constant(inputs["a"]), tf.constant(inputs["b"]))


def _reduce(name: str) -> Twin:
    return lambda tf, inputs, attrs: getattr(tf.math, name)(tf.constant(inputs["x"]), axis=attrs.get("axis"),
                                                            keepdims=bool(attrs.get("keepDims")))


TWINS: dict[str, Twin] = {
    **{name: _unary(op) for name, op in {
        "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Rsqrt": "rsqrt",
        "Square": "square", "Abs": "abs", "Neg": "negative", "Softplus": "softplus", "Erf": "erf", "Sin": "sin",
        "Cos": "cos", "Reciprocal": "reciprocal", "Floor": "floor", "Ceil": "ceil", "Round": "round", "Sign": "sign",
        "Expm1": "expm1", "Log1p": "log1p",
    }.items()},
    "Relu": lambda tf, inputs, attrs: tf.nn.relu(tf.constant(inputs["x"])),
    "Elu": lambda tf, inputs, attrs: tf.nn.elu(tf.constant(inputs["x"])),
    "Selu": lambda tf, inputs, attrs: tf.nn.selu(tf.constant(inputs["x"])),
    "Relu6": lambda tf, inputs, attrs: tf.nn.relu6(tf.constant(inputs["x"])),
    "LeakyRelu": lambda tf, inputs, attrs: tf.nn.leaky_relu(tf.constant(inputs["x"]), alpha=attrs.get("alpha", 0.2)),
    "Prelu": lambda tf, inputs, attrs: (lambda x, a: tf.where(x < 0, x * a, x))(
        tf.constant(inputs["x"]), tf.constant(inputs["alpha"])),
    "Softmax": lambda tf, inputs, attrs: tf.nn.softmax(tf.constant(inputs["logits"]), axis=attrs.get("dim", -1)),
    "LogSoftmax": lambda tf, inputs, attrs: tf.nn.log_softmax(tf.constant(inputs["logits"]),
                                                              axis=attrs.get("axis", -1)),
    **{name: _binary(op) for name, op in {
        "Add": "add", "Sub": "subtract", "Multiply": "multiply", "RealDiv": "divide", "Maximum": "maximum",
        "Minimum": "minimum", "Pow": "pow", "SquaredDifference": "squared_difference", "FloorDiv": "floordiv",
    }.items()},
    **{name: _reduce(op) for name, op in {
        "Mean": "reduce_mean", "Sum": "reduce_sum", "Max": "reduce_max", "Min": "reduce_min", "Prod": "reduce_prod",
    }.items()},
    "AddN": lambda tf, inputs, attrs: tf.math.add_n([tf.constant(inputs[k]) for k in sorted(inputs, key=int)]),
    "BatchMatMul": _matmul,
    "_FusedMatMul": _matmul,
    "Conv2D": _conv2d,
    "FusedConv2D": _conv2d,
    "DepthwiseConv2dNative": lambda tf, inputs, attrs: _conv2d(tf, inputs, attrs, depthwise=True),
    "FusedDepthwiseConv2D": lambda tf, inputs, attrs: _conv2d(tf, inputs, attrs, depthwise=True),
    "MaxPool": lambda tf, inputs, attrs: _pool(tf, inputs, attrs, "max"),
    "AvgPool": lambda tf, inputs, attrs: _pool(tf, inputs, attrs, "avg"),
    "Conv2DBackpropInput": lambda tf, inputs, attrs: tf.nn.conv2d_transpose(
        tf.constant(inputs["dy"]), tf.constant(inputs["filter"]), [int(d) for d in attrs["inputShape"]],
        [1, *_pair(attrs.get("strides", 1)), 1], str(attrs.get("pad", "valid")).upper()),
    "Conv2DBackpropFilter": lambda tf, inputs, attrs: tf.compat.v1.nn.conv2d_backprop_filter(
        tf.constant(inputs["x"]), [int(d) for d in attrs["filterShape"]], tf.constant(inputs["dy"]),
        [1, *_pair(attrs.get("strides", 1)), 1], str(attrs["pad"]).upper()),
    "MaxPoolGrad": lambda tf, inputs, attrs: tf.raw_ops.MaxPoolGrad(
        orig_input=tf.constant(inputs["input"]), orig_output=tf.constant(inputs["output"]),
        grad=tf.constant(inputs["dy"]), ksize=[1, *_pair(attrs["filterSize"]), 1],
        strides=[1, *_pair(attrs["strides"]), 1], padding=str(attrs["pad"]).upper()),
    "Reshape": lambda tf, inputs, attrs: tf.reshape(tf.constant(inputs["x"]), attrs["shape"]),
    "Transpose": lambda tf, inputs, attrs: tf.transpose(tf.constant(inputs["x"]), attrs["perm"]),
    "Concat": lambda tf, inputs, attrs: tf.concat([tf.constant(inputs[k]) for k in sorted(inputs, key=int)],
                                                  attrs["axis"]),
    "ExpandDims": lambda tf, inputs, attrs: tf.expand_dims(tf.constant(inputs["input"]), attrs["dim"]),
    "Squeeze": lambda tf, inputs, attrs: tf.squeeze(tf.constant(inputs["x"]), attrs.get("axis") or None),
    "Identity": lambda tf, inputs, attrs: tf.identity(tf.constant(inputs["x"])),
    "Tile": lambda tf, inputs, attrs: tf.tile(tf.constant(inputs["x"]), attrs["reps"]),
    "Slice": lambda tf, inputs, attrs: tf.slice(tf.constant(inputs["x"]), attrs["begin"], attrs["size"]),
    "PadV2": lambda tf, inputs, attrs: tf.pad(tf.constant(inputs["x"]), attrs["paddings"],
                                              constant_values=attrs.get("constantValue", 0)),
    "ClipByValue": lambda tf, inputs, attrs: tf.clip_by_value(tf.constant(inputs["x"]), attrs["clipValueMin"],
                                                              attrs["clipValueMax"]),
    "Cast": lambda tf, inputs, attrs: tf.cast(tf.constant(inputs["x"]), attrs["dtype"]),
    "GatherV2": lambda tf, inputs, attrs: tf.gather(tf.constant(inputs["x"]), tf.constant(inputs["indices"]),
                                                    axis=attrs.get("axis", 0), batch_dims=attrs.get("batchDims", 0)),
}


def twin_outputs(kernel: str, inputs: Inputs, attrs: Attrs) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """TensorFlow's outputs of tfjs kernel ``kernel`` on ``inputs`` with ``attrs``: in float32 (the reference) and
    with float inputs in float64 (for the op's own rounding); None when no twin is known here."""
    twin = TWINS.get(kernel)
    if twin is None:
        return None
    import tensorflow as tf

    def run(dtype: Any) -> list[np.ndarray]:
        cast = {key: value.astype(dtype) if value.dtype.kind == "f" else value for key, value in inputs.items()}
        out = twin(tf, cast, attrs)
        return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]

    return run(np.float32), run(np.float64)
