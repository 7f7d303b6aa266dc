"""A workaround for a failing check: the other backends and the variant flags that change kernels, and which pass.

The check's rows on the run's other backends count as they are; the rest of ``CANDIDATES`` (on the
failing backend's browser and tfjs version) rerun the check quietly, without a row of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from harness.browser.backends import BACKENDS, split_backend_id
from harness.browser.engines import CHROMIUM, split_engine

# Backends and the variants whose flags change which kernels run (packing, texture precision, SIMD, threads).
CANDIDATES = ("cpu", "webgl", "wasm", "webgl:nopack", "webgl:f16", "wasm:nosimd", "wasm:1thread")


def candidates(failing: str) -> list[str]:
    """The backend ids to try instead of ``failing``: ``CANDIDATES`` on its browser engine and tfjs version."""
    engine, _ = split_engine(failing)
    name, version = split_backend_id(failing)
    prefix = "" if engine is CHROMIUM else f"{engine.name}:"
    suffix = f"@{version}" if version else ""
    return [f"{prefix}{candidate}{suffix}" for candidate in CANDIDATES if candidate != name]


def describe(backend: str) -> str:
    """``"webgl with WEBGL_PACK=false"`` for a variant, the id itself for a plain backend."""
    name, _ = split_backend_id(backend)
    variant = BACKENDS.get(name)
    if variant is None or not variant.flags:
        return backend
    flags = ", ".join(f"{flag}={str(value).lower()}" for flag, value in variant.flags.items())
    return f"{backend.replace(name, variant.tfjs_backend)} with {flags}"


def find_workaround(failing: str, measured: Mapping[str, str], rerun: Callable[[str], str]) -> dict[str, list[str]]:
    """Which candidates pass and which do not: ``measured`` statuses (the run's own rows) first, ``rerun(backend)``
    (a status) for the rest."""
    passing: list[str] = []
    failing_too: list[str] = []
    for backend in candidates(failing):
        status = measured.get(backend) or rerun(backend)
        if status in ("pass", "fail"):
            (passing if status == "pass" else failing_too).append(backend)
    return {"passes": passing, "fails": failing_too}


def workaround_line(found: dict[str, list[str]]) -> str:
    """``"passes on wasm, and on webgl with WEBGL_PACK=false (fails on cpu)"``, or that nothing tried passes."""
    if not found["passes"]:
        tried = ", ".join(found["fails"]) or "no other backend"
        return f"none found: it fails on every other backend and variant tried ({tried})"
    plain = [b for b in found["passes"] if describe(b) == b]
    flagged = [describe(b) for b in found["passes"] if describe(b) != b]
    line = "passes on " + ", and on ".join(part for part in (", ".join(plain), ", ".join(flagged)) if part)
    return line + (f" (fails on {', '.join(found['fails'])})" if found["fails"] else "")
