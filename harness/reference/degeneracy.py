"""Refuse references that prove nothing: outputs that are (nearly) constant.

tfjs's own e2e suite compares 1000 outputs that are all 0.001 against a 0.005 tolerance, so an
all-zero answer passes there. A reference must vary across the batch and, for outputs with
several columns, across those columns.
"""

from __future__ import annotations

import numpy as np

# An output whose spread is below this share of its magnitude (or below MIN_SPREAD absolute)
# is treated as constant: float32 noise is ~1e-7 relative, real outputs spread by > 1e-2.
MIN_RELATIVE_SPREAD = 1e-3
MIN_SPREAD = 1e-5


def degeneracy_problems(output: np.ndarray, label: str) -> list[str]:
    """Why ``output`` (batch first) is uninformative as a reference; empty if it is fine."""
    values = output.astype(np.float64).reshape(output.shape[0], -1)
    if values.shape[0] < 2:
        return [f"{label}: batch of {values.shape[0]}: need at least 2 rows to vary"]
    scale = max(float(np.abs(values).max()), MIN_SPREAD / MIN_RELATIVE_SPREAD)
    threshold = MIN_RELATIVE_SPREAD * scale
    problems = []
    across_batch = float(np.ptp(values, axis=0).max())
    if across_batch < threshold:
        problems.append(f"{label}: nearly constant across the batch (spread {across_batch:.3g} < {threshold:.3g})")
    if values.shape[1] > 1:
        across_columns = float(np.ptp(values, axis=1).max())
        if across_columns < threshold:
            problems.append(
                f"{label}: nearly constant across classes (spread {across_columns:.3g} < {threshold:.3g})"
            )
    return problems
