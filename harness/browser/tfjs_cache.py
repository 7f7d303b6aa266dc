"""tfjs versions installed on first use into a per-user cache, with npm, and kept as installed.

``$TFJS_PARITY_CACHE`` (else ``$XDG_CACHE_HOME/tfjs-parity``, else ``~/.cache/tfjs-parity``) holds
``tfjs/<VERSION>/``: a ``package.json`` pinning ``@tensorflow/tfjs``, ``-backend-wasm`` and (from 4.6.0,
its first release at tfjs' numbers) ``-backend-webgpu`` at exactly VERSION, npm's ``package-lock.json``
with each tarball's integrity hash, ``node_modules/``, and ``bundles.json``: the sha256 of every
bundle file as installed. A bundle that no longer matches is reinstalled with ``npm ci`` from the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.browser.web_assets import BUNDLE_FILES
from harness.errors import SetupError, UsageError

CACHE_ENV = "TFJS_PARITY_CACHE"
NPM_TIMEOUT_S = 600
HASHES = "bundles.json"
_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$")
_NPM_QUIET = ["--no-audit", "--no-fund", "--ignore-scripts", "--legacy-peer-deps", "--loglevel=error"]


class UnknownTfjsVersionError(UsageError):
    """A requested tfjs version cannot be had: not published, no npm, or not in ``--tfjs-dir``."""


def cache_root() -> Path:
    """The per-user cache folder of tfjs-parity."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tfjs-parity"


def cached_install(version: str) -> Path:
    """The ``node_modules`` of tfjs ``version`` in the cache, installed with npm on first use and reinstalled
    from its lock when a bundle changed. ``UnknownTfjsVersionError`` for a version npm does not have or
    without npm."""
    if not _VERSION.match(version):
        raise UnknownTfjsVersionError(f"--tfjs {version!r}: not a tfjs version (like 4.21.0)")
    directory = cache_root() / "tfjs" / version
    if not (directory / HASHES).is_file():
        _install(version, directory)
    changed = _changed_bundles(directory)
    if changed:
        print(f"tfjs-parity: tfjs {version} in {directory}: {', '.join(changed)} changed since it was installed; "
              "reinstalling it from its lock file", file=sys.stderr)
        _npm(["ci", *_NPM_QUIET], directory, f"reinstall tfjs {version}")
        still = _changed_bundles(directory)
        if still:
            raise SetupError(f"tfjs {version} in {directory}: {', '.join(still)} still differ from {HASHES} after "
                             f"`npm ci`; remove {directory} to install it afresh")
    return directory / "node_modules"


def _install(version: str, directory: Path) -> None:
    """``npm install`` the packages at exactly ``version`` in a fresh folder, then move it into place."""
    if shutil.which("npm") is None:
        raise UnknownTfjsVersionError(
            f"--tfjs {version}: not installed, and npm (which installs it) is not on PATH; install Node.js with npm, "
            "or pass --tfjs-dir with a node_modules that holds that version")
    packages = [p for p in BUNDLE_FILES if _published(p, version)]
    if "tfjs" not in packages or "tfjs-backend-wasm" not in packages:
        raise UnknownTfjsVersionError(f"--tfjs {version}: @tensorflow/tfjs or -backend-wasm has no published "
                                      f"version {version} (see `npm view @tensorflow/tfjs versions`)")
    started = time.perf_counter()
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=directory.parent))
    try:
        manifest = {"private": True, "description": f"tfjs {version} for tfjs-parity",
                    "dependencies": {f"@tensorflow/{p}": version for p in packages}}
        (staging / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        _npm(["install", *_NPM_QUIET], staging, f"install tfjs {version}")
        hashes = {str(path.relative_to(staging)): _sha256(path) for path in _bundle_paths(staging)}
        (staging / HASHES).write_text(json.dumps(hashes, indent=2) + "\n")
        try:
            staging.rename(directory)
        except OSError:  # another process installed it meanwhile
            if not (directory / HASHES).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"tfjs-parity: installed tfjs {version} ({', '.join(packages)}) into {directory} with npm in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)


def _published(package: str, version: str) -> bool:
    shown = _npm(["view", f"@tensorflow/{package}@{version}", "version", "--json"], None, "ask npm for tfjs",
                 missing_ok=True)
    return bool(shown.strip())


def _npm(arguments: list[str], cwd: Path | None, what: str, missing_ok: bool = False) -> str:
    """Run npm; its output ("" for a 404 when ``missing_ok``), or ``SetupError`` with npm's own last lines."""
    try:
        done = subprocess.run(["npm", *arguments], cwd=cwd, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SetupError(f"cannot {what}: `npm {' '.join(arguments)}` took more than {NPM_TIMEOUT_S} s") from None
    if done.returncode != 0 and missing_ok and "E404" in done.stderr:
        return ""
    if done.returncode != 0:
        tail = "\n".join(line for line in done.stderr.strip().splitlines()[-6:] if "Unknown user config" not in line)
        raise SetupError(f"cannot {what}: `npm {' '.join(arguments)}` failed:\n{tail}")
    return done.stdout


def _bundle_paths(directory: Path) -> list[Path]:
    return [directory / "node_modules" / "@tensorflow" / p / "dist" / f for p, files in BUNDLE_FILES.items()
            for f in files if (directory / "node_modules" / "@tensorflow" / p / "dist" / f).is_file()]


def _changed_bundles(directory: Path) -> list[str]:
    """The bundle files whose sha256 differs from (or that are missing against) ``bundles.json``."""
    recorded = json.loads((directory / HASHES).read_text())
    return [name for name, digest in recorded.items()
            if not (directory / name).is_file() or _sha256(directory / name) != digest]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
