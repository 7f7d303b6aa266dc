"""Whether the browser gives the same *answers* as Keras, not only numbers within tolerance: for an output that is a
classification (a softmax or sigmoid head, or logits its compile config's loss reads as such), the label of each
sample (top-1), its top-k labels, and the largest probability change. A quantized model can stay within its derived
tolerance and still change labels (tensorflow/tfjs#1602: uint8 broke a classifier's predictions, uint16 did not).

A sample whose two best Keras classes are closer than the float tolerance allows (a *tie*) has no decidable label:
rounding alone may swap them. Ties are counted apart and left out of the agreement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.verdict.compare import allowance
from harness.verdict.tolerances import Tolerance

# The least top-1 agreement (of decidable samples) a row needs, per variant; ``--min-top1`` overrides any of them.
# Float routes (predict, sharded, graph-model, training) and float16/uint16 weights: every label, since their outputs
# move by no more than rounding and 16-bit steps (float16's 1e-3 relative, uint16's range/65535), and a tie is
# already left out. uint8: 90 % (a label in ten may change): its weight step is range/255, which moves probabilities
# by up to its derived tolerance by design, so any sample whose two best classes are closer than that may change
# label; a reference of 16 generated samples (the zoo's) passes with one such change and fails with two. Below 90 %
# the changes are no longer samples at a boundary but the model's answers (tfjs#1602: "uint8 breaks predictions").
DEFAULT_MIN_TOP1: dict[str, float] = {"float": 1.0, "float16": 1.0, "uint16": 1.0, "uint8": 0.90}
TOP_K = 3  # as WPT's WebNN model tests assert the top-3 labels
SOFTMAX_SUM_ATOL = 1e-3  # rows of a softmax output sum to 1 within float32 rounding (and tfjs' own)
FLIPS_SHOWN = 10  # flipped samples named in a message


class MinTop1Error(UsageError):
    """A ``--min-top1`` value that is not a percentage, or names no variant."""


def parse_min_top1(text: str | None) -> dict[str, float]:
    """``--min-top1``: ``PCT`` (every variant) or ``VARIANT=PCT,...`` (variants: float, float16, uint16, uint8) over
    ``DEFAULT_MIN_TOP1``, as fractions."""
    thresholds = dict(DEFAULT_MIN_TOP1)
    if not text:
        return thresholds
    for part in text.split(","):
        variant, _, value = part.rpartition("=")
        if variant and variant not in thresholds:
            raise MinTop1Error(f"--min-top1 {text}: unknown variant '{variant}' (variants: {', '.join(thresholds)})")
        try:
            percent = float(value)
        except ValueError:
            raise MinTop1Error(f"--min-top1 {text}: '{value}' is not a percentage") from None
        if not 0 <= percent <= 100:
            raise MinTop1Error(f"--min-top1 {text}: {percent:g} is not a percentage between 0 and 100")
        for name in [variant] if variant else thresholds:
            thresholds[name] = percent / 100
    return thresholds


@dataclass(frozen=True)
class Flip:
    """A sample whose label changed: Keras' label and its value (a probability, or a logit), the browser's label and
    its value, and Keras' margin between its two best classes (or from the threshold)."""

    sample: int
    keras: int
    browser: int
    keras_value: float
    browser_value: float
    margin: float


@dataclass
class Agreement:
    """Task-level agreement of one classification output."""

    kind: str  # "softmax" or "logits" (one label per sample), "sigmoid" or "logit" (a yes/no label per element)
    samples: int
    ties: int
    top1: float  # of decidable samples
    topk: float | None  # the same top-k labels (in any order), softmax with more than TOP_K classes only
    k: int | None
    max_probability_change: float
    flips: list[Flip] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def problem(self, minimum: float, title: str) -> str | None:
        """Why ``minimum`` top-1 agreement is not reached, naming the samples that flipped; None when it is."""
        if self.top1 >= minimum:
            return None
        shown = ", ".join(f"sample {f.sample}: Keras {f.keras} ({f.keras_value:.4g}) -> browser {f.browser} "
                          f"({f.browser_value:.4g})" for f in self.flips[:FLIPS_SHOWN])
        more = f", and {len(self.flips) - FLIPS_SHOWN} more" if len(self.flips) > FLIPS_SHOWN else ""
        decidable = self.samples - self.ties
        return (f"{title}: top-1 agreement {self.top1:.1%} ({decidable - len(self.flips)} of {decidable} labels the "
                f"same{f'; {self.ties} ties left out' if self.ties else ''}), below the {minimum:.1%} required "
                f"(--min-top1); flipped: {shown}{more}")


def classification_kind(expected: np.ndarray) -> str | None:
    """"softmax" when every row of ``expected`` (samples x classes, 2+ classes) is a probability distribution,
    "sigmoid" when every value lies in [0, 1] otherwise; None for any other output (a regression, logits)."""
    if expected.ndim < 2 or expected.dtype.kind != "f" or expected.size == 0 or not np.all(np.isfinite(expected)):
        return None
    if expected.min() < 0 or expected.max() > 1:
        return None
    rows = expected.reshape(-1, expected.shape[-1]).astype(np.float64)
    if rows.shape[1] >= 2 and np.allclose(rows.sum(axis=1), 1.0, atol=SOFTMAX_SUM_ATOL):
        return "softmax"
    return "sigmoid"


