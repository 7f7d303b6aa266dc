"""Compare a browser result with a Keras reference under numpy's asymmetric rule.

``|actual - expected| <= atol + rtol * |expected|``, with the Keras output as ``expected``.
Shapes and dtypes are checked first, then non-finite values, then the values themselves.

``compare_arrays`` is the one engine; checks call its front doors, as numpy's ``assert_allclose``
sits on ``assert_array_compare``: ``compare_within`` judges by a ``Tolerance`` (see ``tolerances``)
and ``compare_exact`` demands bit-identical values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

MAX_LISTED_MISMATCHES = 5
# Absolute errors are counted per decade for the report's error distributions: bin 0 is below
# 1e-12 (exact matches included), bin k is [10^(k-13), 10^(k-12)), the last bin is 1 and above.
ERROR_DECADES = tuple(10.0**e for e in range(-12, 1))


@dataclass(frozen=True)
class Tolerance:
    """An absolute and a relative tolerance, and why they have these values."""

    atol: float
    rtol: float
    reason: str
    # Added to atol per channel (the last axis), for an inner layer whose channels carry rounding errors of their
    # own (``tolerances.inner_output_tolerance``); empty: atol alone.
    channel_atol: tuple[float, ...] = ()


EXACT = Tolerance(atol=0.0, rtol=0.0, reason="bit-identical: the same bytes must give the same numbers")


def error_decade_counts(abs_err: np.ndarray) -> list[int]:
    """How many of ``abs_err`` fall in each ``ERROR_DECADES`` bin (len(ERROR_DECADES) + 1 counts)."""
    return np.bincount(np.searchsorted(ERROR_DECADES, abs_err.ravel(), side="right"),
                       minlength=len(ERROR_DECADES) + 1).tolist()


@dataclass(frozen=True)
class Element:
    """One element of a comparison: its index and both values."""

    index: tuple[int, ...]
    actual: float
    expected: float


@dataclass
class Comparison:
    """The outcome of comparing one actual array with one expected array."""

    ok: bool
    atol: float
    rtol: float
    actual_shape: tuple[int, ...]
    expected_shape: tuple[int, ...]
    actual_dtype: str
    expected_dtype: str
    elements: int = 0
    mismatched: int = 0
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    worst: Element | None = None
    worst_ratio: float = 0.0
    mismatches: list[Element] = field(default_factory=list)
    error_decades: list[int] = field(default_factory=list)
    problem: str | None = None
    channel_atol_max: float | None = None  # the largest per-channel addition to atol, if the tolerance has one

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return asdict(self)

    @property
    def badness(self) -> float:
        """How far the worst element is from (or past) its allowance: 1 is at the limit, infinite for a
        shape, dtype or non-finite problem. Ranks comparisons to name the worst one."""
        return math.inf if self.problem else self.worst_ratio


def compare_within(actual: np.ndarray, expected: np.ndarray, tolerance: Tolerance) -> Comparison:
    """``compare_arrays`` judged by ``tolerance``."""
    return compare_arrays(actual, expected, tolerance.atol, tolerance.rtol, _channel_atol(tolerance))


def allowance(expected: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """Each element's allowed error under ``tolerance``: atol (plus its channel's addition) + rtol * |expected|."""
    channel = _channel_atol(tolerance)
    return tolerance.atol + (0.0 if channel is None else channel) + tolerance.rtol * np.abs(expected.astype(np.float64))


def _channel_atol(tolerance: Tolerance) -> np.ndarray | None:
    return np.asarray(tolerance.channel_atol, dtype=np.float64) if tolerance.channel_atol else None


def compare_exact(actual: np.ndarray, expected: np.ndarray) -> Comparison:
    """``compare_arrays`` demanding bit-identical values (atol = rtol = 0)."""
    return compare_arrays(actual, expected, EXACT.atol, EXACT.rtol)


def compare_arrays(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float,
                   channel_atol: np.ndarray | None = None) -> Comparison:
    """Compare ``actual`` with ``expected``; never raises on a mismatch, it reports it. ``channel_atol`` is added
    to ``atol`` along the last axis."""
    result = Comparison(
        ok=False, atol=atol, rtol=rtol,
        actual_shape=tuple(actual.shape), expected_shape=tuple(expected.shape),
        actual_dtype=str(actual.dtype), expected_dtype=str(expected.dtype),
        channel_atol_max=None if channel_atol is None else float(channel_atol.max()),
    )
    if actual.shape != expected.shape:
        result.problem = f"shape mismatch: actual {actual.shape}, expected {expected.shape}"
        return result
    if actual.dtype != expected.dtype:
        result.problem = f"dtype mismatch: actual {actual.dtype}, expected {expected.dtype}"
        return result
    if channel_atol is not None and (actual.ndim == 0 or channel_atol.shape != actual.shape[-1:]):
        result.problem = f"{channel_atol.size} channel tolerances for an array of shape {actual.shape}"
        return result
    result.elements = int(actual.size)
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    nonfinite = _nonfinite_problem(a, e)
    if nonfinite:
        result.problem = nonfinite
        return result
    _fill_errors(result, a, e, atol if channel_atol is None else atol + channel_atol)
    result.ok = result.mismatched == 0
    return result


def _nonfinite_problem(a: np.ndarray, e: np.ndarray) -> str | None:
    bad_expected = ~np.isfinite(e)
    if bad_expected.any():
        index = tuple(int(i) for i in np.argwhere(bad_expected)[0])
        return f"reference has non-finite values ({int(bad_expected.sum())}), first at {list(index)}"
    bad_actual = ~np.isfinite(a)
    if bad_actual.any():
        index = tuple(int(i) for i in np.argwhere(bad_actual)[0])
        return (f"actual has non-finite values ({int(bad_actual.sum())}), first at {list(index)}: "
                f"{float(a[index])} vs expected {float(e[index])}")
    return None


def _fill_errors(result: Comparison, a: np.ndarray, e: np.ndarray, atol: float | np.ndarray) -> None:
    if a.size == 0:
        result.max_abs_err = result.max_rel_err = 0.0
        return
    abs_err = np.abs(a - e)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = np.where(e != 0, abs_err / np.abs(e), np.where(abs_err == 0, 0.0, np.inf))
    allowed = atol + result.rtol * np.abs(e)
    violation = abs_err > allowed
    result.max_abs_err = float(abs_err.max())
    result.error_decades = error_decade_counts(abs_err)
    result.max_rel_err = float(rel_err.max())
    result.mismatched = int(violation.sum())
    # The worst element is the one closest to (or furthest past) its allowance.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowed > 0, abs_err / allowed, np.where(abs_err > 0, np.inf, 0.0))
    order = np.argsort(ratio, axis=None, kind="stable")[::-1]
    worst_flat = int(order[0])
    result.worst = _element(a, e, worst_flat)
    result.worst_ratio = float(ratio.flat[worst_flat])
    listed = [int(i) for i in order[: MAX_LISTED_MISMATCHES] if violation.flat[int(i)]]
    result.mismatches = [_element(a, e, i) for i in listed]


def _element(a: np.ndarray, e: np.ndarray, flat: int) -> Element:
    index = tuple(int(i) for i in np.unravel_index(flat, a.shape))
    return Element(index=index, actual=float(a.flat[flat]), expected=float(e.flat[flat]))


def largest(values: Iterable[float | None]) -> float | None:
    """The largest of the values that are present (a comparison with a shape problem has no error)."""
    present = [v for v in values if v is not None]
    return max(present) if present else None


def worst_ratio(comparisons: Iterable[Comparison]) -> float | None:
    """The largest error / allowance over ``comparisons`` (1 is at the limit), for a row's summary; None when
    there is none or one is not finite (a shape or non-finite problem, an exact comparison that differs)."""
    ratios = [c.badness for c in comparisons if c.elements or c.problem]
    if not ratios or not all(math.isfinite(r) for r in ratios):
        return None
    return max(ratios)


def format_failure(comparison: Comparison, title: str, labels: tuple[str, str] = ("BROWSER", "KERAS")) -> str:
    """A numpy-style failure message a person can act on; ``labels`` name the actual and expected sides."""
    per_channel = "" if comparison.channel_atol_max is None else \
        f" + per channel up to {comparison.channel_atol_max:g}"
    lines = [f"Not equal to tolerance rtol={comparison.rtol:g}, atol={comparison.atol:g}{per_channel}", title]
    if comparison.problem:
        lines.append(comparison.problem)
        return "\n".join(lines)
    share = 100.0 * comparison.mismatched / max(comparison.elements, 1)
    lines.append(f"Mismatched elements: {comparison.mismatched} / {comparison.elements} ({share:.3g}%)")
    lines.append("Mismatch at index:")
    for element in comparison.mismatches:
        lines.append(f" {list(element.index)}: {element.actual:.9g} ({labels[0]}), "
                     f"{element.expected:.9g} ({labels[1]})")
    lines.append(f"Max absolute difference: {comparison.max_abs_err:.3g}")
    lines.append(f"Max relative difference: {comparison.max_rel_err:.3g}")
    return "\n".join(lines)
