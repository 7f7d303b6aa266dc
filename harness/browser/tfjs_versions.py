"""Which tfjs the page runs: the default bundles, and other versions side by side.

The default is the harness's pinned version (``web/package.json``, or the wheel's copy), or with
``--tfjs-dir DIR`` the bundles an app already has in its ``node_modules/@tensorflow``. Each version
named by ``--tfjs`` is the default when it is the default's version, else installed on first use into
the per-user cache (``tfjs_cache``). The server serves version V of package P at ``/tfjs/P@V/`` and
the default at ``/tfjs/P/``, and only the files of ``web_assets.BUNDLE_FILES``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.browser.backends import TFJS_BACKENDS, backend_variant, split_backend_id
from harness.browser.tfjs_cache import UnknownTfjsVersionError, cached_install
from harness.browser.web_assets import TFJS_PACKAGES, web_dir
from harness.errors import SetupError

# The tfjs package a backend needs besides @tensorflow/tfjs (which holds cpu and webgl).


@dataclass(frozen=True)
class TfjsInstall:
    """One tfjs version on disk: a ``node_modules`` folder holding ``@tensorflow/<package>/dist``, and where
    it came from (the harness's pinned default, ``--tfjs-dir``, or the cache)."""

    version: str
    node_modules: Path
    origin: str

    def dist(self, package: str) -> Path:
        return self.node_modules / "@tensorflow" / package / "dist"

    def has(self, package: str) -> bool:
        return self.dist(package).is_dir()


def read_install(node_modules: Path, origin: str) -> TfjsInstall | None:
    """The tfjs in ``node_modules`` (its ``@tensorflow/tfjs/package.json`` names the version), or None."""
    manifest = node_modules / "@tensorflow" / "tfjs" / "package.json"
    if not manifest.is_file():
        return None
    return TfjsInstall(json.loads(manifest.read_text())["version"], node_modules, origin)


def app_install(directory: Path) -> TfjsInstall:
    """``--tfjs-dir``: an app's ``node_modules`` (or the folder holding it) with ``@tensorflow/tfjs``."""
    for node_modules in (directory, directory / "node_modules"):
        install = read_install(node_modules, f"--tfjs-dir {directory}")
        if install is not None:
            return install
    raise UnknownTfjsVersionError(f"--tfjs-dir {directory}: no @tensorflow/tfjs/package.json in it or in its "
                                  "node_modules/ (give your app's node_modules, where `npm install @tensorflow/tfjs` "
                                  "put it)")


def pinned_install() -> TfjsInstall | None:
    """The harness's own default tfjs (``web/node_modules``), or None before ``npm ci``."""
    return read_install(web_dir() / "node_modules", "pinned by tfjs-parity (web/package.json)")


@dataclass(frozen=True)
class TfjsSelection:
    """The run's tfjs: the default install and each other version by its number."""

    default: TfjsInstall | None
    versions: dict[str, TfjsInstall] = field(default_factory=dict)

    def dist_directories(self) -> dict[str, Path]:
        """URL package key (``tfjs``, ``tfjs-backend-wasm@4.21.0``...) -> ``dist`` folder, for every package held."""
        found: dict[str, Path] = {}
        installs: list[tuple[str, TfjsInstall]] = [("", self.default)] if self.default else []
        installs += [(f"@{version}", install) for version, install in self.versions.items()]
        if self.default:
            installs.append((f"@{self.default.version}", self.default))
        for suffix, install in installs:
            found.update({f"{p}{suffix}": install.dist(p) for p in TFJS_PACKAGES if install.has(p)})
        return found

    def install_of(self, version: str | None) -> TfjsInstall | None:
        """The install a backend id's version (None: the default) runs."""
        if version is None or (self.default and version == self.default.version):
            return self.default
        return self.versions.get(version)


def select_tfjs(versions: tuple[str, ...] = (), tfjs_dir: Path | None = None,
                install: Callable[[str], Path] = cached_install) -> TfjsSelection:
    """The default (``tfjs_dir``'s or the pinned one) and every one of ``versions``, each other version's
    ``node_modules`` from ``install`` (the per-user cache, installed on first use)."""
    default = app_install(tfjs_dir) if tfjs_dir is not None else pinned_install()
    others = {v: _cached(v, install(v)) for v in dict.fromkeys(versions) if default is None or v != default.version}
    return TfjsSelection(default, others)


def _cached(version: str, node_modules: Path) -> TfjsInstall:
    install = read_install(node_modules, f"installed by npm into {node_modules.parent}")
    if install is None or install.version != version:
        raise SetupError(f"tfjs {version} in {node_modules.parent} is incomplete; remove that folder to install it "
                         "afresh")
    return install


def check_backends(selection: TfjsSelection, backend_ids: tuple[str, ...]) -> None:
    """Raise ``UnknownTfjsVersionError`` naming the package when a backend's tfjs lacks the package it needs
    (an app without ``@tensorflow/tfjs-backend-wasm``; webgpu before tfjs 4.6.0)."""
    for backend_id in backend_ids:
        _, version = split_backend_id(backend_id)
        install = selection.install_of(version)
        package = TFJS_BACKENDS[backend_variant(backend_id).tfjs_backend].package
        if install is not None and not install.has(package):
            raise UnknownTfjsVersionError(
                f"--backends {backend_id}: tfjs {install.version} ({install.origin}) has no @tensorflow/{package}; "
                f"install it beside @tensorflow/tfjs, or leave {backend_id} out of --backends")
