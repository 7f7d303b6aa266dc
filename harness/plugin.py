"""The pytest plugin (registered through the ``pytest11`` entry point).

For your own models, the ``parity`` fixture: ``parity.check("model.h5").assert_passed()`` runs the
same checks as ``tfjs-parity check`` in the session's browser and fails the test with the rows' own
messages. Its defaults come from ``parity_check_args`` (override it in your ``conftest.py``).

For the zoo, a test that asks for ``parity_model`` and ``parity_backend`` is run for each selected
pair, with ids like ``test_predict[mlp-webgl]``.

Options (one group, all ``--parity-*``): ``--parity-backends``, ``--parity-models``,
``--parity-report DIR``, ``--parity-timeout``, ``--parity-browsers``, ``--parity-tfjs``, ``--parity-tfjs-dir``,
``--parity-browser-endpoint``, ``--parity-fixtures``, ``--parity-upload-limit-mib``, ``--parity-accept-file``.
Known issues accepted there (and the zoo's own list, for the zoo's models) make their rows ``xfail``. Heavy modules are
imported inside fixtures so ``pytest --help`` stays fast and never imports TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.options import DEFAULT_TIMEOUT_S, DEFAULT_UPLOAD_LIMIT_MIB, comma_list, mib_to_bytes

if TYPE_CHECKING:
    from harness.browser.endpoints import BrowserEndpoint
    from harness.browser.tfjs_versions import TfjsSelection
    from harness.reference.directory import ReferenceModel
    from harness.results import CheckResult
    from harness.run.model_check import ModelChecker
    from harness.run.session import ParitySession
    from harness.verdict.acceptance import AcceptList

RESULTS_KEY = pytest.StashKey[list["CheckResult"]]()
ENVIRONMENT_KEY = pytest.StashKey[dict[str, Any]]()
REFERENCES_KEY = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    from harness.browser.backends import DEFAULT_BACKENDS, PROFILES

    backends = ",".join(DEFAULT_BACKENDS)
    group = parser.getgroup("tfjs-parity", "Keras vs TensorFlow.js parity")
    group.addoption("--parity-backends", default=backends,
                    help=f"comma-separated tfjs backends (default: {backends})")
    group.addoption("--parity-models", default=None, help="comma-separated zoo models to check (default: all)")
    group.addoption("--parity-report", default=None, metavar="DIR",
                    help="write parity.json, parity.md and parity.html into DIR")
    group.addoption("--parity-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                    help=f"per-check timeout in seconds (default: {DEFAULT_TIMEOUT_S:g})")
    group.addoption("--parity-profile", default=None, choices=tuple(PROFILES),
                    help="run the selected backends as a class of device does (mobile-webgl: webgl as on phones)")
    group.addoption("--parity-browsers", default="chromium", metavar="ENGINE[,ENGINE]",
                    help="browser engines to run every backend on: chromium, firefox, webkit (default: chromium)")
    group.addoption("--parity-tfjs", default="", metavar="V1,V2",
                    help="run every backend on each of these tfjs versions (installed with npm on first use)")
    group.addoption("--parity-tfjs-dir", default=None, metavar="DIR",
                    help="serve your app's own tfjs: its node_modules (default: the version tfjs-parity pins)")
    group.addoption("--parity-browser-endpoint", default=None, metavar="WS_URL[,WS_URL]|FILE",
                    help="run in a browser on a remote Playwright browser server instead of launching Chromium here "
                         "(see tfjs-parity --help); with several, each pytest-xdist worker takes one in turn")
    group.addoption("--parity-fixtures", default=None, metavar="DIR",
                    help="zoo fixture cache directory (default: fixtures/)")
    group.addoption("--parity-accept-file", default=None, metavar="FILE",
                    help="a TOML file of known issues you have decided to live with (see tfjs-parity --help): their "
                         "rows become xfail with your reason")
    group.addoption("--parity-serve-on", default=None, metavar="ADDRESS[:PORT]",
                    help="serve the page on this address for a remote browser, guarded by a secret (tfjs-parity "
                         "--serve-on)")
    group.addoption("--parity-bench-batch", type=int, default=None, metavar="N",
                    help="the batch the speed check times calls at (default: the reference's)")
    group.addoption("--parity-min-top1", default=None, metavar="PCT|VARIANT=PCT,...",
                    help="least top-1 agreement with Keras' labels of a classification output (see tfjs-parity --help)")
    group.addoption("--parity-upload-limit-mib", type=float, default=DEFAULT_UPLOAD_LIMIT_MIB,
                    help=f"largest model upload the server accepts from the page, in MiB (default: "
                         f"{DEFAULT_UPLOAD_LIMIT_MIB:g})")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: needs the parity server and headless Chromium")
    config.stash[RESULTS_KEY] = []
    _selected(config)  # a bad --parity-models/--parity-backends is a usage error before collection
    _endpoint(config)


def _selected(config: pytest.Config) -> tuple[list[str], list[str]]:
    """The zoo models and the backend ids (at each ``--parity-tfjs`` version, on each ``--parity-browsers`` engine)
    the options select."""
    from harness.browser.backends import with_profile, with_versions
    from harness.browser.engines import engine_names, with_engines
    from harness.errors import UsageError
    from harness.reference.zoo import ZOO, get_spec
    from harness.verdict.tolerances import predict_tolerance

    models = list(comma_list(config.getoption("parity_models") or ",".join(ZOO)))
    try:
        chosen = with_profile(comma_list(config.getoption("parity_backends")), config.getoption("parity_profile"),
                              "--parity-profile")
        backends = list(with_engines(with_versions(chosen, comma_list(config.getoption("parity_tfjs"))),
                                     engine_names(config.getoption("parity_browsers"), "--parity-browsers")))
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


def _serve_on(pytestconfig: pytest.Config) -> Any:
    """``--parity-serve-on`` as a ``ServeAddress`` (None: loopback); a bad one fails the run naming the option."""
    from harness.browser.server import parse_serve_on
    from harness.errors import UsageError

    text = pytestconfig.getoption("parity_serve_on")
    try:
        return parse_serve_on(text) if text else None
    except UsageError as error:
        raise pytest.UsageError(str(error).replace("--serve-on", "--parity-serve-on", 1)) from None


def _tfjs(config: pytest.Config) -> TfjsSelection:
    from harness.browser.tfjs_versions import check_backends, select_tfjs
    from harness.errors import UsageError

    tfjs_dir = config.getoption("parity_tfjs_dir")
    try:
        selection = select_tfjs(comma_list(config.getoption("parity_tfjs")), Path(tfjs_dir) if tfjs_dir else None)
        check_backends(selection, tuple(_selected(config)[1]))
    except UsageError as error:
        raise pytest.UsageError(f"tfjs-parity: {error}") from None
    return selection


def _endpoint(config: pytest.Config) -> BrowserEndpoint | None:
    """This worker's ``--parity-browser-endpoint``: xdist worker ``gwN`` takes endpoint N (modulo their number)."""
    from harness.browser.endpoints import parse_endpoints
    from harness.errors import UsageError

    raw = config.getoption("parity_browser_endpoint")
    if raw is None:
        return None
    try:
        endpoints = parse_endpoints(raw, "--parity-browser-endpoint")
    except UsageError as error:
        raise pytest.UsageError(f"tfjs-parity: {error}") from None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return endpoints[int(worker.removeprefix("gw") or 0) % len(endpoints)]


