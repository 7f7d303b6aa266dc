"""The tfjs versions installed in ``web/``: the default under ``@tensorflow/``, others through npm aliases.

``web/package.json`` pins the default version as ``@tensorflow/tfjs`` (and its wasm and webgpu
backends) and each other version as aliases named ``tfjs-VERSION``, ``tfjs-backend-wasm-VERSION``
and ``tfjs-backend-webgpu-VERSION``. The server serves version V of package P at ``/tfjs/P@V/``
and the default at ``/tfjs/P/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.errors import UsageError

# The files of each package the page loads (web/tfjs_versions.js, and the WASM binaries tfjs picks from):
# the server serves these and nothing else of a package.
BUNDLE_FILES: dict[str, tuple[str, ...]] = {
    "tfjs": ("tf.min.js",),
    "tfjs-backend-wasm": ("tf-backend-wasm.min.js", "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm",
                          "tfjs-backend-wasm-threaded-simd.wasm"),
    "tfjs-backend-webgpu": ("tf-backend-webgpu.min.js",),
}
TFJS_PACKAGES = tuple(BUNDLE_FILES)
_ALIAS = re.compile(r"^(?P<package>tfjs|tfjs-backend-wasm|tfjs-backend-webgpu)-(?P<version>\d+\.\d+\.\d+)$")


class UnknownTfjsVersionError(UsageError):
    """A requested tfjs version is not installed in web/."""


def dist_directories(node_modules: Path) -> dict[str, Path]:
    """URL package key (``tfjs``, ``tfjs@4.21.0``...) -> the package's ``dist`` folder, for every installed one
    (the default version under both its plain and its versioned key)."""
    found = {package: node_modules / "@tensorflow" / package / "dist" for package in TFJS_PACKAGES}
    default = default_version(node_modules)
    if default:
        found.update({f"{package}@{default}": found[package] for package in TFJS_PACKAGES})
    if node_modules.is_dir():
        for entry in sorted(node_modules.iterdir()):
            alias = _ALIAS.match(entry.name)
            if alias:
                found[f"{alias['package']}@{alias['version']}"] = entry / "dist"
    return found


def default_version(node_modules: Path) -> str | None:
    """The version of the default ``@tensorflow/tfjs``, or None if it is not installed."""
    manifest = node_modules / "@tensorflow" / "tfjs" / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


def installed_versions(node_modules: Path) -> tuple[str, ...]:
    """Every tfjs version the page can run: the default, and each aliased version with all three packages."""
    keys = dist_directories(node_modules)
    versions = sorted({key.split("@")[1] for key in keys if "@" in key}, key=lambda v: tuple(map(int, v.split("."))))
    return tuple(v for v in versions if all(keys.get(f"{p}@{v}", Path()).is_dir() for p in TFJS_PACKAGES))


def check_versions(requested: tuple[str, ...], node_modules: Path) -> None:
    """Raise ``UnknownTfjsVersionError`` naming what is installed unless every ``requested`` version is."""
    available = installed_versions(node_modules)
    missing = [v for v in requested if v not in available]
    if missing:
        raise UnknownTfjsVersionError(
            f"tfjs {', '.join(missing)} not installed in {node_modules} (installed: {', '.join(available) or 'none'}); "
            "add it to web/package.json as npm aliases tfjs-VERSION, tfjs-backend-wasm-VERSION and "
            "tfjs-backend-webgpu-VERSION")
