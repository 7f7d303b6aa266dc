"""Every tolerance the harness judges by, in one place, each with the reason for its value.

Rule (numpy's, asymmetric): ``|browser - keras| <= atol + rtol * |keras|``.
The tolerance tables of ``docs/tolerances.md`` are checked against this module by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from harness.browser.backends import UnknownBackendError, backend_variant
from harness.browser.engines import CHROMIUM, split_engine
from harness.verdict.compare import Tolerance

T = TypeVar("T")


# Measured on the zoo (make report, Chromium 156, tfjs 4.22, SwiftShader WebGL): the largest
# |browser - keras| was about 1e-7 on cpu and wasm and about 4e-7 on webgl. Each tolerance is
# that error times a stated margin, so a real regression (a 1e-3 change in one weight moves an
# output by ~1e-4) fails by orders of magnitude.
PREDICT_TOLERANCES: dict[str, Tolerance] = {
    "cpu": Tolerance(
        atol=2e-6, rtol=1e-5,
        reason="float32 JS kernels; observed max abs error ~1e-7; margin 20x for deeper/recurrent models",
    ),
    "wasm": Tolerance(
        atol=2e-6, rtol=1e-5,
        reason="float32 XNNPACK kernels (SIMD, threaded); observed ~1e-7; same margin as cpu",
    ),
    "webgl": Tolerance(
        atol=1e-5, rtol=1e-4,
        reason="float32 render targets on SwiftShader; observed ~4e-7; GPU drivers reorder sums "
               "and use fused multiply-add, so margin 25x",
    ),
    "webgpu": Tolerance(
        atol=1e-5, rtol=1e-4,
        reason="float32 compute shaders; same precision class as webgl",
    ),
    # --profile mobile-webgl: half-float textures as webgl:f16 (so each model's R is scaled by 8192, below), and every
    # result below 2^-14 flushed to zero as phone GPUs do. Measured on the zoo (SwiftShader with the page's flush):
    # the same errors as webgl:f16 but for mobilenet_v2 (predict 1.96e-2 against f16's 1.66e-2), at most 0.18 of
    # the tolerance (0.41 for quantized[uint8], functional).
    "webgl:mobile": Tolerance(
        atol=1e-5, rtol=1e-4,
        reason="webgl's: half-float rounding comes in through the model's R scaled to 11 bits (1.7e-3 for the mlp), "
               "far above the 6.1e-5 (2^-14) a flushed result can move; an output that lives below 2^-14 reads "
               "back 0 on such a phone and fails, as it would there",
    ),
    # Firefox ESR 153 on the zoo (Playwright 1.64.1): every predict error on cpu and webgl equal to Chromium's.
    "firefox:cpu": Tolerance(
        atol=2e-6, rtol=1e-5,
        reason="Firefox runs the same float32 JS kernels: on the zoo every error equals Chromium cpu's (largest "
               "2.4e-7, functional; mobilenet_v2's 4.9e-6 is within its float32 rounding widening); cpu's margin",
    ),
    "firefox:wasm": Tolerance(
        atol=2e-6, rtol=1e-5,
        reason="XNNPACK (threaded SIMD, 2 threads) in Firefox: largest seen 1.8e-7 (rnn); cpu's margin",
    ),
    "firefox:webgl": Tolerance(
        atol=1e-5, rtol=1e-4,
        reason="float32 render targets on Mesa llvmpipe (software): on the zoo every error equals Chromium's on "
               "SwiftShader (largest 2.4e-7, functional); real GPU drivers reorder sums, so webgl's margin",
    ),
    # WebKitGTK 2.50.6 on the zoo (over WebDriver): the same errors as Chromium's and Firefox's.
    "webkit:cpu": Tolerance(
        atol=2e-6, rtol=1e-5,
        reason="JavaScriptCore runs the same float32 JS kernels: on the zoo every error equals Chromium cpu's "
               "(largest 2.4e-7, functional); cpu's margin",
    ),
    "webkit:wasm": Tolerance(
        atol=2e-6, rtol=1e-5,
        reason="XNNPACK with SIMD on 1 thread (WebKitGTK gives tfjs no WASM threads): largest seen 2.4e-7 "
               "(functional); cpu's margin",
    ),
    "webkit:webgl": Tolerance(
        atol=1e-5, rtol=1e-4,
        reason="float32 render targets on WebKitGTK's WebGL (software GL here): largest seen 2.4e-7 (functional), "
               "as on Chromium; webgl's margin",
    ),
}


@dataclass(frozen=True)
class TrainingTolerance:
    """Training compounds error, so it has its own tolerances.

    ``history`` judges each epoch's loss and metrics (and evaluate results, per-step Core API
    losses); ``weights`` judges each final weight variable; ``after_training`` the trained model's
    predictions, which carry the weights' differences through the whole model.
    """

    history: Tolerance
    weights: Tolerance
    after_training: Tolerance


# Measured on the zoo (make report, 3 to 12 epochs): the largest error on cpu and wasm was
# ~1e-6 on losses (functional, loss ~10: 1e-7 relative) and ~5e-7 on predictions after training;
# final weights differed by at most 9e-7 (cnn). A 1% learning rate change moves weights by ~2e-3
# and losses by ~5e-3, Adam epsilon 1e-8 vs 1e-7 moves weights by ~5e-4: all far outside.
# Firefox's and WebKit's WebGL training histories: measured, they drift exactly as Chromium's.
# Predictions after training on the exact backends: test_training_setups' categorical hinge model (a linear output
# of -0.097 summing terms near 1) differs by 3.0e-6 (cpu 2.8e-6) from weights only 6e-7 apart.
AFTER_TRAINING = Tolerance(
    atol=1e-5, rtol=1e-5,
    reason="largest seen 3.0e-6 (a linear output of -0.097 that sums terms near 1, trained weights 6e-7 apart: "
           "well within theirs); margin 3x. A 1% learning rate change moves outputs by ~1e-3",
)
WEBGL_HISTORY = Tolerance(
    atol=1e-5, rtol=5e-4,
    reason="tfjs webgl reports floatPrecision 16 even with float32 textures (tensorflow/tfjs#6980), "
           "so tfjs-layers clips crossentropy inputs at 1e-4, not Keras' 1e-7: losses drift as "
           "predictions saturate (binary model, epoch 7: 9e-5 relative); margin 5x",
)
WEBGL_HISTORY_ON_ANOTHER_ENGINE = Tolerance(
    atol=1e-5, rtol=5e-4,
    reason="as webgl (the 1e-4 crossentropy clipping of tfjs#6980 applies here too): the binary model's "
           "early-stopping run drifts by the same 6.7e-6 as on Chromium",
)
TRAINING_TOLERANCES: dict[str, TrainingTolerance] = {
    "cpu": TrainingTolerance(
        history=Tolerance(
            atol=2e-6, rtol=1e-5,
            reason="the predict tolerance: observed ~1e-6 on losses of ~10",
        ),
        weights=Tolerance(
            atol=5e-6, rtol=1e-5,
            reason="observed at most 9e-7 (cnn conv bias, BatchNormalization moving variance); margin 5x",
        ),
        after_training=AFTER_TRAINING,
    ),
    "wasm": TrainingTolerance(
        history=Tolerance(atol=2e-6, rtol=1e-5, reason="as cpu: observed errors are the same size"),
        weights=Tolerance(atol=5e-6, rtol=1e-5, reason="as cpu: observed errors are the same size"),
        after_training=AFTER_TRAINING,
    ),
    "webgl": TrainingTolerance(
        history=WEBGL_HISTORY,
        weights=Tolerance(
            atol=1e-5, rtol=1e-4,
            reason="the webgl predict tolerance: observed at most 9e-7 (cnn); margin 10x",
        ),
        after_training=Tolerance(atol=1e-5, rtol=5e-4, reason="as its history: the same clipping drift"),
    ),
    "webgpu": TrainingTolerance(
        history=Tolerance(
            atol=1e-5, rtol=1e-4,
            reason="the webgpu predict tolerance: webgpu reports floatPrecision 32, so no 1e-4 clipping; "
                   "observed at most 9.5e-7 (functional, loss ~10)",
        ),
        weights=Tolerance(atol=1e-5, rtol=1e-4, reason="the webgpu predict tolerance: observed at most 8.3e-7 (cnn)"),
        after_training=Tolerance(atol=1e-5, rtol=1e-4,
                                 reason="as its history: the webgpu predict tolerance, above the 3.0e-6 seen on "
                                        "cpu and wasm"),
    ),
    "firefox:cpu": TrainingTolerance(
        history=Tolerance(atol=2e-6, rtol=1e-5, reason="as cpu: on the zoo Firefox's training errors equal Chromium's"),
        weights=Tolerance(atol=5e-6, rtol=1e-5, reason="as cpu: largest seen 9.2e-7 (mobilenet_v2's head)"),
        after_training=AFTER_TRAINING,
    ),
    "firefox:wasm": TrainingTolerance(
        history=Tolerance(atol=2e-6, rtol=1e-5, reason="as wasm: largest seen 9.5e-7 (functional, loss ~10)"),
        weights=Tolerance(atol=5e-6, rtol=1e-5, reason="as wasm: the errors seen are the same size as on cpu"),
        after_training=AFTER_TRAINING,
    ),
    "firefox:webgl": TrainingTolerance(
        history=WEBGL_HISTORY_ON_ANOTHER_ENGINE,
        weights=Tolerance(atol=1e-5, rtol=1e-4,
                          reason="the webgl predict tolerance: largest seen 1.1e-6 (mobilenet_v2)"),
        after_training=WEBGL_HISTORY_ON_ANOTHER_ENGINE,
    ),
    "webkit:cpu": TrainingTolerance(
        history=Tolerance(atol=2e-6, rtol=1e-5, reason="as cpu: on the zoo WebKit's training errors equal Chromium's"),
        weights=Tolerance(atol=5e-6, rtol=1e-5, reason="as cpu: largest seen 9.2e-7 (mobilenet_v2's head)"),
        after_training=AFTER_TRAINING,
    ),
    "webkit:wasm": TrainingTolerance(
        history=Tolerance(atol=2e-6, rtol=1e-5, reason="as wasm (1 thread): the errors seen are those of cpu"),
        weights=Tolerance(atol=5e-6, rtol=1e-5, reason="as wasm: largest seen 1e-6 (mobilenet_v2's head)"),
        after_training=AFTER_TRAINING,
    ),
    "webkit:webgl": TrainingTolerance(
        history=WEBGL_HISTORY_ON_ANOTHER_ENGINE,
        weights=Tolerance(atol=1e-5, rtol=1e-4, reason="the webgl predict tolerance: largest seen 7.7e-7 (cnn)"),
        after_training=WEBGL_HISTORY_ON_ANOTHER_ENGINE,
    ),
}


def _lookup(table: dict[str, T], backend: str, kind: str) -> T:
    """``backend``'s entry: on another engine than Chromium its engine's own (``firefox:webgl``), else its variant's
    (``webgl:f16``), else its tfjs backend's (``webgl``)."""
    variant = backend_variant(backend)
    engine = split_engine(backend)[0]
    keys = (variant.name, variant.tfjs_backend)
    on_engine = [f"{engine.name}:{key}" for key in keys] if engine is not CHROMIUM else []
    for key in (*on_engine, *keys):
        if key in table:
            return table[key]
    raise UnknownBackendError(f"no {kind} tolerance for backend '{backend}' (known: {', '.join(sorted(table))})")