def logits_outputs(loss: Any, output_names: list[str]) -> set[str]:
    """The outputs a compile config's ``loss`` (``reference.losses``' form: a tfjs loss name, a ``{name, fromLogits,
    ...}`` spec, or one of those per output name) computes a crossentropy of from logits."""
    if isinstance(loss, dict) and "fromLogits" not in loss:
        return {name for name, spec in loss.items() if name in output_names and logits_outputs(spec, [name])}
    if isinstance(loss, dict) and loss.get("fromLogits") and "Crossentropy" in str(loss.get("name")):
        return set(output_names)
    return set()


def agreement(actual: np.ndarray, expected: np.ndarray, tie_tolerance: Tolerance,
              logits: bool = False) -> Agreement | None:
    """The task-level agreement of ``actual`` with ``expected`` when ``expected`` is a classification output (None
    otherwise; ``logits``: the model's loss reads it as logits, a label per sample by argmax, or by sign for one
    column); two labels closer than ``tie_tolerance`` allows each are a tie."""
    kind = classification_kind(expected)
    if logits and kind is None and expected.ndim >= 2 and expected.dtype.kind == "f" and expected.size:
        kind = "logits" if expected.shape[-1] >= 2 else "logit"
    if kind is None or actual.shape != expected.shape:
        return None
    keras = expected.reshape(-1, expected.shape[-1]).astype(np.float64)
    browser = actual.reshape(keras.shape).astype(np.float64)
    allowed = allowance(keras, tie_tolerance).reshape(keras.shape)
    change = float(np.max(np.abs(_probabilities(browser, kind) - _probabilities(keras, kind)))) \
        if np.all(np.isfinite(browser)) else float("inf")
    if kind in ("softmax", "logits"):
        return _by_best_class(kind, browser, keras, allowed, change)
    return _by_threshold(kind, browser, keras, allowed, change, 0.5 if kind == "sigmoid" else 0.0)


def _probabilities(values: np.ndarray, kind: str) -> np.ndarray:
    """The probabilities an output stands for: itself, or what its logits imply (softmax, sigmoid)."""
    if kind == "logits":
        shifted = np.exp(values - values.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    if kind == "logit":
        return 1 / (1 + np.exp(-values))
    return values


def _by_best_class(kind: str, browser: np.ndarray, keras: np.ndarray, allowed: np.ndarray,
                   change: float) -> Agreement:
    order = np.argsort(-keras, axis=1, kind="stable")
    best, second = order[:, 0], order[:, 1]
    rows = np.arange(len(keras))
    margin = keras[rows, best] - keras[rows, second]
    ties = margin <= allowed[rows, best] + allowed[rows, second]
    labels = np.argmax(browser, axis=1)
    flipped = (labels != best) & ~ties
    decidable = int((~ties).sum())
    k = TOP_K if keras.shape[1] > TOP_K else None
    topk = None
    if k is not None:
        same = [set(order[i, :k]) == set(np.argsort(-browser[i], kind="stable")[:k]) for i in rows]
        topk = float(np.mean(same))
    flips = [Flip(int(i), int(best[i]), int(labels[i]), float(keras[i, best[i]]), float(browser[i, labels[i]]),
                  float(margin[i])) for i in np.flatnonzero(flipped)]
    return Agreement(kind, len(keras), int(ties.sum()), 1.0 if decidable == 0 else 1 - len(flips) / decidable,
                     topk, k, change, flips)


def _by_threshold(kind: str, browser: np.ndarray, keras: np.ndarray, allowed: np.ndarray, change: float,
                  threshold: float) -> Agreement:
    """Each element a yes/no label at ``threshold`` (a sample flips when any of its labels does); a tie is within
    its allowance of the threshold."""
    ties = np.abs(keras - threshold) <= allowed
    flipped = ((browser > threshold) != (keras > threshold)) & ~ties
    undecidable = ties.all(axis=1)
    decidable = int((~undecidable).sum())
    flips = []
    for i in np.flatnonzero(flipped.any(axis=1)):
        j = int(np.flatnonzero(flipped[i])[0])
        flips.append(Flip(int(i), int(keras[i, j] > threshold), int(browser[i, j] > threshold), float(keras[i, j]),
                          float(browser[i, j]), float(abs(keras[i, j] - threshold))))
    return Agreement(kind, len(keras), int(undecidable.sum()),
                     1.0 if decidable == 0 else 1 - len(flips) / decidable, None, None, change, flips)


def flips_shown_by(actual: list[np.ndarray], other: list[np.ndarray], expected: list[np.ndarray],
                   tie_tolerance: Tolerance, logits: list[bool] | None = None) -> bool:
    """Whether every label ``actual`` changes from ``expected``, ``other`` changes too, to the same label (``other``:
    Keras run with a quantized model's dequantized weights; then the quantization changes those labels, not tfjs)."""
    for a, o, e, scores in zip(actual, other, expected, logits or [False] * len(expected)):
        browser, keras = agreement(a, e, tie_tolerance, scores), agreement(o, e, tie_tolerance, scores)
        if browser is None or keras is None:
            continue
        if not {(f.sample, f.browser) for f in browser.flips} <= {(f.sample, f.browser) for f in keras.flips}:
            return False
    return True
