"""The built wheel works anywhere: it holds every module, the page scripts, the default tfjs bundles
with their licences, and the entry points; installed in a fresh virtual environment outside the
checkout (its dependencies taken from this environment), it checks a model in the browser."""

import json
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.browser.web_assets import BUNDLE_FILES

# Its module fixtures are built once: the module runs on one xdist worker (`make test` uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("packaging")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `make dist` builds, built from a copy of the checkout (setuptools writes build/ in place)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "harness", source / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "web", source / "web", ignore=shutil.ignore_patterns("node_modules"))
    (source / "web" / "node_modules").symlink_to(ROOT / "web" / "node_modules")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            "--wheel-dir", str(tmp / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    [built_wheel] = (tmp / "dist").glob("tfjs_parity-*.whl")
    return built_wheel


def test_the_wheel_holds_every_module_and_the_entry_points(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "harness").rglob("*.py")}
    assert len(modules) > 40
    assert sorted(modules - names) == []
    assert "harness/py.typed" in names
    [entry_points] = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "tfjs-parity = harness.cli:console_main" in text and "tfjs_parity = harness.plugin" in text


def test_the_wheel_holds_the_page_the_default_bundles_and_their_licences(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    page = {f"harness/web/{p.name}" for p in (ROOT / "web").iterdir() if p.suffix in (".html", ".js")}
    assert "harness/web/index.html" in page and "harness/web/worker.js" in page
    bundles = {f"harness/web/node_modules/@tensorflow/{package}/dist/{name}"
               for package, files in BUNDLE_FILES.items() for name in files}
    assert sorted((page | bundles) - names) == []
    assert not [n for n in names if n.endswith(".map") or "tfjs-4." in n], "only the default bundles, no source maps"
    notice = zipfile.ZipFile(wheel).read("harness/web/licenses/NOTICE.md").decode()
    for package in ("@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-wasm", "long", "seedrandom"):
        assert f"| {package} |" in notice
    for text in ("Apache-2.0.txt", "MIT-tfjs-layers.txt", "long.txt", "seedrandom.txt"):
        assert f"harness/web/licenses/{text}" in names
    assert "Permission is hereby granted" in zipfile.ZipFile(wheel).read("harness/web/licenses/seedrandom.txt").decode()


@pytest.mark.browser
def test_the_installed_wheel_checks_a_model_outside_the_checkout(wheel, tmp_path):
    from harness.reference.keras_env import configure_tensorflow_environment

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                                "--no-deps", str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    # The dependencies (TensorFlow, Playwright...) come from this environment, appended after the venv's own
    # site-packages; its .pth files (the editable install of the checkout) are not read from there.
    [purelib] = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.split()
    (Path(purelib) / "project-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    project = tmp_path / "project"
    project.mkdir()
    configure_tensorflow_environment()
    import tf_keras as keras

    keras.utils.set_random_seed(3)
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(2)]).save(
        project / "model.h5")

    where = subprocess.run([str(python), "-c", "import harness; print(harness.__file__)"], cwd=project,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(venv)), where
    run = subprocess.run([str(venv / "bin" / "tfjs-parity"), "check", "model.h5", "--backends", "cpu,wasm",
                          "--checks", "topology,predict", "--out", "report"],
                         cwd=project, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((project / "report" / "parity.json").read_text())
    rows = {(r["check"], r["backend"]): r["status"] for r in report["results"]}
    assert {("predict", "cpu"), ("predict", "wasm"), ("topology", "wasm")} <= set(rows)
    assert set(rows.values()) == {"pass"}
