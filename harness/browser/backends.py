"""Backend ids: a tfjs backend, optionally a variant of it (``webgl:f16``), optionally a tfjs version,
optionally on another browser engine than Chromium.

A backend id is ``[ENGINE:]NAME[@VERSION]``, where ENGINE is a key of ``engines.ENGINES`` other
than chromium, NAME a key of ``BACKENDS`` and VERSION a tfjs version (see ``tfjs_versions``);
without a version the page runs the default tfjs.

Each variant sets tfjs flags before its backend initialises and names the facts the page must then
report (``web/backends.js`` ``info()``): a variant that is not really in effect (the flag ignored,
the threaded WASM binary not loaded...) makes every check on it an ``error``, never a quiet pass on
the wrong configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.browser.engines import split_engine
from harness.errors import HarnessError, UsageError
from harness.options import comma_list, did_you_mean

HALF_FLOAT_TRAINING = (
    "training in half-float textures is out of scope: measured on webgl:f16, the mlp's and binary model's "
    "losses overflow to NaN in the first epochs and the others drift by 1e-3 to 1e-2 (functional's evaluate "
    "loss by 8.7 of ~10), because every weight update is rounded to 11 significant bits")
HALF_FLOAT_STORAGE = (
    "byte-exact storage is out of scope: weights held in half-float textures come back rounded to 11 significant "
    "bits when the page reads or saves them, so every saved weight differs from the loaded one")
WASM_THREADS = 2
WASM_PLAIN, WASM_SIMD, WASM_THREADED_SIMD = (
    "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm")


@dataclass(frozen=True)
class TfjsBackend:
    """One tfjs backend, the record the other places read: the npm package (under ``@tensorflow/``) whose bundle
    registers it, the files of that package's ``dist/`` the page loads (the bundle first; the server serves these
    and nothing else, a wheel carries them), what ``tfjs-parity doctor`` shows of the page's facts and how to fix
    it when it cannot run, and whether a run needs it. Its page side is ``web/backends.js`` (``setBackend``,
    ``info``) and its bundle ``web/tfjs_versions.js``'s list (``tests/test_backend_variants.py`` keeps that list
    equal to these records); its tolerances are rows of ``verdict/tolerances.py``, the one place tolerances live.
    Its speed here guesses a model's cost before the backend has run it (``run.cost``): how many times longer a
    sample takes than the CPU time it costs Keras (``keras_model.sample_cost_ms``), and its fixed cost per call: the
    largest ratios of predict's median call to Keras' that the zoo's cnn and mobilenet_v2 and a ResNet50 showed on a
    2-core AMD EPYC (cpu 19-109, webgl 15-129, wasm 2.5-13; docs/speed.md), so the guess errs long; WebGPU is taken
    as WebGL. WebGL and WebGPU ran on SwiftShader (software): on a GPU they are far faster."""

    name: str  # tf.setBackend's name
    package: str
    files: tuple[str, ...]
    facts: Callable[[dict[str, Any]], str]
    fix: str
    slowdown: float
    call_ms: float
    optional: bool = False  # doctor: a note, not a problem, when it cannot run (not a default backend)


TFJS_BACKENDS: dict[str, TfjsBackend] = {backend.name: backend for backend in (
    TfjsBackend("cpu", "tfjs", ("tf.min.js",), lambda info: f"tfjs {info.get('tfjsVersion')}",
                "the page itself does not load: run `tfjs-parity doctor` again and read the browser line",
                slowdown=110.0, call_ms=1.0),
    TfjsBackend("webgl", "tfjs", ("tf.min.js",),
                lambda info: (f"{info.get('webglRenderer')}, float32 render targets "
                              f"{'yes' if info.get('webglRenderFloat32Enabled') else 'no'}"),
                "Chromium needs a WebGL2 context with float32 render targets: without a GPU, tfjs-parity launches "
                "it with --enable-unsafe-swiftshader; a Chromium that lacks SwiftShader cannot run webgl",
                slowdown=130.0, call_ms=10.0),
    TfjsBackend("wasm", "tfjs-backend-wasm", ("tf-backend-wasm.min.js", WASM_PLAIN, WASM_SIMD, WASM_THREADED_SIMD),
                lambda info: (f"{info.get('wasmBinary')}: SIMD {info.get('wasmSimd')}, {info.get('wasmThreads')} "
                              f"threads, cross-origin isolated {info.get('crossOriginIsolated')}"),
                "threaded WASM needs a cross-origin isolated page (the server sends COOP/COEP) and "
                "SharedArrayBuffer; an old Chromium or a policy that disables them cannot run wasm with threads",
                slowdown=13.0, call_ms=1.0),
    TfjsBackend("webgpu", "tfjs-backend-webgpu", ("tf-backend-webgpu.min.js",),
                lambda info: f"available, float precision {info.get('floatPrecision')}",
                "WebGPU is optional (not a default backend); Chromium runs it with --enable-unsafe-webgpu where "
                "Vulkan or SwiftShader's Vulkan is available", slowdown=130.0, call_ms=10.0, optional=True),
)}


def bundle_files() -> dict[str, tuple[str, ...]]:
    """Each package's files the page loads (``TfjsBackend.files``, merged over the backends it registers)."""
    merged: dict[str, tuple[str, ...]] = {}
    for backend in TFJS_BACKENDS.values():
        merged[backend.package] = tuple(dict.fromkeys((*merged.get(backend.package, ()), *backend.files)))
    return merged