@pytest.fixture(scope="session")
def parity_session(pytestconfig: pytest.Config) -> Iterator[ParitySession]:
    """One server and one browser per test session (per xdist worker); with ``--parity-report DIR``, a failed
    check's console log, screenshot and trace go to ``DIR/evidence/``. Example:
    ``parity_session.run_check("predict", reference_model, "wasm")``."""
    from harness.browser.engines import engines_of
    from harness.run.session import EVIDENCE_DIRECTORY, ParitySession
    from harness.checks import CheckOptions
    from harness.verdict.agreement import parse_min_top1

    results = pytestconfig.stash[RESULTS_KEY]
    upload_limit = mib_to_bytes(pytestconfig.getoption("parity_upload_limit_mib"))
    report = pytestconfig.getoption("parity_report")
    with ParitySession(pytestconfig.getoption("parity_timeout"), on_result=results.append,
                       upload_limit=upload_limit, tfjs=_tfjs(pytestconfig),
                       evidence=Path(report) / EVIDENCE_DIRECTORY if report else None,
                       endpoint=_endpoint(pytestconfig), engines=engines_of(tuple(_selected(pytestconfig)[1])),
                       accept=_acceptances(pytestconfig),
                       options=CheckOptions(parse_min_top1(pytestconfig.getoption("parity_min_top1")),
                                            pytestconfig.getoption("parity_bench_batch")),
                       serve_on=_serve_on(pytestconfig)) as session:
        yield session
        references: dict[str, Any] = pytestconfig.stash.get(REFERENCES_KEY, {})
        pytestconfig.stash[ENVIRONMENT_KEY] = {**session.environment(), **references}


