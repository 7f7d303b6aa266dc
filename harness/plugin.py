"""The pytest plugin (registered through the ``pytest11`` entry point).

Options: ``--models``, ``--backends``, ``--parity-report DIR``, ``--parity-timeout``,
``--parity-fixtures``, ``--parity-upload-limit-mib``. A test that asks for ``parity_model`` and
``parity_backend`` is run for each selected pair, with ids like ``test_predict[mlp-webgl]``. Heavy
modules are imported inside fixtures so ``pytest --help`` stays fast and never imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.options import DEFAULT_TIMEOUT_S, DEFAULT_UPLOAD_LIMIT_MIB, comma_list, mib_to_bytes

if TYPE_CHECKING:
    from harness.reference.directory import ReferenceModel
    from harness.results import CheckResult
    from harness.run.session import ParitySession

RESULTS_KEY = pytest.StashKey[list["CheckResult"]]()
ENVIRONMENT_KEY = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    from harness.browser.backends import DEFAULT_BACKENDS

    backends = ",".join(DEFAULT_BACKENDS)
    group = parser.getgroup("tfjs-parity", "Keras vs TensorFlow.js parity")
    group.addoption("--models", default=None, help="comma-separated zoo models to check (default: all)")
    group.addoption("--backends", default=backends, help=f"comma-separated tfjs backends (default: {backends})")
    group.addoption("--parity-report", default=None, metavar="DIR", help="write parity.json and parity.md into DIR")
    group.addoption("--parity-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                    help=f"per-check timeout in seconds (default: {DEFAULT_TIMEOUT_S:g})")
    group.addoption("--parity-fixtures", default=None, metavar="DIR",
                    help="fixture cache directory (default: fixtures/)")
    group.addoption("--parity-upload-limit-mib", type=float, default=DEFAULT_UPLOAD_LIMIT_MIB,
                    help=f"largest model upload the server accepts from the page, in MiB (default: "
                         f"{DEFAULT_UPLOAD_LIMIT_MIB:g})")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: needs the parity server and headless Chromium")
    config.stash[RESULTS_KEY] = []
    _selected(config)  # a bad --models/--backends is a usage error before collection


def _selected(config: pytest.Config) -> tuple[list[str], list[str]]:
    from harness.errors import UsageError
    from harness.reference.zoo import ZOO, get_spec
    from harness.verdict.tolerances import predict_tolerance

    models = list(comma_list(config.getoption("models") or ",".join(ZOO)))
    backends = list(comma_list(config.getoption("backends")))
    try:
        for model in models:
            get_spec(model)
        for backend in backends:
            predict_tolerance(backend)
    except UsageError as error:
        raise pytest.UsageError(f"tfjs-parity: {error}") from None
    return models, backends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "parity_model" not in names and "parity_backend" not in names:
        return
    models, backends = _selected(metafunc.config)
    if "parity_model" in names and "parity_backend" in names:
        pairs = [(m, b) for m in models for b in backends]
        metafunc.parametrize(("parity_model", "parity_backend"), pairs, ids=[f"{m}-{b}" for m, b in pairs])
    elif "parity_model" in names:
        metafunc.parametrize("parity_model", models, ids=models)
    else:
        metafunc.parametrize("parity_backend", backends, ids=backends)


@pytest.fixture(scope="session")
def parity_references(pytestconfig: pytest.Config) -> dict[str, ReferenceModel]:
    """The selected zoo models' references, built once and cached. Example: ``parity_references["mlp"]``."""
    from harness.reference.cache import DEFAULT_FIXTURES_DIR, ensure_references

    models, _ = _selected(pytestconfig)
    root = pytestconfig.getoption("parity_fixtures")
    return ensure_references(models, Path(root) if root else DEFAULT_FIXTURES_DIR)


@pytest.fixture(scope="session")
def parity_session(
    pytestconfig: pytest.Config, parity_references: dict[str, ReferenceModel]
) -> Iterator[ParitySession]:
    """One server and one browser per test session. Example: ``parity_session.run_check("predict", ref, "wasm")``."""
    from harness.run.session import ParitySession, reference_environment

    results = pytestconfig.stash[RESULTS_KEY]
    upload_limit = mib_to_bytes(pytestconfig.getoption("parity_upload_limit_mib"))
    with ParitySession(pytestconfig.getoption("parity_timeout"), on_result=results.append,
                       upload_limit=upload_limit) as session:
        yield session
        pytestconfig.stash[ENVIRONMENT_KEY] = {**session.environment(), **reference_environment(parity_references)}


@pytest.fixture
def reference_model(parity_references: dict[str, ReferenceModel], parity_model: str) -> ReferenceModel:
    """The reference of the model under test. Example: ``def test_x(reference_model): ...``."""
    return parity_references[parity_model]


def assert_passed(result: CheckResult) -> None:
    """Fail the test with the check's own message unless the check passed; a known upstream bug
    (``xfail``) and a check tfjs cannot run here (``skip``) are reported as such."""
    __tracebackhide__ = True
    if result.status == "xfail":
        pytest.xfail(result.message)
    if result.status == "skip":
        pytest.skip(result.message)
    if result.status != "pass":
        pytest.fail(f"[{result.status}] {result.message}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    directory = config.getoption("parity_report")
    if not directory:
        return
    from harness.report.parts import merge_parts, write_part

    results = config.stash[RESULTS_KEY]
    environment = config.stash.get(ENVIRONMENT_KEY, {})
    # xdist gives its workers `workerinput`; the environment variable would leak into subprocesses.
    worker = getattr(config, "workerinput", {}).get("workerid")
    if results:
        write_part(Path(directory), worker or "main", environment, results)
    if worker is None:
        merge_parts(Path(directory))
