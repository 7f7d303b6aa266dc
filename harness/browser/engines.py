"""Browser engines: Chromium (the default), Firefox, and how a backend id names its engine.

A backend id on Chromium is what it always was (``webgl``, ``wasm:1thread@4.21.0``); on another
engine it starts with the engine's name: ``firefox:webgl``, ``firefox:wasm:1thread``. So reports,
baselines and JUnit get the engine as a dimension without changing Chromium's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import UsageError
from harness.options import comma_list


@dataclass(frozen=True)
class Engine:
    """One browser engine: how to find and install it, and how Playwright launches it."""

    name: str
    label: str
    env_var: str  # an executable that overrides every other choice
    system_candidates: tuple[str, ...]  # absolute paths or names on PATH, in order
    apt_packages: tuple[str, ...]  # what the setup installs as root on Debian/Ubuntu when nothing is found
    system_channel: str | None = None  # the Playwright channel that drives a system (not Playwright-built) binary
    headed: bool = False  # runs with a window (under a virtual display when there is none)
    # The WebDriver program that drives a system (not Playwright-built) browser of this engine (``browser.webdriver``);
    # None: Playwright drives it.
    webdriver: str | None = None
    # Backend variants (``BACKENDS`` names), checks (check names) or one check on one variant (``"wasm/fit-worker"``)
    # this engine cannot run here, each with the reason: their rows are named skips.
    out_of_scope: dict[str, str] = field(default_factory=dict)
    # Variants a Web Worker cannot run on this engine, each with the variant it runs instead and why: the storage
    # checks train their subject in a worker on that variant, and the report says so.
    worker_variants: dict[str, tuple[str, str]] = field(default_factory=dict)


# Measured with a page whose worker starts 8 workers of its own, as threaded WASM's thread pool does: that worker's
# `new Worker()` blocked forever in 30 of 60 tries with a bare WebDriver BiDi session open (no subscriptions), in 4 to
# 11 of 20 under Playwright, and in 0 of 100 in the same Firefox without a session (with or without the remote agent).
BIDI_NESTED_WORKERS = ("Firefox ESR 153 with a WebDriver BiDi session open (any automation, Playwright's included) can "
                       "block forever when a Web Worker starts workers of its own, as threaded WASM's thread pool does "
                       "(measured: 30 of 60 tries with a bare BiDi session, 0 of 100 without one)")

CHROMIUM = Engine("chromium", "Chromium", "TFJS_PARITY_CHROMIUM",
                  ("/usr/bin/chromium", "chromium-browser", "google-chrome"), ("chromium",))
FIREFOX = Engine(
    "firefox", "Firefox", "TFJS_PARITY_FIREFOX", ("/usr/bin/firefox-esr", "firefox-esr", "firefox"),
    ("firefox-esr", "xvfb"), system_channel="moz-firefox",
    # Headless Firefox gets no WebGL context (checked with webgl.force-enabled and software GL): headed it has one.
    headed=True,
    out_of_scope={
        "webgpu": "WebGPU on Firefox is out of scope here: Firefox ESR 153 on Linux has no navigator.gpu, and these "
                  "machines have no GPU",
        **{f"wasm/{check}": f"{BIDI_NESTED_WORKERS}; firefox:wasm:1thread trains in a worker"
           for check in ("fit-worker", "fine-tune-worker")},
    },
    worker_variants={"wasm": ("wasm:1thread", BIDI_NESTED_WORKERS)})
WEBKIT = Engine(
    "webkit", "WebKit", "TFJS_PARITY_WEBKIT",
    ("/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.0/MiniBrowser",
     "/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1/MiniBrowser"),
    ("webkit2gtk-driver", "xvfb"),
    # WebKitGTK's MiniBrowser, driven with WebDriver (WebKitWebDriver): headless, the session hung.
    headed=True, webdriver="WebKitWebDriver",
    out_of_scope={
        "wasm": "threaded WASM is out of scope on WebKitGTK 2.50: although the page is cross-origin isolated, tfjs "
                "finds no WASM thread support (WASM_HAS_MULTITHREAD_SUPPORT false) and runs the SIMD binary on 1 "
                "thread; webkit:wasm:1thread checks that",
        "webgpu": "WebGPU on WebKitGTK is out of scope here: WebKitGTK 2.50 has no navigator.gpu, and these machines "
                  "have no GPU",
    })
CHROMIUM_ARGS = (
    # The machines this runs on have no network; without these Chromium floods it with requests.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    # WebGL/WebGPU on SwiftShader when there is no GPU.
    "--enable-unsafe-swiftshader",
    "--enable-unsafe-webgpu",
    "--ignore-gpu-blocklist",
)


def chromium_args(insecure_origin: str | None) -> list[str]:
    """Chromium's command line; ``insecure_origin`` (the page's plain-HTTP origin off loopback, ``--serve-on``) is
    declared a secure context, which cross-origin isolation (threaded WASM) and WebGPU need."""
    if not insecure_origin:
        return list(CHROMIUM_ARGS)
    return [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={insecure_origin}"]


ENGINES: dict[str, Engine] = {engine.name: engine for engine in (CHROMIUM, FIREFOX, WEBKIT)}
DEFAULT_ENGINES: tuple[str, ...] = ("chromium",)


def split_engine(backend_id: str) -> tuple[Engine, str]:
    """``"firefox:webgl:f16"`` -> ``(FIREFOX, "webgl:f16")``; an id without an engine runs on Chromium."""
    head, separator, rest = backend_id.partition(":")
    if separator and head in ENGINES:
        return ENGINES[head], rest
    return CHROMIUM, backend_id


def engine_names(raw: str, option: str) -> tuple[str, ...]:
    """The engines ``--browsers`` names, each a known one; else a ``UsageError`` naming ``option``."""
    names = comma_list(raw)
    unknown = [name for name in names if name not in ENGINES]
    if not names or unknown:
        raise UsageError(f"{option}: unknown browser {', '.join(unknown) or '(empty)'}; choose from "
                         f"{', '.join(ENGINES)}")
    return names


def with_engines(backends: tuple[str, ...], engines: tuple[str, ...]) -> tuple[str, ...]:
    """Every backend id on every engine, engine by engine: ``cpu, webgl, firefox:cpu, firefox:webgl``."""
    return tuple(backend if engine == CHROMIUM.name else f"{engine}:{backend}"
                 for engine in engines for backend in backends)


def engines_of(backends: tuple[str, ...]) -> tuple[str, ...]:
    """The engines ``backends`` run on, in order of first use."""
    return tuple(dict.fromkeys(split_engine(backend)[0].name for backend in backends))
