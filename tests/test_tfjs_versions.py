"""Your tfjs version: ``--tfjs VERSION`` installs a published version on first use into the per-user
cache (npm, kept as installed: a changed bundle is reinstalled from the lock), ``--tfjs-dir`` serves
the bundles an app already has, and the report records every bundle file served with its sha256."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli, small_keras_model
from harness import cli
from harness.browser import tfjs_cache
from harness.browser.tfjs_versions import pinned_install, select_tfjs
from harness.browser.web_assets import BUNDLE_FILES

# Its module fixtures are built once: the module runs on one xdist worker (`make test` uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("tfjs_versions")

OLDER = "4.21.0"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A per-user cache of this module's own, so the first use really installs."""
    root = tmp_path_factory.mktemp("tfjs-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(tfjs_cache.CACHE_ENV, str(root))
        yield root


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfjs-model") / "model.h5"
    small_keras_model(4).save(path)
    return path


@pytest.fixture
def app(tmp_path):
    """An app's node_modules holding only @tensorflow/tfjs (no wasm or webgpu backend), as npm put it."""
    pinned = pinned_install().node_modules / "@tensorflow" / "tfjs"
    package = tmp_path / "app" / "node_modules" / "@tensorflow" / "tfjs"
    (package / "dist").mkdir(parents=True)
    shutil.copy(pinned / "package.json", package / "package.json")
    shutil.copy(pinned / "dist" / "tf.min.js", package / "dist" / "tf.min.js")
    return tmp_path / "app"


def check(tmp_path, capsys, *args):
    status = run_cli(["check", *map(str, args), "--out", str(tmp_path / "report")])
    captured = capsys.readouterr()
    path = tmp_path / "report" / "parity.json"
    return status, captured.out + captured.err, json.loads(path.read_text()) if path.exists() else None


def test_not_a_version_is_a_usage_error(capsys):
    assert cli.main(["check", "model.h5", "--tfjs", "latest"]) == cli.EXIT_USAGE
    assert "--tfjs 'latest': not a tfjs version (like 4.21.0)" in capsys.readouterr().err


def test_without_npm_the_error_says_what_to_install(cache, monkeypatch):
    monkeypatch.setattr(tfjs_cache.shutil, "which", lambda name: None)
    with pytest.raises(tfjs_cache.UnknownTfjsVersionError, match="npm .* is not on PATH; install Node.js"):
        select_tfjs(("4.20.0",))


def test_a_version_npm_does_not_have_is_named(cache):
    with pytest.raises(tfjs_cache.UnknownTfjsVersionError, match="has no published version 4.99.0"):
        select_tfjs(("4.99.0",))
    assert not (cache / "tfjs" / "4.99.0").exists()


def test_the_default_version_needs_no_install(cache):
    default = pinned_install()
    assert select_tfjs((default.version,)).versions == {}


@pytest.mark.browser
def test_an_older_version_is_installed_on_first_use_and_its_bundles_are_recorded(cache, model, tmp_path, capsys):
    status, output, report = check(tmp_path, capsys, model, "--tfjs", f"{OLDER},{pinned_install().version}",
                                   "--backends", "cpu,wasm", "--checks", "predict")
    assert status == cli.EXIT_PASS, output
    assert f"installed tfjs {OLDER} (tfjs, tfjs-backend-wasm, tfjs-backend-webgpu) into {cache}" in output
    rows = {(r["check"], r["backend"]): r["status"] for r in report["results"]}
    assert rows[("predict", f"wasm@{OLDER}")] == "pass" and rows[("predict", f"cpu@{OLDER}")] == "pass"
    assert report["environment"]["backends"][f"cpu@{OLDER}"]["tfjsVersion"] == OLDER
    served = report["environment"]["tfjs_bundles"]
    older = served[f"/tfjs/tfjs@{OLDER}/tf.min.js"]
    assert older["version"] == OLDER and older["file"].startswith(str(cache))
    assert older["sha256"] == hashlib.sha256(Path(older["file"]).read_bytes()).hexdigest()
    assert f"/tfjs/tfjs-backend-wasm@{OLDER}/tfjs-backend-wasm-threaded-simd.wasm" in served
    assert "tfjs bundles served" in (tmp_path / "report" / "parity.md").read_text()


@pytest.mark.browser
def test_a_changed_bundle_in_the_cache_is_reinstalled_from_the_lock(cache, capsys):
    tfjs_cache.cached_install(OLDER)  # installed by the test above, or now
    bundle = cache / "tfjs" / OLDER / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"
    recorded = json.loads((cache / "tfjs" / OLDER / tfjs_cache.HASHES).read_text())
    bundle.write_text("self.tf = {};  // tampered")
    tfjs_cache.cached_install(OLDER)
    assert "node_modules/@tensorflow/tfjs/dist/tf.min.js changed since it was installed" in capsys.readouterr().err
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == recorded[str(bundle.relative_to(cache / "tfjs" / OLDER))]


@pytest.mark.browser
def test_an_apps_own_node_modules_is_served(app, model, tmp_path, capsys):
    status, output, report = check(tmp_path, capsys, model, "--tfjs-dir", app, "--backends", "cpu,webgl",
                                   "--checks", "predict")
    assert status == cli.EXIT_PASS, output
    served = report["environment"]["tfjs_bundles"]
    assert served["/tfjs/tfjs/tf.min.js"]["file"] == str(app / "node_modules/@tensorflow/tfjs/dist/tf.min.js")


def test_an_app_without_the_wasm_backend_is_refused_naming_the_package(app, capsys):
    assert cli.main(["check", "model.h5", "--tfjs-dir", str(app), "--backends", "cpu,wasm"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--backends wasm: tfjs" in err and f"(--tfjs-dir {app}) has no @tensorflow/tfjs-backend-wasm" in err


def test_a_folder_without_tfjs_is_refused(tmp_path, capsys):
    assert cli.main(["check", "model.h5", "--tfjs-dir", str(tmp_path)]) == cli.EXIT_USAGE
    assert f"--tfjs-dir {tmp_path}: no @tensorflow/tfjs/package.json" in capsys.readouterr().err


def test_every_bundle_file_name_is_one_the_page_or_tfjs_loads():
    page = (Path(__file__).resolve().parent.parent / "web" / "tfjs_versions.js").read_text()
    for package, files in BUNDLE_FILES.items():
        assert f"['{package}', '{files[0]}']" in page
