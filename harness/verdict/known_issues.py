"""Known tfjs problems the harness recognises, each with a stable id a user can accept.

A check that tfjs cannot run (a missing or limited kernel, recognised in its error message), whose
every failure matches a known bug's signature, or that failed running a graph whose nodes show one,
is a ``fail`` naming the known issue: its id, what it does, where it is tracked and the workaround.
A user who has decided to live with it accepts the id (``verdict.acceptance``), and the row becomes
``xfail`` with their reason. When upstream fixes it, the signature stops matching and the check
simply passes (and the acceptance is reported stale).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

@dataclass(frozen=True)
class KnownIssue:
    """A known tfjs bug, limitation or difference by design: its stable ``id``, what it does, where it is tracked,
    and what a user can do about it. ``pattern`` recognises it in an error message, and ``reason`` (formatted with
    the match's groups: ``{0}`` the whole match, ``{1}``... the groups) says what it means for this check."""

    id: str
    summary: str
    upstream: str
    workaround: str
    kind: str = "upstream bug"
    pattern: re.Pattern[str] | None = None
    reason: str = ""

    def describe(self, reason: str = "") -> str:
        """The lines a row's message starts with; ``reason``: what it means for this check."""
        return (f"known {self.kind} [{self.id}]{f': {reason}' if reason else ''}\n{self.summary} ({self.upstream})\n"
                f"workaround: {self.workaround}\n(once you have decided to live with it: --accept {self.id})")

    def record(self) -> dict[str, Any]:
        """The row's ``details["known_issue"]``."""
        return {"id": self.id, "kind": self.kind, "upstream": self.upstream, "workaround": self.workaround}


def failed_with(result: Any, issue: KnownIssue, reason: str = "") -> Any:
    """``result`` (a ``CheckResult``) made a ``fail`` explained by ``issue`` (``reason``: what it means here): its
    message starts with the issue, and ``details["known_issue"]`` names it and keeps what was observed (the reason and
    the row's own message: what an acceptance's ``match`` reads)."""
    observed = f"{reason}\n{result.message}".strip()
    result.status = "fail"
    result.message = f"{issue.describe(reason)}\n\n{result.message}".rstrip()
    result.details["known_issue"] = {**issue.record(), "observed": observed}
    return result


TFJS_MULTI_OUTPUT_EVALUATION = KnownIssue(
    id="tfjs-multi-output-evaluation",
    summary="tfjs-layers' test function pushes the running total loss once per output, so for a model "
            "with several outputs evaluate() and the val_* history are shifted by one name: 'loss' holds "
            "the first output's loss and '<first output>_loss' holds the total",
    upstream="tfjs-layers makeTestFunction; same root cause as https://github.com/tensorflow/tfjs/issues/5941",
    workaround="read a multi-output model's evaluation losses from the per-output names, shifted by one, or compute "
               "them with model.predict and the loss functions; training itself (fit's loss) is right",
)


FROZEN_BATCH_NORMALIZATION = KnownIssue(
    id="tfjs-frozen-batch-normalization",
    summary="tfjs' BatchNormalization normalises with the batch's statistics (and updates its moving statistics) "
            "whenever the model trains, frozen (trainable: false) or not; Keras 2 runs a frozen one in inference "
            "mode. The browser's training matched Keras' run with those layers normalising by batch statistics "
            "instead",
    upstream="tfjs-layers BatchNormalization.call has no equivalent of Keras' trainable=False inference override",
    workaround="compute the frozen part's outputs in inference mode and train only the layers after it (as the "
               "fine-tune-worker check does), or unfreeze the BatchNormalization layers",
    kind="difference by design",
)

TFJS_MOMENTUM_OPTIMIZER_DISPOSE = KnownIssue(
    id="tfjs-momentum-optimizer-dispose",
    summary="MomentumOptimizer.dispose() frees its momentum scalar and accumulations but not the learning-rate "
            "scalar its SGDOptimizer base keeps (c = keep(scalar(-learningRate))): every tf.train.momentum "
            "optimizer leaves one float32 scalar (4 bytes) behind once disposed",
    upstream="tfjs-core optimizers/momentum_optimizer.ts: dispose() does not call SGDOptimizer's dispose()",
    workaround="create one momentum optimizer and reuse it (the leak is per optimizer, not per step), or also "
               "dispose optimizer.c after optimizer.dispose()",
)

QUANTIZATION_CHANGES_LABELS = KnownIssue(
    id="quantization-changes-labels",
    summary="quantizing the weights moves the outputs by up to the quantized tolerance and changes the label of every "
            "sample whose two best classes are closer than that: Keras run with the same dequantized weights changes "
            "the same labels, so tfjs computes what the quantized model holds",
    upstream="not a tfjs bug: the tensorflowjs converter's --quantize_* options (tensorflow/tfjs#1602 reports it for "
             "uint8)",
    workaround="ship a wider quantization (the uint16 and float16 rows say whether they keep the labels) or float32; "
               "judge on inputs like your app's (--inputs), whose margins may be wider than generated ones; or lower "
               "--min-top1 for this variant",
    kind="difference by design",
)

TFJS_ADADELTA_UPDATE_ORDER = KnownIssue(
    id="tfjs-adadelta-update-order",
    summary="tfjs' adadelta divides each step's gradient by the running average of squared gradients as it was "
            "before this step's gradient is added; Keras' Adadelta (and the paper) add it first. The browser's "
            "training matched Keras' run with tfjs' rule instead. In tfjs' order the two running averages (squared "
            "gradients and squared updates) stay equal, so every step moves each weight by the learning rate times "
            "the gradient: tfjs' Adadelta is plain SGD, rho and epsilon have no effect, and the model ends elsewhere "
            "than Keras' Adadelta takes it",
    upstream="tfjs-core src/optimizers/adadelta_optimizer.ts (applyGradients); not reported upstream as far as the "
             "harness knows",
    workaround="train with RMSprop or Adam (tfjs' match Keras'); to train the same way on both sides, use SGD with "
               "Adadelta's learning rate, which is what tfjs' Adadelta computes",
    kind="difference by design",
)

TFJS_RMSPROP_CENTERED_EPSILON = KnownIssue(
    id="tfjs-rmsprop-centered-epsilon",
    summary="tfjs' centered rmsprop subtracts epsilon inside its square root, sqrt(meanSquare - meanGrad^2 - "
            "epsilon), where Keras (and TensorFlow) add it: wherever a gradient's running variance is below "
            "epsilon (always at the first step for a small gradient) the update is NaN, and the weights it touches "
            "stay NaN",
    upstream="tfjs-core src/optimizers/rmsprop_optimizer.ts (applyGradients, centered branch); not reported "
             "upstream as far as the harness knows",
    workaround="train with centered: false (tf.train.rmsprop(lr, decay, momentum, epsilon, false)), which matches "
               "Keras' RMSprop(centered=False)",
)

TFJS_GRAPH_TRAINING_BATCH_NORM = KnownIssue(
    id="tfjs-graph-training-batch-norm",
    summary="tfjs' graph executor runs every FusedBatchNorm node as an inference batch norm with the node's mean and "
            "variance inputs, ignoring is_training and data_format. A node in training mode (tf_keras' "
            "LayerNormalization exports one, normalising by the statistics it computes, with empty mean and variance "
            "inputs in NCHW) comes out NaN, or tfjs throws reading the empty mean (webgl)",
    upstream="https://github.com/tensorflow/tfjs/issues/6864; tfjs-converter's operations/executors/"
             "normalization_executor.ts passes neither attribute to tf.batchNorm",
    workaround="ship the layers model (tf.loadLayersModel), which computes LayerNormalization itself; or save the "
               "model from Keras 3, whose LayerNormalization exports without a FusedBatchNorm node",
)

# What tfjs cannot run, recognised in its error message: the check is a ``fail`` naming the issue.
CANNOT_RUN = (
    KnownIssue(
        id="tfjs-missing-kernel",
        summary="the backend has no kernel for an op the model needs (training needs gradient kernels, such as "
                "Conv2DBackpropFilter, that some backends lack), so tfjs cannot run this there",
        upstream="the backend's kernel list: https://github.com/tensorflow/tfjs/blob/master/tfjs-core/src/"
                 "kernel_names.ts and each backend's register_all_kernels.ts",
        workaround="run this part on a backend that has the kernel (the check's rows on the other backends say "
                   "which pass), for example tf.setBackend('webgl') or 'cpu' before training",
        kind="tfjs limitation",
        pattern=re.compile(r"Kernel '(\w+)' not registered for backend '(\w+)'"),
        reason="backend '{2}' has no '{1}' kernel"),
    KnownIssue(
        id="tfjs-wasm-fused-matmul-bias",
        summary="tfjs-backend-wasm's fused MatMul takes a rank-1 bias only; the graph converter fuses a recurrent "
                "layer's broadcast bias into it",
        upstream="https://github.com/tensorflow/tfjs/issues/2788",
        workaround="run the graph model on webgl or cpu, or ship the layers model (tf.loadLayersModel), which wasm "
                   "runs",
        kind="tfjs limitation",
        pattern=re.compile(r"(_FusedMatMul) only supports rank-1 bias but got rank (\d+)"),
        reason="the backend's '{1}' kernel takes only a rank-1 bias, and the converted graph gives it rank {2}"),
    KnownIssue(
        id="webkit-worker-no-webgl",
        summary="WebKitGTK gives a Web Worker's OffscreenCanvas no WebGL context (getContext('webgl2') and ('webgl') "
                "return null there), so tfjs' webgl backend cannot start in a worker",
        upstream="WebKitGTK 2.50 (OffscreenCanvas WebGL in workers is not enabled)",
        workaround="train on the page's main thread with webgl in this browser, or in the worker with wasm or cpu",
        kind="browser limitation",
        pattern=re.compile(r"in the worker: Error: tf\.setBackend\('(webgl)'\) failed: backend could not be "
                           r"initialised"),
        reason="this browser gives a Web Worker no WebGL context, so tfjs' '{1}' backend cannot start in the worker"),
    KnownIssue(
        id="tfjs-graph-control-flow",
        summary="tfjs' graph executor cannot reach the outputs of a recurrent layer's converted while loop although "
                "every input is fed",
        upstream="https://github.com/tensorflow/tfjs/issues/4350",
        workaround="ship the layers model (tf.loadLayersModel) instead of the graph model, or unroll the recurrent "
                   "layer (unroll=True) before converting",
        pattern=re.compile(r"Cannot compute the outputs \[[^\]]*\] from the provided inputs \[[^\]]*\]\. "
                           r"Consider providing the following inputs: \[\]"),
        reason="tfjs' graph executor cannot run this model's control flow (a recurrent layer's while loop) although "
               "every input is fed"),
    KnownIssue(
        id="browser-localstorage-quota",
        summary="the browser's localStorage holds about 5 MB per origin, and tfjs stores a model there as base64 "
                "text: a bigger model cannot be saved to localstorage://",
        upstream="tfjs-core io/local_storage.ts (the size quota named in its error); the Web Storage quota",
        workaround="save to indexeddb:// instead (it holds far more), or quantize the weights to make them smaller",
        kind="browser limitation",
        pattern=re.compile(r"Failed to save model '[^']*' to local storage: size quota being exceeded"),
        reason="the model is too big for the browser's localStorage"),
)
# An exception thrown inside tfjs' code that none of the above explains: tfjs cannot run this here either.
TFJS_THREW = KnownIssue(
    id="tfjs-threw",
    summary="tfjs threw an exception that no known issue explains: tfjs cannot run this model here as it is",
    upstream="not known to the harness: search https://github.com/tensorflow/tfjs/issues for the message, or file it",
    workaround="the check's rows on the other backends say where it runs; an unsupported layer option or op named "
               "in the message can often be replaced by one tfjs has",
    kind="tfjs exception",
)
# The tensorflowjs converter raised while converting the model one of the ways a check needs.
CONVERTER_REFUSED = KnownIssue(
    id="tfjs-converter-refused",
    summary="the tensorflowjs converter raised while converting this model (its message follows): tfjs cannot have "
            "the model in this form",
    upstream="not known to the harness: search https://github.com/tensorflow/tfjs/issues for the converter's message",
    workaround="ship the forms whose checks pass (the layers model's rows say whether it runs), or change the layer "
               "or op the message names",
    kind="converter refusal",
)
KNOWN_ISSUES: dict[str, KnownIssue] = {issue.id: issue for issue in (
    TFJS_MULTI_OUTPUT_EVALUATION, FROZEN_BATCH_NORMALIZATION, TFJS_MOMENTUM_OPTIMIZER_DISPOSE,
    QUANTIZATION_CHANGES_LABELS, TFJS_ADADELTA_UPDATE_ORDER, TFJS_RMSPROP_CENTERED_EPSILON,
    TFJS_GRAPH_TRAINING_BATCH_NORM, *CANNOT_RUN, TFJS_THREW, CONVERTER_REFUSED)}


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)