def predict_tolerance(backend: str) -> Tolerance:
    """The predict tolerance for a backend id such as ``webgl`` (a variant falls back to its base)."""
    return _lookup(PREDICT_TOLERANCES, backend, "predict")


# A quantized model is judged against the unquantized Keras model with the backend's predict
# tolerance widened by the quantization's own effect: how far Keras' outputs move when its weights
# are replaced by the dequantized ones (each weight moved by at most half a quantization step:
# (max - min) / 255 / 2 for uint8, / 65535 / 2 for uint16, 2^-11 relative for float16), measured
# on the reference inputs at fixture time. The margin covers inputs that meet the rounding worse.
QUANTIZATION_EFFECT_MARGIN = 2.0


def quantized_tolerance(backend: str, output_effect: float, quantization: str,
                        float32_rounding: float = 0.0) -> Tolerance:
    """The tolerance for a ``quantization`` (uint8, uint16, float16) model whose dequantized weights
    move Keras' outputs by ``output_effect`` at most; ``float32_rounding`` as for ``model_predict_tolerance``."""
    base = model_predict_tolerance(backend, float32_rounding)
    return Tolerance(
        atol=base.atol + QUANTIZATION_EFFECT_MARGIN * output_effect, rtol=base.rtol,
        reason=f"{base.reason}; + {QUANTIZATION_EFFECT_MARGIN:g} x the {quantization} quantization's "
               f"measured effect on Keras' outputs ({output_effect:.2g})",
    )


