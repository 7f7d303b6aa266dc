"""Truthful statuses: what tfjs cannot run is a ``fail`` naming its known issue, the harness' own breakage is an
``error``, and what a user has decided to live with is accepted explicitly (``--accept``, an accept file, the pytest
API's ``accept=``), with stale acceptances reported."""

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli
from harness import cli
from harness.browser.page import PageOperation
from harness.browser.tensors import encode_tensor
from harness.errors import UsageError
from harness.reference.conversions import graph_entry
from harness.results import CheckResult
from harness.verdict.acceptance import (
    ZOO_ACCEPT_FILE,
    Acceptance,
    AcceptList,
    accepted_ids,
    read_accept_file,
    zoo_acceptances,
)
from harness.verdict.known_issues import KNOWN_ISSUES, TFJS_MULTI_OUTPUT_EVALUATION, failed_with


def known_fail(issue_id, model="m", backend="wasm", check="fit", message="tfjs cannot run this"):
    row = CheckResult(model=model, backend=backend, check=check, status="fail", message=message)
    return failed_with(row, KNOWN_ISSUES[issue_id], "here")


def accept_file(tmp_path, text):
    path = tmp_path / "accepted.toml"
    path.write_text(text)
    return path


def test_an_accept_file_gives_each_id_a_reason_and_optional_scopes(tmp_path):
    accept = read_accept_file(accept_file(tmp_path, """
[accept]
tfjs-multi-output-evaluation = "we read losses per output"

[accept.tfjs-missing-kernel]
reason = "wasm serves inference only"
backends = ["wasm"]
checks = ["fit"]
match = "Conv2DBackpropFilter"
"""))
    first, second = accept.entries
    assert (first.id, first.reason, first.backends) == ("tfjs-multi-output-evaluation", "we read losses per output", ())
    assert (second.backends, second.checks, second.match) == (("wasm",), ("fit",), "Conv2DBackpropFilter")
    assert second.source == str(tmp_path / "accepted.toml")


@pytest.mark.parametrize(("text", "problem"), [
    ("[accept\n", "not valid TOML"),
    ("[accept]\ntfjs-missng-kernel = 'x'\n",
     "no known issue 'tfjs-missng-kernel' (did you mean 'tfjs-missing-kernel'?)"),
    ("[accept.tfjs-missing-kernel]\nbackends = ['wasm']\n", "[accept] tfjs-missing-kernel: needs a reason"),
    ("[accept]\ntfjs-missing-kernel = ''\n", "needs a reason"),
    ("[accept.tfjs-missing-kernel]\nreason = 'x'\nbackend = ['wasm']\n", "unknown field 'backend'"),
    ("[accept.tfjs-missing-kernel]\nreason = 'x'\nbackends = 'wasm'\n", "backends must be a list of names"),
    ("[accept]\ntfjs-missing-kernel = 3\n", "give a reason (a string)"),
    ("[ignore]\nx = 1\n", "needs one [accept] table of known issue ids (unknown field 'ignore')"),
])
def test_a_wrong_accept_file_is_refused_naming_the_file_and_field(tmp_path, text, problem):
    path = accept_file(tmp_path, text)
    with pytest.raises(UsageError) as refused:
        read_accept_file(path)
    assert str(path) in str(refused.value) and problem in str(refused.value)


def test_an_unknown_id_on_the_command_line_is_refused_naming_the_option():
    with pytest.raises(UsageError, match="--accept: no known issue 'tfjs-threwn'.*did you mean 'tfjs-threw'"):
        accepted_ids("tfjs-missing-kernel,tfjs-threwn")


def test_only_a_failure_explained_by_an_accepted_issue_in_scope_becomes_xfail():
    accept = AcceptList([Acceptance("tfjs-missing-kernel", "inference only on wasm", "a.toml", backends=("wasm",),
                                    match="Conv2D")])
    covered = accept.apply(known_fail("tfjs-missing-kernel", backend="firefox:wasm:1thread", message="no Conv2D"))
    assert covered.status == "xfail" and covered.details["accepted"] == {"reason": "inference only on wasm",
                                                                         "source": "a.toml"}
    assert covered.message.startswith("accepted (a.toml, inference only on wasm): known tfjs limitation "
                                      "[tfjs-missing-kernel]")
    assert accept.apply(known_fail("tfjs-missing-kernel", backend="webgl", message="Conv2D")).status == "fail"
    assert accept.apply(known_fail("tfjs-missing-kernel", message="UnsortedSegmentSum")).status == "fail"
    assert accept.apply(known_fail("tfjs-threw", message="Conv2D")).status == "fail"
    unexplained = CheckResult(model="m", backend="wasm", check="fit", status="fail", message="Conv2D: 0.3 off")
    assert accept.apply(unexplained).status == "fail"