@dataclass(frozen=True)
class BackendVariant:
    """A tfjs backend with flags, and what ``info()`` must report when it is in effect."""

    name: str
    tfjs_backend: str
    description: str
    flags: dict[str, bool] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    significand_bits: int = 24  # float32; 11 for half-float textures
    wasm_threads: int | None = None  # the threaded WASM binary's thread count (None: tfjs' default)
    emulation: str | None = None  # a device behaviour the page installs first (``web/backends.js`` EMULATIONS)
    # Check stages (``harness.checks.CHECK_STAGES``) that cannot hold on this variant by design, each with
    # the measured reason: their checks are reported as skips that say so (``out_of_scope``).
    out_of_scope: dict[str, str] = field(default_factory=dict)


BACKENDS: dict[str, BackendVariant] = {variant.name: variant for variant in (
    BackendVariant("cpu", "cpu", "plain JavaScript kernels, float32"),
    BackendVariant("webgl", "webgl", "WebGL2, float32 render targets, packed textures",
                   expected={"webglRenderFloat32Enabled": True, "webglPack": True}),
    # tfjs runs half the logical cores, so 1 thread on a 2-core machine: 2 makes the threads really work.
    BackendVariant("wasm", "wasm", "XNNPACK with SIMD and 2 threads (needs a cross-origin isolated page)",
                   expected={"crossOriginIsolated": True, "wasmSimd": True, "wasmMultithread": True,
                             "wasmBinary": WASM_THREADED_SIMD, "wasmThreads": WASM_THREADS},
                   wasm_threads=WASM_THREADS),
    BackendVariant("webgl:f16", "webgl", "WebGL2 with half-float textures, as on most phones",
                   flags={"WEBGL_FORCE_F16_TEXTURES": True},
                   # tfjs' floatPrecision() says 32 here and 16 for float32 textures (its underflow probe
                   # is inverted, tensorflow/tfjs#6980): the render-target flag is the real evidence.
                   expected={"webglRenderFloat32Enabled": False, "webglForceF16Textures": True},
                   significand_bits=11,
                   out_of_scope={"training": HALF_FLOAT_TRAINING, "storage": HALF_FLOAT_STORAGE}),
    # What tfjs does on a phone GPU without float32 render targets (iOS Safari, many Android GPUs): half-float
    # textures, and results below the smallest normal half float (2^-14, 6.1e-5) flushed to zero, which SwiftShader
    # does not do by itself (measured: 1e-5 reads back 1.00136e-5 on webgl:f16), so the page flushes them in every
    # fragment shader tfjs compiles (tfjs#2808, #4408, #3398). The probe must read 1e-5 back as 0.
    BackendVariant("webgl:mobile", "webgl", "WebGL2 as on a phone GPU: half-float textures, no float32 render "
                   "targets, half-float subnormals flushed to zero",
                   flags={"WEBGL_FORCE_F16_TEXTURES": True, "WEBGL_RENDER_FLOAT32_CAPABLE": False},
                   expected={"webglRenderFloat32Enabled": False, "webglRenderFloat32Capable": False,
                             "webglForceF16Textures": True, "emulation": "flush-half-float-subnormals",
                             "webglTinyValueReadsBack": 0.0},
                   significand_bits=11, emulation="flush-half-float-subnormals",
                   out_of_scope={"training": HALF_FLOAT_TRAINING, "storage": HALF_FLOAT_STORAGE}),
    BackendVariant("webgl:nopack", "webgl", "WebGL2 with packed textures off",
                   flags={"WEBGL_PACK": False}, expected={"webglRenderFloat32Enabled": True, "webglPack": False}),
    BackendVariant("wasm:nosimd", "wasm", "WASM without SIMD (and so without threads: tfjs has no such binary)",
                   flags={"WASM_HAS_SIMD_SUPPORT": False}, expected={"wasmSimd": False, "wasmBinary": WASM_PLAIN}),
    BackendVariant("wasm:1thread", "wasm", "WASM with SIMD but no threads",
                   flags={"WASM_HAS_MULTITHREAD_SUPPORT": False},
                   expected={"wasmSimd": True, "wasmMultithread": False, "wasmBinary": WASM_SIMD,
                             "wasmThreads": 1}),
    BackendVariant("webgpu", "webgpu", "WebGPU compute shaders (Chromium --enable-unsafe-webgpu)",
                   expected={"webgpuAvailable": True, "floatPrecision": 32}),
)}
# `make report` and pytest without --backends: the three backends every browser has.
DEFAULT_BACKENDS: tuple[str, ...] = ("cpu", "webgl", "wasm")
MATRICES: dict[str, tuple[str, ...]] = {"default": DEFAULT_BACKENDS, "nightly": tuple(BACKENDS)}