# Every prediction comparison widens its tolerance by FLOAT32_ROUNDING_MARGIN x the model's own
# float32 rounding error R (Keras float32 vs the same model in float64 on the reference inputs,
# measured at fixture time, see ``rounding``). tfjs' kernels sum in another order than
# TensorFlow's, and the graph optimizer folds BatchNormalization into convolution weights, so the
# browser's rounding differs from Keras' by about R on each side. The small zoo models have
# R <= 1.5e-7 (negligible widening); mobilenet_v2 (52 BatchNormalizations on calibrated
# statistics) has R = 3.2e-6, and shows predict 2.5e-6 (cpu), 3.2e-6 (webgl), 3.0e-6 (wasm) and
# graph-model 5.9e-6, 6.5e-6, 4.5e-6. The same widening applies to:
# - fine-tune-worker's predictions after training: the head trains on features that differ by
#   float32 rounding, and its 1280-wide Dense layer sums those differences (5.0e-6, 7.6e-6, 8.0e-6);
# - quantized[...] against Keras with the same dequantized weights, by the *dequantized* model's
#   R: quantized BatchNormalization statistics make the model more sensitive to rounding.
FLOAT32_ROUNDING_MARGIN = 4.0
FLOAT32_SIGNIFICAND_BITS = 24
# A backend variant computing in lower precision (webgl:f16: half-float textures, 11 significand
# bits) rounds 2^(24 - 11) = 8192 times more coarsely, so R is scaled by that factor there: the
# tolerance follows the precision the backend runs at, per model, instead of one loose number.
# Measured with webgl:f16 (SwiftShader): every prediction comparison of the zoo stayed within
# 0.18x to 1.08x of the scaled R (mlp predict 1.8e-4 against 4.2e-4; mobilenet_v2 1.7e-2 against
# 2.7e-2; functional browser-to-python 1.3e-3 against 1.2e-3), so the margin of 4 holds there too.