def shows_multi_output_evaluation_bug(browser: dict[str, float], keras: dict[str, float],
                                      outputs: list[str], prefix: str = "") -> bool:
    """Whether browser values show ``TFJS_MULTI_OUTPUT_EVALUATION``: 'loss' is Keras' first output's loss
    and the first output's name holds the first two outputs' sum (``prefix`` is ``"val_"`` for histories)."""
    if len(outputs) < 2:
        return False
    first, second = (keras.get(f"{prefix}{name}_loss") for name in outputs[:2])
    if first is None or second is None:
        return False
    return (_close(browser.get(f"{prefix}loss"), first) and not _close(keras.get(f"{prefix}loss"), first)
            and _close(browser.get(f"{prefix}{outputs[0]}_loss"), first + second))


def cannot_run(message: str) -> tuple[KnownIssue, str] | None:
    """The known issue ``message`` (an error tfjs threw) shows, and what it means here; None if it shows none."""
    for issue in CANNOT_RUN:
        found = issue.pattern.search(message) if issue.pattern else None
        if found:
            return issue, issue.reason.format(*[found.group(0), *found.groups()])
    return None


def shown_by_graph(model_json: Path) -> tuple[KnownIssue, str] | None:
    """The known issue a graph model's nodes show (a failed check that ran it is explained by it), and what it means
    there; None for a layers model or a graph that shows none."""
    try:
        topology = json.loads(model_json.read_text()).get("modelTopology") or {}
    except (OSError, ValueError, AttributeError):  # unreadable: the failure the row already holds says why
        return None
    if not isinstance(topology, dict) or "node" not in topology:
        return None
    nodes = [*topology["node"], *(node for function in (topology.get("library") or {}).get("function", [])
                                   for node in function.get("nodeDef", []))]
    training = [node["name"] for node in nodes if str(node.get("op", "")).startswith("FusedBatchNorm")
                and (node.get("attr") or {}).get("is_training", {}).get("b")]
    if not training:
        return None
    shown = ", ".join(training[:3]) + (f" and {len(training) - 3} more" if len(training) > 3 else "")
    return TFJS_GRAPH_TRAINING_BATCH_NORM, (f"the graph has {len(training)} FusedBatchNorm node(s) in training mode "
                                            f"({shown}), which tfjs computes as inference batch norms")
