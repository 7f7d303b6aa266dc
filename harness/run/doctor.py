"""``tfjs-parity doctor``: can a run work here, and if not, what to do.

It looks at what a run needs, in the order a run needs it: the Python libraries (tensorflow,
tf_keras, tensorflowjs import), a Chromium (path, version, how it was found), the tfjs bundles
(the default and the versions in the per-user cache), npm (only for other tfjs versions), and then,
in the browser, each backend's facts: WebGL's renderer and float32 render targets, WASM's SIMD,
threads and cross-origin isolation, WebGPU. Each finding is ``ok``, ``note`` (something optional is
missing) or ``problem`` (a run cannot work as asked) with its fix; a problem makes the exit status 1.
"""

from __future__ import annotations

import importlib
import shutil
from importlib import metadata
import subprocess
from dataclasses import dataclass
from typing import Any

from harness.browser.backends import DEFAULT_BACKENDS, TFJS_BACKENDS, backend_variant
from harness.browser.display import display_available
from harness.browser.engines import CHROMIUM, ENGINES, Engine
from harness.browser.tfjs_cache import HASHES, cache_root
from harness.browser.tfjs_versions import pinned_install
from harness.errors import HarnessError
from harness.reference.keras_env import configure_tensorflow_environment
from harness.reference.onnx_build import INSTALL_HINT as ONNX_INSTALL_HINT
from harness.reference.torch_build import TORCH_INSTALL_HINT

LIBRARIES = (("tensorflow", "tensorflow"), ("tf_keras", "tf-keras"), ("tensorflowjs", "tensorflowjs"))
PIN_HINT = ("pip install -c constraints.txt tfjs-parity (constraints.txt from the tfjs-parity release: versions known "
            "to install together)")


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's answer."""

    status: str  # "ok", "note" or "problem"
    what: str
    detail: str
    fix: str = ""


def diagnose(timeout_s: float = 60.0) -> list[Finding]:
    """Every finding, from the Python libraries to each backend's facts in the browser."""
    bundles, chromium = _tfjs_bundles(), _browser(CHROMIUM)
    others = [_browser(engine) for engine in ENGINES.values() if engine is not CHROMIUM]
    findings = [*_libraries(), *_model_routes(), bundles, _cached_versions(), _npm(), chromium, *others]
    if chromium.status == "ok" and bundles.status == "ok":
        findings += _backends(timeout_s)
    return findings


def _libraries() -> list[Finding]:
    configure_tensorflow_environment()
    found = []
    for module, package in LIBRARIES:
        try:
            version = getattr(importlib.import_module(module), "__version__", "?")
        except Exception as error:  # noqa: BLE001 - any import failure is the finding
            found.append(Finding("problem", package, f"does not import: {type(error).__name__}: {error}",
                                 PIN_HINT))
        else:
            found.append(Finding("ok", package, f"{version} imports"))
    return found


# The optional routes of `check`: what each needs installed (looked up, not imported: torch's import alone moves
# TensorFlow's float32 results, see reference.torch_build) and how to install it.
MODEL_ROUTES = (("ONNX route (check model.onnx)", ("onnx", "onnxruntime", "onnx2tf"), ONNX_INSTALL_HINT),
                ("PyTorch route (check FILE.py:FACTORY)", ("torch",), TORCH_INSTALL_HINT))


def _model_routes() -> list[Finding]:
    found = []
    for what, packages, hint in MODEL_ROUTES:
        versions, missing = [], []
        for package in packages:
            try:
                versions.append(f"{package} {metadata.version(package)}")
            except metadata.PackageNotFoundError:
                missing.append(package)
        found.append(Finding("note", what, f"{', '.join(missing)} not installed: optional", hint) if missing
                     else Finding("ok", what, ", ".join(versions)))
    return found


def _tfjs_bundles() -> Finding:
    install = pinned_install()
    if install is None:
        return Finding("problem", "tfjs bundles", "the default tfjs is not installed",
                       "in a checkout: `npm ci` in web/ (make setup does it); from a wheel: reinstall it")
    return Finding("ok", "tfjs bundles", f"{install.version} (default) in {install.node_modules}")