def rounding_at_backend_precision(backend: str, float32_rounding: float) -> float:
    """The model's rounding error at ``backend``'s precision: R scaled by 2^(24 - significand bits)."""
    return float32_rounding * 2.0 ** (FLOAT32_SIGNIFICAND_BITS - backend_variant(backend).significand_bits)


def widened_by_rounding(base: Tolerance, backend: str, float32_rounding: float, cause: str) -> Tolerance:
    """``base`` with atol widened by the margin times the model's rounding error on ``backend``
    (``rounding_at_backend_precision``); ``cause`` says why."""
    rounding = rounding_at_backend_precision(backend, float32_rounding)
    scaled = "" if rounding == float32_rounding else f", scaled to {backend}'s precision: {rounding:.2g}"
    return Tolerance(
        atol=base.atol + FLOAT32_ROUNDING_MARGIN * rounding, rtol=base.rtol,
        reason=f"{base.reason}; + {FLOAT32_ROUNDING_MARGIN:g} x the model's own float32 rounding error "
               f"({float32_rounding:.2g}{scaled}): {cause}",
    )


def model_predict_tolerance(backend: str, float32_rounding: float) -> Tolerance:
    """The predict tolerance for a model whose float32 outputs are ``float32_rounding`` from exact."""
    return widened_by_rounding(predict_tolerance(backend), backend, float32_rounding,
                               "the browser orders float32 arithmetic differently from TensorFlow")