# Named ways to run the selected backends as a class of device does (``--profile``): each maps the variants it
# changes to the ones it runs instead, with what it emulates.
PROFILES: dict[str, tuple[dict[str, str], str]] = {
    "mobile-webgl": ({"webgl": "webgl:mobile"}, "WebGL as on phones without float32 render targets (webgl:mobile)"),
}


def with_profile(backends: tuple[str, ...], profile: str | None, option: str = "--profile") -> tuple[str, ...]:
    """``backends`` with each variant ``profile`` changes replaced by its own (``cpu, webgl`` -> ``cpu,
    webgl:mobile``); a ``UsageError`` naming ``option`` when the profile is unknown or changes none of them."""
    if profile is None:
        return backends
    if profile not in PROFILES:
        raise UsageError(f"{option}: unknown profile {profile!r}{did_you_mean(profile, PROFILES)} (known: "
                         f"{', '.join(PROFILES)})")
    changes, _ = PROFILES[profile]
    changed = tuple(_profiled(backend, changes) for backend in backends)
    if changed == backends:
        raise UsageError(f"{option} {profile} changes {', '.join(changes)} backends, and none is selected")
    return tuple(dict.fromkeys(changed))


def _profiled(backend_id: str, changes: dict[str, str]) -> str:
    """``backend_id`` with its variant changed as ``changes`` says, on the same engine and tfjs version."""
    engine_prefix = backend_id[:len(backend_id) - len(split_engine(backend_id)[1])]
    name, version = split_backend_id(backend_id)
    return f"{engine_prefix}{changes.get(name, name)}{'@' + version if version else ''}"