def _acceptances(config: pytest.Config) -> AcceptList:
    """The zoo's accepted list and ``--parity-accept-file``'s; a wrong file is a usage error naming it."""
    from harness.errors import UsageError
    from harness.verdict.acceptance import read_accept_file, zoo_acceptances

    given = config.getoption("parity_accept_file")
    try:
        accept = zoo_acceptances()
        return accept + read_accept_file(Path(given)) if given else accept
    except UsageError as error:
        raise pytest.UsageError(f"--parity-accept-file: {error}") from error


@pytest.fixture(scope="session")
def parity_check_args(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The defaults of every ``parity.check``: ``backends`` (``--parity-backends``) and ``checks`` (every check that
    applies to a user's model). Override it in your conftest.py, e.g.
    ``return {**parity_check_args, "checks": ("topology", "predict")}``."""
    from harness.checks import USER_CHECKS

    return {"backends": tuple(_selected(pytestconfig)[1]), "checks": USER_CHECKS}


@pytest.fixture(scope="session")
def parity(parity_session: ParitySession, parity_check_args: dict[str, Any],
           tmp_path_factory: pytest.TempPathFactory) -> ModelParity:
    """Checks your own models in the browser. Example: ``parity.check("model.h5").assert_passed()``."""
    from harness.options import reference_timeout
    from harness.run.model_check import ModelChecker

    work = tmp_path_factory.mktemp("parity")
    checker = ModelChecker(parity_session, work, reference_timeout(None, parity_session.timeout_s))
    report = _report_directory(parity_session)
    return ModelParity(parity_session, checker, parity_check_args, report or work)


def _report_directory(session: ParitySession) -> Path | None:
    """The ``--parity-report`` directory the session's evidence goes to, if any (failed checks' repros go there)."""
    return session.evidence.parent if session.evidence is not None else None


class ModelParity:
    """``check(model, ...)``: the checks of ``tfjs-parity check`` on one model, in the session's browser."""

    def __init__(self, session: ParitySession, checker: ModelChecker, defaults: dict[str, Any], out: Path) -> None:
        self._session = session
        self._checker = checker
        self._out = out  # where a failed check's repro goes (repro/MODEL/BACKEND/CHECK)
        self._defaults = defaults

    def check(self, model: str | Path, *, name: str | None = None, backends: Sequence[str] | None = None,
              checks: Sequence[str] | None = None, data: str | Path | None = None,
              train: dict[str, Any] | str | Path | None = None, inputs: Sequence[str | Path] = (),
              accept: str | Sequence[str] | dict[str, str] = (), accept_file: str | Path | None = None,
              **options: Any) -> ParityRows:
        """Check ``model`` (a Keras .h5, a SavedModel directory, a converted model.json...) on every backend and
        return its rows. ``name`` labels the rows (default: the file's stem); ``data`` is an ``.npz`` of training
        data, ``train`` the training fields of ``--train`` (a dict or a JSON file), ``inputs`` ``.npy`` files, one
        per model input; ``accept`` known issue ids you live with (``{id: reason}``, or ids: ``"a,b"`` or a list)
        and ``accept_file`` an accept file (``tfjs-parity check --accept-file``): their rows are ``xfail``; ``options``
        are ``expected`` (``.npy`` reference outputs of a converted model),
        ``custom_objects``, ``custom_js``, ``repair``, ``via_savedmodel``, ``route`` (an ONNX or PyTorch model's
        route, ``tfjs-parity check --route``), and for generated inputs ``batch``,
        ``value_range``, ``seed`` and ``shapes`` (as the options of ``tfjs-parity check``)."""
        __tracebackhide__ = True
        from harness.errors import UsageError
        from harness.explain import explain, needs_explaining
        from harness.run.engine import run_or_skip
        from harness.run.model_check import model_options, validate

        settings = {**self._defaults, **options}
        settings["backends"] = tuple(backends or settings["backends"])
        settings["checks"] = tuple(checks or settings["checks"])
        try:
            how = model_options(data=data, train=train, inputs=inputs, **settings)
            models = validate((Path(model),), how, (name,) if name else (), taken=self._checker.names)
            accepted = _accepted(accept, accept_file)
        except UsageError as error:
            pytest.fail(f"tfjs-parity: parity.check({str(model)!r}): {error}", pytrace=False)
        references, rows, _ = self._checker.prepare(models, how)
        rows += [run_or_skip(self._session, reference, backend, check)
                 for reference in references.values() for backend in how.backends for check in how.checks]
        for row in rows:
            if needs_explaining(row) and row.model in references:
                explain(self._session, row, references[row.model], how.backends, rows, self._out)
        return ParityRows(accepted.apply(row) for row in rows)


def _accepted(accept: str | Sequence[str] | dict[str, str], accept_file: str | Path | None) -> AcceptList:
    """``parity.check``'s ``accept=`` and ``accept_file=`` as acceptances; a ``UsageError`` names what is wrong."""
    from harness.verdict.acceptance import AcceptList, accepted_ids, read_accept_file

    given = AcceptList()
    if isinstance(accept, dict):
        for issue_id, reason in accept.items():
            given += accepted_ids(issue_id, "accept=", reason)
    else:
        given += accepted_ids(accept if isinstance(accept, str) else ",".join(accept), "accept=")
    return given + read_accept_file(Path(accept_file)) if accept_file is not None else given


class ParityRows(list["CheckResult"]):
    """The rows of one ``parity.check``: ``assert_passed()`` fails the test with the rows' own messages."""

    def assert_passed(self) -> None:
        """Fail the test if a row failed or errored (every such row's message); else ``xfail`` if a row is a known
        tfjs issue; else ``skip`` if no check could run; else pass."""
        __tracebackhide__ = True
        assert_passed(self)


def assert_passed(result: CheckResult | Iterable[CheckResult]) -> None:
    """Fail the test with the checks' own messages unless they passed; a known upstream bug (``xfail``) and a
    check tfjs cannot run here (``skip``) are reported as such (a skip only when no check ran)."""
    __tracebackhide__ = True
    from harness.results import CheckResult

    rows = [result] if isinstance(result, CheckResult) else list(result)
    if not rows:
        pytest.fail("no check ran", pytrace=False)
    failed = [r for r in rows if r.status in ("fail", "error")]
    if failed:
        pytest.fail("\n\n".join(_described(r) for r in failed), pytrace=False)
    xfailed = [r for r in rows if r.status == "xfail"]
    if xfailed:
        pytest.xfail("; ".join(_described(r) for r in xfailed))
    if all(r.status == "skip" for r in rows):
        pytest.skip("; ".join(_described(r) for r in rows))


def _described(row: CheckResult) -> str:
    return f"[{row.status}] {row.model} / {row.check} / {row.backend}: {row.message}"


@pytest.fixture(scope="session")
def parity_references(pytestconfig: pytest.Config) -> dict[str, ReferenceModel]:
    """The selected zoo models' references, built once and cached. Example: ``parity_references["mlp"]``."""
    from harness.reference.cache import DEFAULT_FIXTURES_DIR, ensure_references
    from harness.run.session import reference_environment

    models, _ = _selected(pytestconfig)
    root = pytestconfig.getoption("parity_fixtures")
    references = ensure_references(models, Path(root) if root else DEFAULT_FIXTURES_DIR)
    pytestconfig.stash[REFERENCES_KEY] = reference_environment(references)
    return references


@pytest.fixture
def reference_model(parity_references: dict[str, ReferenceModel], parity_model: str) -> ReferenceModel:
    """The reference of the zoo model under test. Example: ``def test_x(reference_model): ...``."""
    return parity_references[parity_model]


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
