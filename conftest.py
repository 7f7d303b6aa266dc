"""Repository-level pytest configuration. The harness's own plugin loads through its entry point."""

import shutil

import pytest

pytest_plugins = ["pytester"]

# Fixtures that start a browser, and fixtures that build the zoo's references with Keras: a test asking for one
# carries the ``browser`` or ``keras`` marker without saying so (``make test-fast`` leaves both out).
BROWSER_FIXTURES = {"parity_session", "parity"}
KERAS_FIXTURES = {"parity_references", "reference_model"}
# Chromium's smoke test (Firefox's and WebKit's are marked where they are parametrized).
CHROMIUM_SMOKE = "tests/test_teeth.py::test_predict_fails_on_a_weight_perturbed_by_1e_3[cpu]"


def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if fixtures & KERAS_FIXTURES:
            item.add_marker(pytest.mark.keras)
        if item.nodeid == CHROMIUM_SMOKE:
            item.add_marker(pytest.mark.smoke)


def run_cli(argv):
    """``tfjs-parity ARGV`` in-process, on a thread of its own: once a test has used ``parity_session``,
    this thread's asyncio loop belongs to that session's Playwright, and a run needs its own."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.cli import main

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(main, argv).result()


def small_keras_model(seed, inputs=4, hidden=6, outputs=3):
    """A small tanh MLP built with tf_keras (TensorFlow set up as the harness sets it up), seeded."""
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(hidden, activation="tanh"),
                             keras.layers.Dense(outputs)])


def predict_with_a_perturbed_weight(session, reference, backend, by=1e-3):
    """The ``predict`` row of ``reference`` on ``backend`` with column 3 of its last bias changed by ``by`` in the
    browser (against the unchanged Keras reference)."""
    from harness.browser.page import PageOperation
    from harness.checks.inference import compare_predictions

    bias = next(w for w in reversed(reference.weights) if w.name.endswith("/bias"))

    def perturbed_predict(context):
        model_id = context.page.call(PageOperation.LOAD, context.model_url)
        context.page.call(PageOperation.PERTURB_WEIGHT, model_id, bias.name, 3, by)
        return compare_predictions(context, model_id)

    return session.run_check("predict", reference, backend, perturbed_predict)


@pytest.fixture
def make_damaged_reference(tmp_path):
    """A copy of a reference directory with ``damage(directory)`` done to it, loaded as a reference.
    Example: ``make_damaged_reference(ref, lambda d: (d / "model.json").write_text("{"))``."""
    from harness.reference.directory import load_reference

    def make(reference, damage):
        directory = tmp_path / f"damaged-{reference.name}"
        shutil.copytree(reference.directory, directory)
        damage(directory)
        return load_reference(directory)

    return make


# tfjs' own limit a recurrent graph model meets on wasm: the runs of converted models accept it (known_issues).
RECURRENT_ON_WASM = "tfjs-wasm-fused-matmul-bias"


def assert_graph_model_passes(row, recurrent=False):
    """A ``graph-model`` row of a converted ONNX or PyTorch model passed; for a recurrent model on wasm, the accepted
    fail of tfjs' own limit (its ``_FusedMatMul`` kernel takes a rank-1 bias only: ``RECURRENT_ON_WASM``)."""
    if recurrent and row["backend"] == "wasm":
        assert row["status"] == "xfail" and f"[{RECURRENT_ON_WASM}]" in row["message"], row
        assert "'_FusedMatMul' kernel takes only a rank-1 bias" in row["message"], row
    else:
        assert row["status"] == "pass", row["message"]


# Appended to a copy of tf.min.js: each fault re-registers one kernel of one backend so that its output is
# multiplied by `scale` (through that backend's own Multiply kernel), as a patched or badly pinned tfjs build would;
# with `attrs`, only the calls with those attributes (a fused kernel's activation, for example).
KERNEL_FAULT_JS = """
;(function (faults) {
  for (const { kernel, backend, scale, throws, attrs = {} } of faults) {
    const original = tf.getKernel(kernel, backend);
    if (!original) throw new Error(`planted fault: no kernel ${kernel} on ${backend}`);
    tf.unregisterKernel(kernel, backend);
    tf.registerKernel({ ...original, kernelFunc: args => {
      const out = original.kernelFunc(args);
      if (Object.entries(attrs).some(([key, value]) => (args.attrs || {})[key] !== value)) return out;
      if (throws) {
        args.backend.disposeIntermediateTensorInfo(out);
        throw new Error(throws);
      }
      const factor = args.backend.makeTensorInfo([], 'float32', new Float32Array([scale]));
      const multiply = tf.getKernel('Multiply', backend).kernelFunc;
      const scaled = multiply({ inputs: { a: out, b: factor }, backend: args.backend });
      args.backend.disposeIntermediateTensorInfo(out);
      args.backend.disposeIntermediateTensorInfo(factor);
      return scaled;
    } });
  }
})(%s);
"""


def faulty_tfjs(directory, faults):
    """A copy of the pinned tfjs (``--tfjs-dir DIRECTORY``: the bundles the page loads and their package.json files)
    whose tf.min.js ends with planted kernel faults: ``[{"kernel": "Tanh", "backend": "cpu", "scale": 1.01}]`` (or
    ``"throws": "message"``: the kernel throws that), and ``"attrs": {"activation": "relu"}`` to plant it only in the
    calls with those attributes."""
    import json
    from pathlib import Path

    from harness.browser.web_assets import BUNDLE_FILES, web_dir

    source = web_dir() / "node_modules" / "@tensorflow"
    for package in ("tfjs", "tfjs-backend-wasm"):
        (directory / "@tensorflow" / package / "dist").mkdir(parents=True)
        shutil.copy(source / package / "package.json", directory / "@tensorflow" / package / "package.json")
        for name in BUNDLE_FILES[package]:
            shutil.copy(source / package / "dist" / name, directory / "@tensorflow" / package / "dist" / name)
    bundle = Path(directory / "@tensorflow" / "tfjs" / "dist" / "tf.min.js")
    bundle.write_text(bundle.read_text() + KERNEL_FAULT_JS % json.dumps(faults))
    return directory
