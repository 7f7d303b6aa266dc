"""The page's files: where ``web/`` is (an installed wheel's ``harness/web/`` or the checkout's ``web/``),
and what a wheel carries of it: the page scripts, the default tfjs bundles and their licences.

``setup.py`` calls ``stage_web`` when it builds a wheel, so ``pip install tfjs-parity-*.whl`` is enough
to serve the page anywhere; an editable install and the checkout serve ``web/`` itself.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from harness.browser.backends import bundle_files
from harness.errors import SetupError

WHEEL_WEB_DIR = Path(__file__).resolve().parents[1] / "web"
CHECKOUT_WEB_DIR = Path(__file__).resolve().parents[2] / "web"
PAGE_FILE_SUFFIXES = {".html", ".js", ".css"}
LICENCES = "licenses"
# The files of each package the page loads (the backends' records): the server serves these and nothing else of a
# package.
BUNDLE_FILES: dict[str, tuple[str, ...]] = bundle_files()
TFJS_PACKAGES = tuple(BUNDLE_FILES)

# What each served bundle holds besides its own package, from the bundles' rollup inputs: the notice
# names every package whose code is served, with its version and licence.
BUNDLED_PACKAGES: dict[str, tuple[str, ...]] = {
    "tfjs": ("@tensorflow/tfjs-core", "@tensorflow/tfjs-layers", "@tensorflow/tfjs-converter",
             "@tensorflow/tfjs-data", "@tensorflow/tfjs-backend-cpu", "@tensorflow/tfjs-backend-webgl",
             "long", "seedrandom"),
    "tfjs-backend-wasm": (),
    "tfjs-backend-webgpu": (),
}
# Licence texts for packages whose npm tarball ships none (the tfjs packages ship no LICENSE file).
COMMITTED_TEXTS = {"Apache-2.0": "Apache-2.0.txt", "MIT": "MIT-tfjs-layers.txt"}
_BLOCK_COMMENT = re.compile(r"\A\s*/\*(?P<text>.*?)\*/", re.S)
_LICENCE_SECTION = re.compile(r"^#*\s*licen[cs]e\b.*", re.I | re.M | re.S)


def web_dir() -> Path:
    """The page's folder: the wheel's copy when this is an installed wheel, else the checkout's ``web/``."""
    return WHEEL_WEB_DIR if WHEEL_WEB_DIR.is_dir() else CHECKOUT_WEB_DIR


def stage_web(source: Path, target: Path) -> list[Path]:
    """Copy what the page needs from the checkout's ``source`` (``web/``, after ``npm ci``) into ``target``
    (the wheel's ``harness/web``): page scripts, the default version's bundles with their ``package.json``,
    and ``licenses/`` (the texts and a ``NOTICE.md`` naming every package served). Returns the files written."""
    node_modules = source / "node_modules"
    missing = [f"@tensorflow/{p}/dist/{f}" for p, files in BUNDLE_FILES.items() for f in files
               if not (node_modules / "@tensorflow" / p / "dist" / f).is_file()]
    if missing:
        raise SetupError(f"cannot build the wheel: {node_modules} lacks {', '.join(missing)}; run `npm ci` in "
                         f"{source} first (`make dist` does)")
    if target.exists():
        shutil.rmtree(target)
    copies = {source / p.name: target / p.name for p in source.iterdir() if p.suffix in PAGE_FILE_SUFFIXES}
    for package, files in BUNDLE_FILES.items():
        root = node_modules / "@tensorflow" / package
        copies[root / "package.json"] = target / "node_modules" / "@tensorflow" / package / "package.json"
        copies.update({root / "dist" / f: target / "node_modules" / "@tensorflow" / package / "dist" / f
                       for f in files})
    for text in COMMITTED_TEXTS.values():
        copies[source / LICENCES / text] = target / LICENCES / text
    for origin, destination in copies.items():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, destination)
    written = list(copies.values()) + _write_notice(node_modules, target / LICENCES)
    return sorted(written)


def _write_notice(node_modules: Path, licences: Path) -> list[Path]:
    """``NOTICE.md`` (package, version, licence, text) for every package served, plus the licence texts that
    npm packages ship themselves (``long``'s LICENSE, ``seedrandom``'s header)."""
    rows, written = [], []
    for package, inside in BUNDLED_PACKAGES.items():
        for name in (f"@tensorflow/{package}", *inside):
            manifest = json.loads((node_modules / name / "package.json").read_text())
            text = _own_licence_text(node_modules / name)
            if text is not None:
                own = licences / f"{name.replace('/', '+')}.txt"
                own.write_text(text)
                written.append(own)
                files = own.name
            else:
                files = " and ".join(COMMITTED_TEXTS[kind] for kind in COMMITTED_TEXTS
                                     if kind in manifest["license"])
            rows.append(f"| {name} | {manifest['version']} | {manifest['license']} | "
                        f"`@tensorflow/{package}` | {files} |")
    notice = licences / "NOTICE.md"
    notice.write_text(
        "# Third-party code served to the page\n\n"
        "tfjs-parity's wheel carries these TensorFlow.js bundles (`node_modules/@tensorflow/*/dist/`), which\n"
        "hold the code of the packages below. The tfjs packages ship no licence file; their declared\n"
        "licences' texts are given here.\n\n"
        "| package | version | licence | in the bundle of | text |\n|---|---|---|---|---|\n"
        + "\n".join(rows) + "\n")
    return [*written, notice]


def _own_licence_text(package_dir: Path) -> str | None:
    """The licence text a package ships: its LICENSE file; else its README's licence section followed by
    the notices heading its scripts (``seedrandom`` has no LICENSE, and its generators carry their own)."""
    for name in ("LICENSE", "LICENSE.md", "LICENSE.txt", "license"):
        if (package_dir / name).is_file():
            return (package_dir / name).read_text()
    readme = package_dir / "README.md"
    section = _LICENCE_SECTION.search(readme.read_text()) if readme.is_file() else None
    if section is None:
        return None
    notices = [f"{script.relative_to(package_dir)}:\n{_leading_comment(script)}"
               for script in sorted(package_dir.glob("*.js")) + sorted(package_dir.glob("lib/*.js"))
               if not script.name.endswith(".min.js") and "Permission is hereby granted" in _leading_comment(script)]
    return "\n\n".join([section.group(0).strip(), *notices]) + "\n"


def _leading_comment(script: Path) -> str:
    """The comment block a script starts with (``/* */`` or ``//`` lines), without its comment marks."""
    text = script.read_text(errors="replace")
    block = _BLOCK_COMMENT.match(text)
    if block:
        return block["text"].strip()
    lines = []
    for line in text.lstrip().splitlines():
        if not line.startswith("//") and line.strip():
            break
        lines.append(line[2:].strip() if line.startswith("//") else "")
    return "\n".join(lines).strip()