def _cached_versions() -> Finding:
    root = cache_root() / "tfjs"
    versions = sorted(p.name for p in root.glob("*") if (p / HASHES).is_file()) if root.is_dir() else []
    detail = f"{', '.join(versions)} in {root}" if versions else f"none yet ({root})"
    return Finding("ok", "other tfjs versions", detail + "; --tfjs VERSION installs one on first use")


def _npm() -> Finding:
    npm = shutil.which("npm")
    if npm is None:
        return Finding("note", "npm", "not on PATH: --tfjs cannot install other tfjs versions",
                       "install Node.js with npm, or use --tfjs-dir with a node_modules that has the version")
    version = subprocess.run([npm, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    return Finding("ok", "npm", f"{version} at {npm}")


def _browser(engine: Engine) -> Finding:
    """Where ``engine``'s browser is and how it was found; a problem for Chromium (every run needs it), a note for
    the others (only ``--browsers`` asks for them)."""
    from harness.browser.executables import browser_choice, playwright_build

    missing = "problem" if engine is CHROMIUM else "note"
    try:
        path, how = browser_choice(engine, playwright_build(engine))
    except HarnessError as error:
        return Finding("problem", engine.label, str(error), "fix or unset the variable")
    if path is None:
        return Finding(missing, engine.label, "none found",
                       f"python -m harness.browser.executables --ensure {engine.name} (Playwright's build, else "
                       f"apt-get install {' '.join(engine.apt_packages)}; or set {engine.env_var})")
    version = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    finding = Finding("ok", engine.label, f"{version or 'version unknown'} at {path} ({how})")
    driven_by_webdriver = engine.webdriver is not None and how != f"Playwright's own {engine.label}"
    if driven_by_webdriver and not shutil.which(engine.webdriver or ""):
        return Finding(missing, engine.label, f"{finding.detail}; it is driven over WebDriver and {engine.webdriver} "
                       "is missing", f"apt-get install -y {' '.join(engine.apt_packages)}")
    if engine.headed and not display_available():
        return Finding(missing, engine.label, f"{finding.detail}; it runs with a window and there is no Xvfb or "
                       "DISPLAY", "apt-get install -y xvfb")
    return finding


def _backends(timeout_s: float) -> list[Finding]:
    """Each default backend's page (and the optional ones': WebGPU's): its facts, or why it is not in effect."""
    from harness.run.session import ParitySession

    found = []
    try:
        with ParitySession(timeout_s) as session:
            for backend in (*DEFAULT_BACKENDS, *(name for name, record in TFJS_BACKENDS.items() if record.optional)):
                found.append(_backend(session, backend))
    except HarnessError as error:
        found.append(Finding("problem", "browser", f"cannot start: {error}", "see the Chromium line above"))
    return found


def _backend(session: Any, backend: str) -> Finding:
    record = TFJS_BACKENDS[backend_variant(backend).tfjs_backend]
    try:
        info = session.page(backend).info
    except Exception as error:  # noqa: BLE001 - the reason it cannot run is the finding
        first = str(error).splitlines()[0]
        return Finding("note" if record.optional else "problem", backend, f"not in effect: {first}", record.fix)
    return Finding("ok", backend, record.facts(info))


def render(findings: list[Finding]) -> str:
    """The findings, one per line, each problem or note followed by its fix."""
    lines = ["tfjs-parity doctor"]
    for finding in findings:
        lines.append(f"  {finding.status:<8}{finding.what}: {finding.detail}")
        if finding.fix and finding.status != "ok":
            lines.append(f"  {'':<8}fix: {finding.fix}")
    problems = sum(f.status == "problem" for f in findings)
    lines.append("ready: every default backend can run" if not problems else
                 f"{problems} problem{'s' if problems != 1 else ''}: a run cannot work as asked until fixed")
    return "\n".join(lines)