def test_the_report_lists_what_each_acceptance_covered_and_which_are_stale():
    accept = AcceptList([Acceptance("tfjs-missing-kernel", "r1", "--accept"),
                         Acceptance(TFJS_MULTI_OUTPUT_EVALUATION.id, "r2", "f.toml", models=("m",)),
                         Acceptance("webkit-worker-no-webgl", "r3", "f.toml", backends=("webkit",))])
    rows = [accept.apply(known_fail("tfjs-missing-kernel")), accept.apply(known_fail("tfjs-missing-kernel")),
            CheckResult(model="m", backend="cpu", check="evaluate", status="pass")]
    block = accept.block(rows)
    assert [(e["id"], e["rows"]) for e in block["accepted"]] == [("tfjs-missing-kernel", 2)]
    assert [e["id"] for e in block["stale"]] == ["tfjs-multi-output-evaluation"]
    assert [e["id"] for e in block["outside_this_run"]] == ["webkit-worker-no-webgl"]
    assert AcceptList().block(rows) is None


def test_the_zoos_accepted_list_reads_and_names_only_known_issues():
    assert {entry.id for entry in zoo_acceptances().entries} <= set(KNOWN_ISSUES)
    assert ZOO_ACCEPT_FILE.is_file()


def test_a_graph_signature_keyed_by_tensor_names_is_read_through_them():
    signature = {"inputs": {"input_7:0": {"name": "input_7:0"}, "input_8:0": {"name": "input_8:0"}},
                 "outputs": {"Identity:0": {"name": "Identity:0"}, "Identity_1:0": {"name": "Identity_1:0"}}}
    names = {"inputs": {"input_7": "input_7:0", "input_8": "input_8:0"},
             "outputs": {"out_a": "Identity:0", "out_b": "Identity_1:0"}}
    entry = graph_entry(signature, ["input_7", "input_8"], ["out_b", "out_a"], names)
    assert entry["outputs"] == [{"key": "out_b", "node": "Identity_1:0"}, {"key": "out_a", "node": "Identity:0"}]
    with pytest.raises(ValueError, match="no input called 'input_7'"):
        graph_entry(signature, ["input_7"], ["out_a"])


@pytest.mark.keras
def test_a_conversion_failure_says_whether_the_converter_or_the_harness_raised(tmp_path):
    from harness.reference.conversions import conversion_failure
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    from tensorflowjs.converters import convert_tf_saved_model

    try:
        convert_tf_saved_model(str(tmp_path / "no-such-model"), str(tmp_path / "out"))
    except Exception as error:  # noqa: BLE001 - whatever TensorFlow raises for it
        assert conversion_failure("graph", error)["by"] == "converter"
    try:
        graph_entry({"inputs": {}}, ["x"], [])
    except ValueError as error:
        failure = conversion_failure("graph", error)
        assert failure == {"by": "harness", "message": "the graph conversion failed: ValueError: the serving "
                                                       "signature has no input called 'x' (it has [])"}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A compiled Conv2D classifier (tfjs-backend-wasm cannot train it) and a two-input, two-output functional model
    whose inputs and outputs share their shapes, named as Keras names them later in a session (input_7...)."""
    from harness.reference.keras_env import configure_tensorflow_environment

    configure_tensorflow_environment()
    import tf_keras as keras

    root = tmp_path_factory.mktemp("acceptance-models")
    keras.utils.set_random_seed(3)
    conv = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    conv.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy", metrics=["accuracy"])
    conv.save(root / "conv.h5")
    keras.backend.clear_session()
    for _ in range(6):
        keras.Input((4,))
    first, second = keras.Input((4,)), keras.Input((4,))
    joined = keras.layers.Concatenate()([first, second])
    two = keras.Model([first, second], [keras.layers.Dense(3, name="out_a")(joined),
                                        keras.layers.Dense(3, name="out_b")(joined)])
    assert [t.name.split(":")[0] for t in two.inputs] == ["input_7", "input_8"]
    two.save(root / "two_inputs.h5")
    return root


@pytest.mark.browser
@pytest.mark.keras
def test_a_model_tfjs_cannot_train_fails_naming_the_issue_until_accepted(models, tmp_path, capsys):
    args = ["check", str(models / "conv.h5"), "--backends", "cpu,wasm", "--checks", "fit", "-q"]
    assert run_cli([*args, "--out", str(tmp_path / "plain")]) == cli.EXIT_FAIL
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "plain" / "parity.json").read_text())
    rows = {r["backend"]: r for r in report["results"] if r["check"] == "fit"}
    assert rows["cpu"]["status"] == "pass"
    assert rows["wasm"]["status"] == "fail" and rows["wasm"]["details"]["known_issue"]["id"] == "tfjs-missing-kernel"
    assert "known tfjs limitation [tfjs-missing-kernel]: tfjs cannot run this here: backend 'wasm' has no " \
           "'Conv2DBackpropFilter' kernel" in printed
    assert "conv   pass" in printed and "fail" in printed.splitlines()[1]  # the matrix' wasm cell

    accepted = accept_file(tmp_path, """
