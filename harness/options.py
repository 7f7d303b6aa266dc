"""Option values every front end shares: the defaults, and the comma-list syntax of ``--models``,
``--backends``, ``--checks``, ``--tfjs``, ``--inputs``, ``--input-range`` and ``--input-shape``."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from harness.errors import UsageError

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 120.0  # per check: mobilenet_v2's slowest check takes ~25 s on SwiftShader WebGL
DEFAULT_UPLOAD_LIMIT_MIB = 256.0
# A model's reference (Keras, the converter, its training runs) may take this many times the per-check --timeout.
REFERENCE_TIMEOUT_FACTOR = 10
DEFAULT_REPORT_DIR = Path("reports")
# `run`'s browsers in parallel: one per core, at most 4. On 2 cores, 2 browsers took the zoo's default run from
# 300 s to 205 s and 3 took 210 s; each browser holds about 1 GiB there (docs/speed.md).
MAX_DEFAULT_PARALLEL = 4


def default_parallel() -> int:
    """How many browsers ``run`` launches to share its work when not told: one per core, at most 4."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_PARALLEL))


def mib_to_bytes(mib: float) -> int:
    """An ``--upload-limit-mib`` value in bytes."""
    return int(mib * 2**20)


def comma_list(raw: str, unique: bool = True) -> tuple[str, ...]:
    """``" a, b,,a "`` -> ``("a", "b")``: stripped, empty items dropped, and (if ``unique``) repeats dropped."""
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    return tuple(dict.fromkeys(items)) if unique else items


def comma_numbers(raw: str, option: str, kind: Callable[[str], T]) -> tuple[T, ...]:
    """The numbers in ``raw`` converted by ``kind`` (in order, repeats kept); a ``UsageError`` names ``option``
    if one is not a number."""
    try:
        return tuple(kind(item) for item in comma_list(raw, unique=False))
    except ValueError:
        raise UsageError(f"{option}: {raw!r} is not a comma-separated list of numbers") from None


def known_names(raw: str, known: tuple[str, ...], option: str) -> tuple[str, ...]:
    """The names in ``raw``, each one of ``known``; else a ``UsageError`` naming ``option`` and the choices."""
    names = comma_list(raw)
    unknown = [name for name in names if name not in known]
    if not names or unknown:
        described = ", ".join(f"{name}{did_you_mean(name, known)}" for name in unknown) or "(empty)"
        raise UsageError(f"{option}: unknown {described}; choose from {', '.join(known)}")
    return names


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'predict'?)`` for the known name nearest to a mistyped ``name``; empty if none is near."""
    nearest = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{nearest[0]}'?)" if nearest else ""


def reference_timeout(given_s: float | None, check_timeout_s: float) -> float:
    """How long a reference build may take: ``given_s`` (``--reference-timeout``), else ``REFERENCE_TIMEOUT_FACTOR``
    x the per-check timeout."""
    return given_s or check_timeout_s * REFERENCE_TIMEOUT_FACTOR