# An inner output (an inner layer's output predict compares too, see ``reference.inner_outputs``) is widened per
# channel (its last axis) by the margin times that channel's own float32 rounding error (Keras float32 vs float64,
# largest over samples and positions; scaled to the backend's precision like R), floored at the median channel's:
# - per channel, because one R for all of mobilenet_v2's 1280 pooled features (3.0e-5, its noisiest channel) would
#   allow 1.2e-4 everywhere, more than a 1e-3 change of one weight in its last blocks moves any feature (5.7e-5 to
#   1.3e-4), while the channels' own errors have a median of 8.9e-6;
# - floored, because a channel's largest error over 16 samples is itself a sample: a quiet channel's can be low by
#   chance. The browser's error reached 4.4 x its channel's own (wasm), 0.77 of the unfloored tolerance; floored,
#   the worst is 0.43 (cpu), 0.31 (webgl), 0.57 (wasm).
def inner_output_tolerance(backend: str, channel_rounding: np.ndarray) -> Tolerance:
    """The predict tolerance for an inner layer's output whose float32 outputs are ``channel_rounding`` (per channel,
    its last axis) from exact."""
    base = predict_tolerance(backend)
    floored = np.maximum(channel_rounding.astype(np.float64), float(np.median(channel_rounding)))
    scaled = [rounding_at_backend_precision(backend, float(r)) for r in floored]
    return Tolerance(
        atol=base.atol, rtol=base.rtol, channel_atol=tuple(FLOAT32_ROUNDING_MARGIN * r for r in scaled),
        reason=f"{base.reason}; + per channel {FLOAT32_ROUNDING_MARGIN:g} x the layer's own float32 rounding error "
               f"there, at least the median channel's ({min(scaled):.2g} to {max(scaled):.2g}"
               f"{'' if backend_variant(backend).significand_bits == FLOAT32_SIGNIFICAND_BITS else ', scaled'}): "
               "the browser orders float32 arithmetic differently from TensorFlow",
    )


def training_tolerance(backend: str) -> TrainingTolerance:
    """The training tolerances for a backend id (a variant falls back to its base)."""
    return _lookup(TRAINING_TOLERANCES, backend, "training")


# One hop of a model's route that runs in Python, between two float32 CPU runtimes: onnxruntime against
# TensorFlow after onnx2tf (PyTorch against onnxruntime, with the torch extra). Each orders its sums its own way
# (oneDNN, MLAS) and onnx2tf rewrites some ops (channels-last convolutions, decomposed LSTMs). Measured on the
# test suite's ONNX models (tests/test_onnx_models.py): 1.9e-6 on the CNN with an unfolded BatchNormalization
# (R = 1.2e-6: 0.049 of its tolerance), at most 1.2e-7 on the others; the browser's cpu tolerance, widened by the
# model's own float32 rounding error as every prediction comparison is.
PYTHON_HOP_TOLERANCE = Tolerance(
    atol=2e-6, rtol=1e-5,
    reason="two float32 CPU runtimes (onnxruntime, TensorFlow after onnx2tf) order sums differently; the cpu "
           "backend's margin",
)


def python_hop_tolerance(float32_rounding: float) -> Tolerance:
    """The tolerance of a Python-side hop of a model's route (onnxruntime -> TensorFlow) for a model whose float32
    outputs are ``float32_rounding`` from exact."""
    return widened_by_rounding(PYTHON_HOP_TOLERANCE, "cpu", float32_rounding,
                               "each runtime rounds the model's arithmetic its own way")