[accept.tfjs-missing-kernel]
reason = "the app trains on webgl; wasm serves inference"
backends = ["wasm"]

[accept.tfjs-multi-output-evaluation]
reason = "an old acceptance"
""")
    assert run_cli([*args, "--out", str(tmp_path / "accepted"), "--accept-file", str(accepted)]) == cli.EXIT_PASS
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "accepted" / "parity.json").read_text())
    wasm = next(r for r in report["results"] if r["backend"] == "wasm" and r["check"] == "fit")
    assert wasm["status"] == "xfail" and wasm["details"]["accepted"]["source"] == str(accepted)
    assert "[xfail] conv / fit / wasm: accepted (" + str(accepted) in printed
    assert f"STALE acceptance [tfjs-multi-output-evaluation] ({accepted})" in printed
    assert [e["id"] for e in report["acceptance"]["stale"]] == ["tfjs-multi-output-evaluation"]


@pytest.mark.browser
@pytest.mark.keras
def test_the_pytest_api_accepts_by_id_with_a_reason(models, parity):
    plain = parity.check(models / "conv.h5", name="conv_plain", backends=("wasm",), checks=("fit",))
    assert [r.status for r in plain] == ["pass", "fail"]  # preflight, fit
    accepted = parity.check(models / "conv.h5", name="conv_accepted", backends=("wasm",), checks=("fit",),
                            accept={"tfjs-missing-kernel": "inference only on wasm"})
    assert accepted[-1].status == "xfail" and accepted[-1].details["accepted"]["reason"] == "inference only on wasm"


@pytest.mark.parametrize("backend", ["cpu", "firefox:cpu", "webkit:cpu"])
def test_the_page_says_whether_tfjs_or_the_harness_threw(parity_session, parity_references, backend):
    reference = parity_references["mlp"]

    def ours(context):
        context.page.call(PageOperation.TOPOLOGY, 12345)  # the page's own code refuses an unknown model id

    def tfjs(context):
        model = context.page.model(context.model_url)
        wrong = np.zeros((2, 5), dtype=np.float32)  # the mlp takes 4 features
        context.page.call(PageOperation.PREDICT, model, [encode_tensor(wrong)], 1, 0)

    harness_row = parity_session.run_check("topology", reference, backend, ours)
    tfjs_row = parity_session.run_check("predict", reference, backend, tfjs)
    parity_session.discard_page(backend)
    assert harness_row.status == "error", harness_row.message
    assert "no loaded model with id 12345 (thrown in the harness' page code, /web/models.js)" in harness_row.message
    assert tfjs_row.status == "fail" and tfjs_row.details["thrown_in"] == "tfjs", (tfjs_row.message, tfjs_row.details)
    assert tfjs_row.details["known_issue"]["id"] == "tfjs-threw" and "/tfjs/" in tfjs_row.details["frame"]


@pytest.mark.browser
@pytest.mark.keras
def test_a_two_input_model_with_same_shaped_outputs_runs_as_a_graph_model(models, tmp_path, parity_session):
    from harness.reference.directory import load_reference

    status = run_cli(["check", str(models / "two_inputs.h5"), "--backends", "cpu", "--checks", "graph-model",
                      "--out", str(tmp_path / "out"), "-q"])
    report = json.loads((tmp_path / "out" / "parity.json").read_text())
    row = next(r for r in report["results"] if r["check"] == "graph-model")
    assert status == cli.EXIT_PASS and row["status"] == "pass", row["message"]
    # The outputs are told apart by node: swapping them in the manifest fails.
    directory = tmp_path / "swapped"
    shutil.copytree(tmp_path / "out" / "models" / "two_inputs", directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    outputs = manifest["conversions"]["graph"]["outputs"]
    outputs[0]["node"], outputs[1]["node"] = outputs[1]["node"], outputs[0]["node"]
    (directory / "manifest.json").write_text(json.dumps(manifest))
    swapped = parity_session.run_check("graph-model", load_reference(directory), "cpu")
    assert swapped.status == "fail", swapped.message