class UnknownBackendError(UsageError):
    """A backend id names no known backend variant."""


class BackendNotInEffectError(HarnessError):
    """The page's backend is not the variant that was asked for."""


def split_backend_id(backend_id: str) -> tuple[str, str | None]:
    """``"wasm:1thread@4.21.0"`` (or ``"firefox:wasm:1thread@4.21.0"``) -> ``("wasm:1thread", "4.21.0")``; no
    version -> None. The engine (``engines.split_engine``) is not part of the name."""
    name, _, version = split_engine(backend_id)[1].partition("@")
    return name, version or None


def backend_variant(backend_id: str) -> BackendVariant:
    """The variant a backend id runs; raises ``UnknownBackendError`` naming the known ones."""
    name, _ = split_backend_id(backend_id)
    if name not in BACKENDS:
        raise UnknownBackendError(f"unknown backend '{backend_id}'{did_you_mean(name, BACKENDS)} (known: "
                                  f"{', '.join(BACKENDS)})")
    return BACKENDS[name]


def backend_ids(raw: str, option: str) -> tuple[str, ...]:
    """The comma-separated backend ids in ``raw``, each a known one; else a ``UsageError`` naming ``option``
    (``--backends``, or the pytest API's ``backends``)."""
    ids = comma_list(raw)
    if not ids:
        raise UsageError(f"{option}: no backend given")
    try:
        for backend_id in ids:
            backend_variant(backend_id)
    except UnknownBackendError as error:
        raise UsageError(f"{option}: {error}") from None
    return ids


def out_of_scope(backend_id: str, check: str, stage: str | None) -> str | None:
    """Why ``check`` (of ``stage``) cannot run on ``backend_id`` by design, or None: the engine's exclusions (of the
    variant, the check, or the check on the variant: ``Engine.out_of_scope``), then the variant's of the stage."""
    engine, _ = split_engine(backend_id)
    variant = backend_variant(backend_id)
    keys = (variant.name, check, f"{variant.name}/{check}")
    return next((engine.out_of_scope[key] for key in keys if key in engine.out_of_scope), None) or (
        variant.out_of_scope.get(stage) if stage else None)


def with_versions(backends: tuple[str, ...], versions: tuple[str, ...]) -> tuple[str, ...]:
    """Every backend at every tfjs version, versions adjacent: ``cpu@4.21.0, cpu@4.22.0, webgl@4.21.0...``."""
    if not versions:
        return backends
    return tuple(f"{backend}@{version}" for backend in backends for version in versions)


def not_in_effect(backend_id: str, info: dict[str, Any]) -> list[str]:
    """How the page's (or worker's) reported facts ``info`` contradict ``backend_id``'s variant and tfjs
    version; empty when it is in effect."""
    variant = backend_variant(backend_id)
    _, version = split_backend_id(backend_id)
    problems = []
    if version and info.get("tfjsVersion") != version:
        problems.append(f"tfjsVersion is {info.get('tfjsVersion')!r}, not {version!r}")
    if info.get("backend") != variant.tfjs_backend:
        problems.append(f"backend is '{info.get('backend')}', not '{variant.tfjs_backend}'")
    for fact, wanted in variant.expected.items():
        if info.get(fact) != wanted:
            problems.append(f"{fact} is {info.get(fact)!r}, not {wanted!r}")
    return problems


def assert_in_effect(backend_id: str, info: dict[str, Any]) -> None:
    """Raise ``BackendNotInEffectError`` unless the page's facts ``info`` show ``backend_id``'s variant."""
    problems = not_in_effect(backend_id, info)
    if problems:
        variant = backend_variant(backend_id)
        flags = ", ".join(f"{k}={v}" for k, v in variant.flags.items()) or "no flags"
        raise BackendNotInEffectError(f"backend '{backend_id}' ({variant.description}; {flags}) is not in effect: "
                                      + "; ".join(problems))
